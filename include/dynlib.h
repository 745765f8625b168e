/* Shared libraries opened with dlopen on first use rather than linked: their code, and that
 * of what they link, is mapped only in a node that needs them (peer.c: libcurl, tlslib.c:
 * GnuTLS). */
#ifndef FILESERVER_DYNLIB_H
#define FILESERVER_DYNLIB_H

#include <stdbool.h>
#include <stddef.h>

/* dlopen(soname) with every symbol bound now and kept local; NULL (logged as `who`) when the
 * library cannot be loaded. */
void *dynlib_open(const char *soname, const char *who);
/* Stores the address of `name` into the function pointer at slot (size: its size); false
 * (logged) when the library lacks it. */
bool dynlib_sym(void *lib, const char *soname, const char *who, const char *name, void *slot,
                size_t size);

/* For a library found lacking: nothing of it has been called. */
void dynlib_close(void *lib);

#endif
