/* GnuTLS for libmicrohttpd's HTTPS, loaded only by a node that serves HTTPS. With the
 * static libmicrohttpd (STATIC_DEPS), tlslib.c defines the GnuTLS functions it calls and
 * forwards them to the library opened with dlopen; a node without enable_https maps none of
 * GnuTLS and what it links (p11-kit, nettle, gmp, ...). */
#ifndef FILESERVER_TLSLIB_H
#define FILESERVER_TLSLIB_H

/* Loads GnuTLS once per process, before a TLS daemon starts: 0, or -ENOENT (logged) when it
 * cannot be loaded. 0 at once where GnuTLS is linked. */
int tlslib_load(void);

#endif
