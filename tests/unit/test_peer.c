/* Unit tests for peer: the client talks to a tiny HTTP server run by this test on 127.0.0.1
 * (a thread per connection, canned replies), which records what it received so that the
 * signature can be checked with peersig_verify exactly as the receiving node would. Covers
 * status and body, size ceilings, timeouts, refused connections and streamed fetches. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "errcode.h"
#include "peer.h"
#include "peersig.h"
#include "strparse.h"

#define SECRET "peer-test-secret"
#define SELF "http://127.0.0.1:1"
#define SRV_MAX_CONNS 32
#define SRV_BUF_MAX (2 * 1024 * 1024) /* request head + body the server accepts */
#define SRV_WAIT_MS 5000              /* the server never waits longer than this for a peer */
#define BIG_LEN (3 * 1024 * 1024)
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum srv_mode {
    SRV_CANNED, /* reply with srv.canned, keep the connection open for more */
    SRV_SILENT, /* read the request, never answer */
    SRV_STALL,  /* send headers and a few body bytes, then nothing */
    SRV_BIG,    /* 200 with the BIG_LEN pattern body */
};

struct srv {
    int lfd;
    int port;
    int stop[2]; /* written once on shutdown; every wait polls the read end */
    enum srv_mode mode;
    const char *canned;
    pthread_t acceptor;
    pthread_t conns[SRV_MAX_CONNS];
    int nconns;
    pthread_mutex_t mu; /* guards everything below */
    int nreq;
    char *head; /* the last request's head and body */
    char *body;
    size_t blen;
};

struct conn_arg {
    struct srv *s;
    int fd;
};

static struct srv srv;
static unsigned char *big_pattern;

/* Waits for fd to be readable; false on stop, timeout or error. */
static bool wait_readable(struct srv *s, int fd)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop[0], .events = POLLIN}};
    int n = poll(p, 2, SRV_WAIT_MS);
    return n > 0 && !(p[1].revents & POLLIN) && (p[0].revents & (POLLIN | POLLHUP | POLLERR));
}

static bool send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads until the peer closes or the test stops, discarding. */
static void drain_until_close(struct srv *s, int fd)
{
    char tmp[4096];
    while (wait_readable(s, fd) && recv(fd, tmp, sizeof(tmp), 0) > 0)
        ;
}

static size_t content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\ncontent-length:");
    if (!p)
        return 0;
    p += strlen("\r\ncontent-length:");
    while (*p == ' ')
        p++;
    size_t n = strspn(p, "0123456789");
    uint64_t v = 0;
    if (strparse_u64(p, n, SRV_BUF_MAX / 2, &v) < 0)
        return 0;
    return (size_t)v;
}

static void record(struct srv *s, const char *buf, size_t hlen, size_t blen)
{
    pthread_mutex_lock(&s->mu);
    free(s->head);
    free(s->body);
    s->head = strndup(buf, hlen);
    s->body = malloc(blen + 1);
    memcpy(s->body, buf + hlen, blen);
    s->body[blen] = '\0';
    s->blen = blen;
    s->nreq++;
    pthread_mutex_unlock(&s->mu);
}

/* Answers one request per the mode; false when the connection is done. */
static bool respond(struct srv *s, int fd)
{
    switch (s->mode) {
    case SRV_CANNED:
        return send_all(fd, s->canned, strlen(s->canned));
    case SRV_SILENT:
        drain_until_close(s, fd);
        return false;
    case SRV_STALL: {
        static const char h[] = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
        if (send_all(fd, h, strlen(h)) && send_all(fd, big_pattern, 100))
            drain_until_close(s, fd);
        return false;
    }
    case SRV_BIG: {
        char h[128];
        snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG_LEN);
        return send_all(fd, h, strlen(h)) && send_all(fd, big_pattern, BIG_LEN);
    }
    }
    return false;
}

static void *conn_main(void *arg)
{
    struct conn_arg *ca = arg;
    struct srv *s = ca->s;
    int fd = ca->fd;
    free(ca);
    struct timeval tv = {.tv_sec = SRV_WAIT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char *buf = malloc(SRV_BUF_MAX + 1);
    size_t len = 0;
    for (;;) {
        char *end = NULL;
        while (!(buf[len] = '\0', end = strstr(buf, "\r\n\r\n"))) {
            if (len == SRV_BUF_MAX || !wait_readable(s, fd))
                goto out;
            ssize_t n = recv(fd, buf + len, SRV_BUF_MAX - len, 0);
            if (n <= 0)
                goto out;
            len += (size_t)n;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        buf[hlen - 2] = '\0'; /* content_length sees only this head */
        size_t blen = content_length(buf);
        buf[hlen - 2] = '\r';
        while (len < hlen + blen) {
            if (!wait_readable(s, fd))
                goto out;
            ssize_t n = recv(fd, buf + len, SRV_BUF_MAX - len, 0);
            if (n <= 0)
                goto out;
            len += (size_t)n;
        }
        record(s, buf, hlen, blen);
        memmove(buf, buf + hlen + blen, len - hlen - blen);
        len -= hlen + blen;
        if (!respond(s, fd))
            break;
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    struct srv *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
                              {.fd = s->stop[0], .events = POLLIN}};
        if (poll(p, 2, 10 * SRV_WAIT_MS) <= 0 || (p[1].revents & POLLIN))
            break;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        if (s->nconns == SRV_MAX_CONNS) {
            close(fd);
            continue;
        }
        struct conn_arg *ca = malloc(sizeof(*ca));
        ca->s = s;
        ca->fd = fd;
        if (pthread_create(&s->conns[s->nconns], NULL, conn_main, ca) != 0) {
            close(fd);
            free(ca);
            continue;
        }
        pthread_mutex_lock(&s->mu);
        s->nconns++;
        pthread_mutex_unlock(&s->mu);
    }
    for (int i = 0; i < s->nconns; i++)
        pthread_join(s->conns[i], NULL);
    return NULL;
}

/* A loopback socket on an ephemeral port; listening when listen_too. */
static int loopback_socket(bool listen_too, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (listen_too)
        assert_int_equal(listen(fd, 16), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void srv_start(enum srv_mode mode, const char *canned)
{
    memset(&srv, 0, sizeof(srv));
    srv.mode = mode;
    srv.canned = canned;
    pthread_mutex_init(&srv.mu, NULL);
    assert_int_equal(pipe(srv.stop), 0);
    srv.lfd = loopback_socket(true, &srv.port);
    assert_int_equal(pthread_create(&srv.acceptor, NULL, acceptor_main, &srv), 0);
}

static void srv_stop(void)
{
    assert_int_equal(write(srv.stop[1], "x", 1), 1);
    pthread_join(srv.acceptor, NULL);
    close(srv.lfd);
    close(srv.stop[0]);
    close(srv.stop[1]);
    free(srv.head);
    free(srv.body);
    pthread_mutex_destroy(&srv.mu);
}

static void base_url(char *out, size_t cap, const char *suffix)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", srv.port, suffix);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A header's value in the recorded head ("" if absent; false if absent). */
static bool head_header(const char *head, const char *name, char *out, size_t cap)
{
    const char *line = strstr(head, "\r\n");
    size_t nlen = strlen(name);
    out[0] = '\0';
    while (line && line[2] != '\r') {
        line += 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            return false;
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 &&
            line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(eol - v), v);
            return true;
        }
        line = eol;
    }
    return false;
}

struct seen {
    char method[16];
    char path[1024];
    struct http_kv args[HTTP_ARGS_MAX];
    char store[HTTP_ARGS_MAX][2][256];
    size_t nargs;
};

/* Splits the recorded request line and decodes the query string. */
static void parse_seen(const char *head, struct seen *sn)
{
    memset(sn, 0, sizeof(*sn));
    const char *sp1 = strchr(head, ' ');
    assert_non_null(sp1);
    snprintf(sn->method, sizeof(sn->method), "%.*s", (int)(sp1 - head), head);
    const char *target = sp1 + 1, *sp2 = strchr(target, ' ');
    assert_non_null(sp2);
    const char *q = memchr(target, '?', (size_t)(sp2 - target));
    const char *pend = q ? q : sp2;
    snprintf(sn->path, sizeof(sn->path), "%.*s", (int)(pend - target), target);
    if (!q)
        return;
    const char *p = q + 1;
    while (p < sp2) {
        const char *amp = memchr(p, '&', (size_t)(sp2 - p));
        const char *e = amp ? amp : sp2;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        assert_non_null(eq);
        size_t i = sn->nargs++, outlen = 0;
        assert_true(i < HTTP_ARGS_MAX);
        assert_int_equal(strparse_pct_decode(p, (size_t)(eq - p), false, sn->store[i][0], 256,
                                             &outlen),
                         0);
        assert_int_equal(strparse_pct_decode(eq + 1, (size_t)(e - eq - 1), false,
                                             sn->store[i][1], 256, &outlen),
                         0);
        sn->args[i].key = sn->store[i][0];
        sn->args[i].value = sn->store[i][1];
        p = e + 1;
    }
}

/* Copies of the last recorded request (caller frees), taken under the lock. */
static void snapshot(char **head, char **body, size_t *blen)
{
    pthread_mutex_lock(&srv.mu);
    *head = srv.head ? strdup(srv.head) : NULL;
    *blen = srv.blen;
    *body = malloc(srv.blen + 1);
    memcpy(*body, srv.body ? srv.body : "", srv.blen);
    (*body)[srv.blen] = '\0';
    pthread_mutex_unlock(&srv.mu);
}

/* Checks the last recorded request the way the receiving node's access check would. The
 * record is copied out first so that a failed assertion never leaves the lock held. */
static void verify_seen(struct seen *sn)
{
    char tval[64], sval[128], bval[128], pval[256], expect[64], sha[65];
    char *head = NULL, *body = NULL;
    size_t blen = 0;
    snapshot(&head, &body, &blen);
    digest_sha256_hex(body, blen, sha);
    free(body);
    assert_non_null(head);
    parse_seen(head, sn);
    bool ok = head_header(head, PEERSIG_HDR_TIME, tval, sizeof(tval)) &&
              head_header(head, PEERSIG_HDR_SIGN, sval, sizeof(sval)) &&
              head_header(head, PEERSIG_HDR_BODY, bval, sizeof(bval)) &&
              head_header(head, PEERSIG_HDR_PEER, pval, sizeof(pval));
    bool has_expect = head_header(head, "Expect", expect, sizeof(expect));
    free(head);
    assert_true(ok);
    assert_false(has_expect);
    assert_string_equal(pval, SELF);
    assert_string_equal(bval, sha);
    const char *why = NULL;
    int rc = peersig_verify(SECRET, sn->method, sn->path, sn->args, sn->nargs, sha, tval, sval,
                            (long long)time(NULL), &why);
    if (rc != 0)
        fail_msg("signature refused: %s", why);
}

static struct peer_client *client(void)
{
    struct peer_client *pc = NULL;
    assert_int_equal(peer_client_new(SECRET, SELF, &pc), 0);
    assert_non_null(pc);
    return pc;
}

static const char reply_hello[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

static void test_get_signed_status_body(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, reply_hello);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct http_kv args[] = {{"md5", "abc"}, {"name", "a b+c&d=e/%f"}, {"empty", ""}};
    struct peer_resp r = {0};
    assert_int_equal(peer_request(pc, "GET", base, "/group1/stat", args, 3, NULL, 0, 2000,
                                  1024, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 5);
    assert_string_equal(r.body, "hello");
    peer_resp_fini(&r);
    assert_null(r.body);

    struct seen sn;
    verify_seen(&sn);
    assert_string_equal(sn.method, "GET");
    assert_string_equal(sn.path, "/group1/stat");
    assert_int_equal(sn.nargs, 3);
    assert_string_equal(sn.args[1].value, "a b+c&d=e/%f");
    assert_string_equal(sn.args[2].key, "empty");
    assert_string_equal(sn.args[2].value, "");
    pthread_mutex_lock(&srv.mu);
    size_t seen_blen = srv.blen;
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(seen_blen, 0);
    peer_client_free(pc);
    srv_stop();
}

static void test_post_body_signed(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    struct peer_client *pc = client();
    char base[64], ct[128];
    base_url(base, sizeof(base), "");
    static const char body[] = "md5=abc&path=files%2Fx";
    struct http_kv args[] = {{"k", "v"}};
    struct peer_resp r = {0};
    assert_int_equal(peer_request(pc, "POST", base, "/group1/syncfile_info", args, 1, body,
                                  strlen(body), 2000, 1024, &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "ok");
    peer_resp_fini(&r);
    struct seen sn;
    verify_seen(&sn);
    assert_string_equal(sn.method, "POST");
    assert_string_equal(sn.path, "/group1/syncfile_info");
    char *shead = NULL, *sbody = NULL;
    size_t sblen = 0;
    snapshot(&shead, &sbody, &sblen);
    bool has_ct = head_header(shead, "Content-Type", ct, sizeof(ct));
    free(shead);
    assert_int_equal(sblen, strlen(body));
    assert_memory_equal(sbody, body, strlen(body));
    free(sbody);
    assert_true(has_ct);
    assert_string_equal(ct, "application/x-www-form-urlencoded");
    peer_client_free(pc);
    srv_stop();
}

static void test_post_without_body_and_other_methods(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, reply_hello);
    struct peer_client *pc = client();
    char base[64], tmp[128];
    base_url(base, sizeof(base), "");
    struct peer_resp r = {0};
    assert_int_equal(peer_request(pc, "POST", base, "/p", NULL, 0, NULL, 0, 2000, 64, &r), 0);
    peer_resp_fini(&r);
    struct seen sn;
    verify_seen(&sn);
    assert_string_equal(sn.method, "POST");
    char *shead = NULL, *sbody = NULL;
    size_t sblen = 0;
    snapshot(&shead, &sbody, &sblen);
    bool has_ct = head_header(shead, "Content-Type", tmp, sizeof(tmp));
    free(shead);
    free(sbody);
    assert_false(has_ct);

    assert_int_equal(peer_request(pc, "DELETE", base, "/d", NULL, 0, NULL, 0, 2000, 64, &r),
                     0);
    peer_resp_fini(&r);
    verify_seen(&sn);
    assert_string_equal(sn.method, "DELETE");

    assert_int_equal(peer_request(pc, "PUT", base, "/u", NULL, 0, "x=1", 3, 2000, 64, &r), 0);
    peer_resp_fini(&r);
    verify_seen(&sn);
    assert_string_equal(sn.method, "PUT");
    snapshot(&shead, &sbody, &sblen);
    free(shead);
    bool put_body_ok = strcmp(sbody, "x=1") == 0;
    free(sbody);
    assert_true(put_body_ok);
    peer_client_free(pc);
    srv_stop();
}

static void test_base_with_path_prefix(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, reply_hello);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "/group1/");
    struct peer_resp r = {0};
    assert_int_equal(peer_request(pc, "GET", base, "/stat", NULL, 0, NULL, 0, 2000, 64, &r), 0);
    peer_resp_fini(&r);
    struct seen sn;
    verify_seen(&sn);
    assert_string_equal(sn.path, "/group1/stat");
    peer_client_free(pc);
    srv_stop();
}

static void test_non_2xx_returned(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, "HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope");
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct peer_resp r = {0};
    assert_int_equal(peer_request(pc, "GET", base, "/x", NULL, 0, NULL, 0, 2000, 64, &r), 0);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "nope");
    peer_resp_fini(&r);
    peer_client_free(pc);
    srv_stop();
}

static void test_empty_body_is_empty_string(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, "HTTP/1.1 204 No Content\r\n\r\n");
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct peer_resp r = {0};
    assert_int_equal(peer_request(pc, "GET", base, "/x", NULL, 0, NULL, 0, 2000, 64, &r), 0);
    assert_int_equal(r.status, 204);
    assert_non_null(r.body);
    assert_int_equal(r.len, 0);
    assert_string_equal(r.body, "");
    peer_resp_fini(&r);
    peer_client_free(pc);
    srv_stop();
}

static void test_keepalive_reused(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, reply_hello);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    for (int i = 0; i < 3; i++) {
        struct peer_resp r = {0};
        assert_int_equal(peer_request(pc, "GET", base, "/x", NULL, 0, NULL, 0, 2000, 64, &r),
                         0);
        peer_resp_fini(&r);
    }
    pthread_mutex_lock(&srv.mu);
    int nreq = srv.nreq, nconns = srv.nconns;
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(nreq, 3);
    assert_int_equal(nconns, 1);
    peer_client_free(pc);
    srv_stop();
}

static void test_max_body_exceeded(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, reply_hello);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct peer_resp r = {.status = 77};
    assert_int_equal(peer_request(pc, "GET", base, "/x", NULL, 0, NULL, 0, 2000, 4, &r),
                     -EMSGSIZE);
    assert_int_equal(r.status, 77);
    assert_null(r.body);
    /* exactly at the ceiling fits */
    assert_int_equal(peer_request(pc, "GET", base, "/x", NULL, 0, NULL, 0, 2000, 5, &r), 0);
    assert_string_equal(r.body, "hello");
    peer_resp_fini(&r);
    peer_client_free(pc);
    srv_stop();
}

static void test_silent_server_times_out(void **state)
{
    (void)state;
    srv_start(SRV_SILENT, NULL);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct peer_resp r = {0};
    double t0 = now_s();
    assert_int_equal(peer_request(pc, "GET", base, "/x", NULL, 0, NULL, 0, 500, 64, &r),
                     -ETIMEDOUT);
    double took = now_s() - t0;
    assert_true(took >= 0.4 && took < 0.5 + 2.0);
    assert_null(r.body);
    peer_client_free(pc);
    srv_stop();
}

static void test_connection_refused(void **state)
{
    (void)state;
    int port = 0;
    int fd = loopback_socket(false, &port);
    close(fd);
    struct peer_client *pc = client();
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    struct peer_resp r = {0};
    assert_int_equal(peer_request(pc, "GET", base, "/x", NULL, 0, NULL, 0, 2000, 64, &r),
                     -ECONNREFUSED);
    long status = 99;
    assert_int_equal(peer_fetch(pc, base, "/x", 2000, 1000, NULL, NULL, &status), -EINVAL);
    peer_client_free(pc);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct peer_client *pc = client();
    struct peer_resp r = {0};
    const char *b = "http://127.0.0.1:9";
    assert_int_equal(peer_request(pc, "GET", b, "x", NULL, 0, NULL, 0, 1000, 64, &r), -EINVAL);
    assert_int_equal(peer_request(pc, "GET", b, "/x?y", NULL, 0, NULL, 0, 1000, 64, &r),
                     -EINVAL);
    assert_int_equal(peer_request(pc, "GET", b, "/x\r\nA: b", NULL, 0, NULL, 0, 1000, 64, &r),
                     -EINVAL);
    assert_int_equal(peer_request(pc, "GET", "127.0.0.1:9", "/x", NULL, 0, NULL, 0, 1000, 64,
                                  &r),
                     -EINVAL);
    assert_int_equal(peer_request(pc, "GET", "http://h/?q", "/x", NULL, 0, NULL, 0, 1000, 64,
                                  &r),
                     -EINVAL);
    assert_int_equal(peer_request(pc, "G T", b, "/x", NULL, 0, NULL, 0, 1000, 64, &r), -EINVAL);
    assert_int_equal(peer_request(pc, "", b, "/x", NULL, 0, NULL, 0, 1000, 64, &r), -EINVAL);
    assert_int_equal(peer_request(pc, "GET", b, "/x", NULL, 1, NULL, 0, 1000, 64, &r), -EINVAL);
    assert_int_equal(peer_request(pc, "GET", b, "/x", NULL, 0, NULL, 0, 0, 64, &r), -EINVAL);
    assert_int_equal(peer_request(NULL, "GET", b, "/x", NULL, 0, NULL, 0, 1000, 64, &r),
                     -EINVAL);
    assert_int_equal(peer_request(pc, "GET", b, "/x", NULL, 0, NULL, 0, 1000, 64, NULL),
                     -EINVAL);
    long st = 0;
    assert_int_equal(peer_fetch(pc, b, "x", 1000, 1000, NULL, NULL, &st), -EINVAL);
    assert_int_equal(peer_client_new(SECRET, SELF, NULL), -EINVAL);
    peer_client_free(pc);
    peer_client_free(NULL);
    peer_resp_fini(NULL);
}

struct collect {
    unsigned char *data;
    size_t len, cap;
    int calls;
    int fail_with; /* returned by the sink when non-zero */
};

static int sink_collect(void *ctx, const char *data, size_t len)
{
    struct collect *c = ctx;
    c->calls++;
    if (c->fail_with)
        return c->fail_with;
    if (len > c->cap - c->len)
        return -EFBIG;
    memcpy(c->data + c->len, data, len);
    c->len += len;
    return 0;
}

static void test_fetch_streams_big_body(void **state)
{
    (void)state;
    srv_start(SRV_BIG, NULL);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct collect c = {.data = malloc(BIG_LEN), .cap = BIG_LEN};
    long status = 0;
    assert_int_equal(peer_fetch(pc, base, "/group1/big%20file.bin", 2000, 2000, sink_collect, &c,
                                &status),
                     0);
    assert_int_equal(status, 200);
    assert_int_equal(c.len, BIG_LEN);
    assert_memory_equal(c.data, big_pattern, BIG_LEN);
    assert_true(c.calls > 1); /* streamed, not buffered into one call */
    struct seen sn;
    verify_seen(&sn);
    assert_string_equal(sn.method, "GET");
    assert_string_equal(sn.path, "/group1/big%20file.bin");
    assert_int_equal(sn.nargs, 0);
    free(c.data);
    peer_client_free(pc);
    srv_stop();
}

static void test_fetch_non_2xx_skips_sink(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct collect c = {.data = malloc(64), .cap = 64};
    long status = 0;
    assert_int_equal(peer_fetch(pc, base, "/x", 2000, 2000, sink_collect, &c, &status), 0);
    assert_int_equal(status, 404);
    assert_int_equal(c.calls, 0);
    free(c.data);
    peer_client_free(pc);
    srv_stop();
}

static char *big_error_reply;

static void test_fetch_non_2xx_big_body_bounded(void **state)
{
    (void)state;
    size_t n = 1024 * 1024;
    big_error_reply = malloc(n + 128);
    int h = snprintf(big_error_reply, 128, "HTTP/1.1 500 Oops\r\nContent-Length: %zu\r\n\r\n", n);
    memset(big_error_reply + h, 'e', n);
    big_error_reply[(size_t)h + n] = '\0';
    srv_start(SRV_CANNED, big_error_reply);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct collect c = {.data = malloc(64), .cap = 64};
    long status = 0;
    assert_int_equal(peer_fetch(pc, base, "/x", 2000, 2000, sink_collect, &c, &status), 0);
    assert_int_equal(status, 500);
    assert_int_equal(c.calls, 0);
    free(c.data);
    peer_client_free(pc);
    srv_stop();
    free(big_error_reply);
}

static void test_fetch_sink_error_aborts(void **state)
{
    (void)state;
    srv_start(SRV_BIG, NULL);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct collect c = {.data = malloc(64), .cap = 64, .fail_with = -ENOSPC};
    long status = 12345;
    assert_int_equal(peer_fetch(pc, base, "/x", 2000, 2000, sink_collect, &c, &status),
                     -ENOSPC);
    assert_int_equal(c.calls, 1);
    assert_int_equal(status, 12345);
    free(c.data);
    peer_client_free(pc);
    srv_stop();
}

static void test_fetch_stall_times_out(void **state)
{
    (void)state;
    srv_start(SRV_STALL, NULL);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    struct collect c = {.data = malloc(BIG_LEN), .cap = BIG_LEN};
    long status = 0;
    double t0 = now_s();
    assert_int_equal(peer_fetch(pc, base, "/x", 2000, 1000, sink_collect, &c, &status),
                     -ETIMEDOUT);
    double took = now_s() - t0;
    assert_true(took < 1.0 + 3.0);
    assert_int_equal(c.len, 100); /* what did arrive was passed on */
    free(c.data);
    peer_client_free(pc);
    srv_stop();
}

static void test_fetch_refused(void **state)
{
    (void)state;
    int port = 0;
    int fd = loopback_socket(false, &port);
    close(fd);
    struct peer_client *pc = client();
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    struct collect c = {.data = malloc(64), .cap = 64};
    long status = 7;
    assert_int_equal(peer_fetch(pc, base, "/x", 2000, 1000, sink_collect, &c, &status),
                     -ECONNREFUSED);
    assert_int_equal(status, 7);
    assert_int_equal(c.calls, 0);
    free(c.data);
    peer_client_free(pc);
}

struct worker {
    struct peer_client *pc;
    const char *base;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 10; i++) {
        struct peer_resp r = {0};
        if (peer_request(w->pc, "GET", w->base, "/x", NULL, 0, NULL, 0, 2000, 64, &r) != 0 ||
            r.status != 200 || strcmp(r.body, "hello") != 0)
            w->failures++;
        peer_resp_fini(&r);
    }
    return NULL;
}

static void test_concurrent_callers(void **state)
{
    (void)state;
    srv_start(SRV_CANNED, reply_hello);
    struct peer_client *pc = client();
    char base[64];
    base_url(base, sizeof(base), "");
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.pc = pc, .base = base};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    pthread_mutex_lock(&srv.mu);
    int nreq = srv.nreq, nconns = srv.nconns;
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(nreq, 40);
    assert_true(nconns <= 4);
    peer_client_free(pc);
    srv_stop();
}

static int group_setup(void **state)
{
    (void)state;
    big_pattern = malloc(BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        big_pattern[i] = (unsigned char)((i * 31 + i / 4096 + 7) & 0xff);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(big_pattern);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_signed_status_body),
        cmocka_unit_test(test_post_body_signed),
        cmocka_unit_test(test_post_without_body_and_other_methods),
        cmocka_unit_test(test_base_with_path_prefix),
        cmocka_unit_test(test_non_2xx_returned),
        cmocka_unit_test(test_empty_body_is_empty_string),
        cmocka_unit_test(test_keepalive_reused),
        cmocka_unit_test(test_max_body_exceeded),
        cmocka_unit_test(test_silent_server_times_out),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_fetch_streams_big_body),
        cmocka_unit_test(test_fetch_non_2xx_skips_sink),
        cmocka_unit_test(test_fetch_non_2xx_big_body_bounded),
        cmocka_unit_test(test_fetch_sink_error_aborts),
        cmocka_unit_test(test_fetch_stall_times_out),
        cmocka_unit_test(test_fetch_refused),
        cmocka_unit_test(test_concurrent_callers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
