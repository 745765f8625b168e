/* The GnuTLS functions the static libmicrohttpd calls, each forwarding to the library that
 * tlslib_load opens with dlopen, so that only a node serving HTTPS maps GnuTLS (about
 * 2.3 MiB resident with its dependencies). The only file that includes GnuTLS's headers;
 * every definition below is checked against their declaration by the compiler. */
#include "tlslib.h"

#ifdef TLSLIB_LINKED

int tlslib_load(void)
{
    return 0;
}

#else

#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "dynlib.h"
#include "log.h"

#define TLSLIB_SONAME "libgnutls.so.30"
#define FAILED GNUTLS_E_INTERNAL_ERROR

/* X(return type, name, (parameters), (arguments), result when GnuTLS is not loaded);
 * V(...) for those returning nothing. gnutls_global_init and _deinit are apart: libmicrohttpd
 * calls them from its constructor and destructor, in every process. */
#define TLSLIB_FUNCS(X, V)                                                                   \
    X(int, gnutls_alpn_set_protocols,                                                        \
      (gnutls_session_t s, const gnutls_datum_t *p, unsigned n, unsigned f), (s, p, n, f),    \
      FAILED)                                                                                \
    X(int, gnutls_bye, (gnutls_session_t s, gnutls_close_request_t how), (s, how), FAILED)    \
    X(int, gnutls_certificate_allocate_credentials, (gnutls_certificate_credentials_t * c),  \
      (c), FAILED)                                                                           \
    V(gnutls_certificate_free_credentials, (gnutls_certificate_credentials_t c), (c))        \
    V(gnutls_certificate_server_set_request,                                                 \
      (gnutls_session_t s, gnutls_certificate_request_t r), (s, r))                          \
    V(gnutls_certificate_set_dh_params,                                                      \
      (gnutls_certificate_credentials_t c, gnutls_dh_params_t d), (c, d))                     \
    V(gnutls_certificate_set_retrieve_function2,                                             \
      (gnutls_certificate_credentials_t c, gnutls_certificate_retrieve_function2 * f), (c, f)) \
    V(gnutls_certificate_set_retrieve_function3,                                             \
      (gnutls_certificate_credentials_t c, gnutls_certificate_retrieve_function3 * f), (c, f)) \
    X(int, gnutls_certificate_set_x509_key_mem,                                              \
      (gnutls_certificate_credentials_t c, const gnutls_datum_t *cert,                       \
       const gnutls_datum_t *key, gnutls_x509_crt_fmt_t t),                                  \
      (c, cert, key, t), FAILED)                                                             \
    X(int, gnutls_certificate_set_x509_key_mem2,                                             \
      (gnutls_certificate_credentials_t c, const gnutls_datum_t *cert,                       \
       const gnutls_datum_t *key, gnutls_x509_crt_fmt_t t, const char *pass, unsigned f),    \
      (c, cert, key, t, pass, f), FAILED)                                                    \
    X(int, gnutls_certificate_set_x509_trust_mem,                                            \
      (gnutls_certificate_credentials_t c, const gnutls_datum_t *ca, gnutls_x509_crt_fmt_t t), \
      (c, ca, t), FAILED)                                                                    \
    X(gnutls_cipher_algorithm_t, gnutls_cipher_get, (gnutls_session_t s), (s),               \
      GNUTLS_CIPHER_UNKNOWN)                                                                 \
    X(int, gnutls_credentials_set,                                                           \
      (gnutls_session_t s, gnutls_credentials_type_t t, void *c), (s, t, c), FAILED)         \
    V(gnutls_deinit, (gnutls_session_t s), (s))                                              \
    V(gnutls_dh_params_deinit, (gnutls_dh_params_t d), (d))                                  \
    X(int, gnutls_dh_params_import_pkcs3,                                                    \
      (gnutls_dh_params_t d, const gnutls_datum_t *p, gnutls_x509_crt_fmt_t f), (d, p, f),    \
      FAILED)                                                                                \
    X(int, gnutls_dh_params_init, (gnutls_dh_params_t * d), (d), FAILED)                     \
    X(int, gnutls_handshake, (gnutls_session_t s), (s), FAILED)                              \
    X(int, gnutls_init, (gnutls_session_t * s, unsigned int f), (s, f), FAILED)              \
    V(gnutls_priority_deinit, (gnutls_priority_t p), (p))                                    \
    X(int, gnutls_priority_init, (gnutls_priority_t * p, const char *s, const char **e),     \
      (p, s, e), FAILED)                                                                     \
    X(int, gnutls_priority_set, (gnutls_session_t s, gnutls_priority_t p), (s, p), FAILED)   \
    X(gnutls_protocol_t, gnutls_protocol_get_version, (gnutls_session_t s), (s),             \
      GNUTLS_VERSION_UNKNOWN)                                                                \
    X(int, gnutls_psk_allocate_server_credentials, (gnutls_psk_server_credentials_t * c),    \
      (c), FAILED)                                                                           \
    V(gnutls_psk_free_server_credentials, (gnutls_psk_server_credentials_t c), (c))          \
    V(gnutls_psk_set_server_credentials_function,                                            \
      (gnutls_psk_server_credentials_t c, gnutls_psk_server_credentials_function * f), (c, f)) \
    X(size_t, gnutls_record_check_pending, (gnutls_session_t s), (s), 0)                     \
    X(int, gnutls_record_get_direction, (gnutls_session_t s), (s), 0)                        \
    X(ssize_t, gnutls_record_recv, (gnutls_session_t s, void *d, size_t n), (s, d, n), FAILED) \
    X(ssize_t, gnutls_record_send, (gnutls_session_t s, const void *d, size_t n), (s, d, n),  \
      FAILED)                                                                                \
    X(void *, gnutls_session_get_ptr, (gnutls_session_t s), (s), NULL)                       \
    V(gnutls_session_set_ptr, (gnutls_session_t s, void *p), (s, p))                         \
    X(const char *, gnutls_strerror, (int e), (e), "GnuTLS is not loaded")                  \
    V(gnutls_transport_set_int2, (gnutls_session_t s, int r, int w), (s, r, w))

#define FIELD_X(ret, name, params, args, fail) __typeof__(&name) name;
#define FIELD_V(name, params, args) __typeof__(&name) name;
static struct {
    TLSLIB_FUNCS(FIELD_X, FIELD_V)
    __typeof__(&gnutls_global_init) gnutls_global_init;
    __typeof__(&gnutls_global_deinit) gnutls_global_deinit;
} real;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static atomic_bool loaded;

#define SYM_X(ret, name, params, args, fail) SYM_V(name, params, args)
#define SYM_V(name, params, args) {#name, &real.name, sizeof(real.name)},

static void load(void)
{
    const struct dynlib_sym syms[] = {
        TLSLIB_FUNCS(SYM_X, SYM_V)
        SYM_V(gnutls_global_init, (void), ())
        SYM_V(gnutls_global_deinit, (void), ())
    };
    if (!dynlib_load(TLSLIB_SONAME, "tls", syms, sizeof syms / sizeof syms[0]))
        return;
    int rc = real.gnutls_global_init();
    if (rc < 0) {
        log_error("tls", "gnutls_global_init: %s", real.gnutls_strerror(rc));
        return; /* stays open: the attempt may have left state behind */
    }
    atomic_store(&loaded, true);
}

int tlslib_load(void)
{
    pthread_once(&load_once, load);
    return atomic_load(&loaded) ? 0 : -ENOENT;
}

#define DEFINE_X(ret, name, params, args, fail)                                               \
    ret name params                                                                           \
    {                                                                                         \
        return tlslib_load() == 0 ? real.name args : (fail);                                  \
    }
#define DEFINE_V(name, params, args)                                                          \
    void name params                                                                          \
    {                                                                                         \
        if (tlslib_load() == 0)                                                               \
            real.name args;                                                                   \
    }
TLSLIB_FUNCS(DEFINE_X, DEFINE_V)

/* libmicrohttpd's constructor initialises GnuTLS in every process; the real initialisation
 * waits for tlslib_load, and the destructor's deinit undoes only that. */
int gnutls_global_init(void)
{
    return 0;
}

void gnutls_global_deinit(void)
{
    if (atomic_load(&loaded))
        real.gnutls_global_deinit();
}

/* A variable in GnuTLS's interface: what libmicrohttpd allocates a PSK key with, for
 * GnuTLS to free with its gnutls_free, which is free() unless an application changes it. */
gnutls_alloc_function gnutls_malloc = malloc;

#endif
