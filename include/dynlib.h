/* Shared libraries opened with dlopen on first use rather than linked: their code, and that
 * of what they link, is mapped only in a node that needs them (peer.c: libcurl, tlslib.c:
 * GnuTLS). */
#ifndef FILESERVER_DYNLIB_H
#define FILESERVER_DYNLIB_H

#include <stdbool.h>
#include <stddef.h>

/* A function the library must have: its name, and the function pointer to store it in. */
struct dynlib_sym {
    const char *name;
    void *slot;  /* the address of a function pointer */
    size_t size; /* its size */
};

/* dlopen(soname), every symbol bound now and kept local, then each of syms resolved into its
 * slot. The handle, or NULL (logged as `who`, the library closed again) when the library
 * cannot be loaded or lacks one of them. */
void *dynlib_load(const char *soname, const char *who, const struct dynlib_sym *syms,
                  size_t nsyms);

#endif
