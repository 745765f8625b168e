/* dlopen and dlsym with the error reporting every on-demand library needs; see dynlib.h. */
#include "dynlib.h"

#include <dlfcn.h>
#include <string.h>

#include "log.h"

static bool resolve(void *lib, const char *soname, const char *who,
                    const struct dynlib_sym *s)
{
    void *sym = dlsym(lib, s->name);
    if (!sym || s->size != sizeof(sym)) {
        log_error(who, "%s: no %s", soname, s->name);
        return false;
    }
    memcpy(s->slot, &sym, s->size); /* POSIX: a function's address converts through void * */
    return true;
}

void *dynlib_load(const char *soname, const char *who, const struct dynlib_sym *syms,
                  size_t nsyms)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        log_error(who, "cannot load %s: %s", soname, dlerror());
        return NULL;
    }
    for (size_t i = 0; i < nsyms; i++) {
        if (!resolve(lib, soname, who, &syms[i])) {
            dlclose(lib); /* nothing of it has been called */
            return NULL;
        }
    }
    return lib;
}
