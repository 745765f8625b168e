/* dlopen and dlsym with the error reporting every on-demand library needs; see dynlib.h. */
#include "dynlib.h"

#include <dlfcn.h>
#include <string.h>

#include "log.h"

void *dynlib_open(const char *soname, const char *who)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        log_error(who, "cannot load %s: %s", soname, dlerror());
    return lib;
}

bool dynlib_sym(void *lib, const char *soname, const char *who, const char *name, void *slot,
                size_t size)
{
    void *sym = dlsym(lib, name);
    if (!sym || size != sizeof(sym)) {
        log_error(who, "%s: no %s", soname, name);
        return false;
    }
    memcpy(slot, &sym, size); /* POSIX: a function's address converts through void * */
    return true;
}

void dynlib_close(void *lib)
{
    if (lib)
        dlclose(lib);
}
