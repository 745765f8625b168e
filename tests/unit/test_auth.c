/* Unit tests for auth: the admin IP allow-list (exact and CIDR, IPv4 and IPv6, v4-mapped
 * clients, bad entries, prefix tricks), constant-time secret comparison and the access
 * check by class for unsigned requests. Only cfg.admin_ips of the server is filled. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "errcode.h"
#include "http.h"
#include "server.h"
#include "xalloc.h"

static int setup(void **state)
{
    struct server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -1;
    *state = srv;
    return 0;
}

static int teardown(void **state)
{
    struct server *srv = *state;
    for (size_t i = 0; i < srv->cfg.admin_ips.n; i++)
        free(srv->cfg.admin_ips.v[i]);
    free(srv);
    return 0;
}

static void add_ip(struct server *srv, const char *entry)
{
    assert_true(srv->cfg.admin_ips.n < CFG_LIST_MAX);
    srv->cfg.admin_ips.v[srv->cfg.admin_ips.n++] = xstrdup(entry);
}

static void allowed(struct server *srv, const char *ip)
{
    if (!auth_ip_allowed(srv, ip))
        fail_msg("%s should be allowed", ip ? ip : "(null)");
}

static void denied(struct server *srv, const char *ip)
{
    if (auth_ip_allowed(srv, ip))
        fail_msg("%s should be denied", ip ? ip : "(null)");
}

/* ---- IPv4 ---- */

static void test_empty_list(void **state)
{
    struct server *srv = *state;
    denied(srv, "127.0.0.1");
    denied(srv, "::1");
    denied(srv, "");
    denied(srv, NULL);
}

static void test_v4_exact(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "192.168.1.10");
    allowed(srv, "192.168.1.10");
    denied(srv, "192.168.1.11");
    denied(srv, "192.168.1.1");
    denied(srv, "192.168.1.100");
    denied(srv, "10.0.0.1");
}

static void test_v4_prefix_tricks(void **state)
{
    struct server *srv = *state;
    /* go-fastdfs matched admin_ips as string prefixes; we must not */
    add_ip(srv, "10.0.0.1");
    allowed(srv, "10.0.0.1");
    denied(srv, "10.0.0.12");
    denied(srv, "10.0.0.100");
    denied(srv, "10.0.0.1.evil");
    denied(srv, "10.0.0.1 ");
    denied(srv, " 10.0.0.1");
    denied(srv, "10.0.0");
    denied(srv, "10.0.0.01");
}

static void test_v4_cidr8(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "10.0.0.0/8");
    allowed(srv, "10.0.0.1");
    allowed(srv, "10.255.255.255");
    allowed(srv, "10.1.2.3");
    denied(srv, "11.0.0.1");
    denied(srv, "9.255.255.255");
    denied(srv, "110.0.0.1");
}

static void test_v4_cidr24(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "192.168.5.0/24");
    allowed(srv, "192.168.5.0");
    allowed(srv, "192.168.5.77");
    allowed(srv, "192.168.5.255");
    denied(srv, "192.168.6.1");
    denied(srv, "192.168.4.255");
}

static void test_v4_cidr_odd(void **state)
{
    struct server *srv = *state;
    /* host bits in the entry are ignored; a non-octet prefix length works */
    add_ip(srv, "172.16.9.9/12");
    allowed(srv, "172.16.0.1");
    allowed(srv, "172.31.255.255");
    denied(srv, "172.32.0.1");
    denied(srv, "172.15.255.255");
}

static void test_v4_cidr32(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "203.0.113.7/32");
    allowed(srv, "203.0.113.7");
    denied(srv, "203.0.113.6");
    denied(srv, "203.0.113.8");
}

static void test_v4_cidr0(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "0.0.0.0/0");
    allowed(srv, "1.2.3.4");
    allowed(srv, "255.255.255.255");
    allowed(srv, "::ffff:8.8.8.8");
    /* /0 of the IPv4 family does not open IPv6 */
    denied(srv, "2001:db8::1");
    denied(srv, "::1");
}

/* ---- IPv6 ---- */

static void test_v6_exact(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "2001:db8::1");
    allowed(srv, "2001:db8::1");
    allowed(srv, "2001:0db8:0000:0000:0000:0000:0000:0001"); /* same address, long form */
    allowed(srv, "2001:DB8::1");
    denied(srv, "2001:db8::2");
    denied(srv, "2001:db8::10");
    denied(srv, "2001:db8::1:0");
}

static void test_v6_loopback(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "::1");
    allowed(srv, "::1");
    denied(srv, "::2");
    denied(srv, "127.0.0.1"); /* different family */
}

static void test_v6_cidr(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "2001:db8:abcd::/48");
    allowed(srv, "2001:db8:abcd::1");
    allowed(srv, "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff");
    denied(srv, "2001:db8:abce::1");
    denied(srv, "2001:db9:abcd::1");
    add_ip(srv, "fd00::/7");
    allowed(srv, "fd12:3456::1");
    allowed(srv, "fc00::1");
    denied(srv, "fe80::1");
}

static void test_v6_cidr_edges(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "2001:db8::5/128");
    allowed(srv, "2001:db8::5");
    denied(srv, "2001:db8::4");
    add_ip(srv, "::/0");
    allowed(srv, "fe80::1");
    denied(srv, "10.0.0.1"); /* an IPv6 /0 does not open IPv4 */
}

static void test_v4_mapped_client(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "127.0.0.1");
    add_ip(srv, "10.0.0.0/8");
    allowed(srv, "::ffff:127.0.0.1");
    allowed(srv, "::FFFF:127.0.0.1");
    allowed(srv, "::ffff:10.20.30.40");
    denied(srv, "::ffff:127.0.0.2");
    denied(srv, "::ffff:11.0.0.1");
    /* not v4-mapped: the IPv4-compatible and NAT64 forms are other addresses */
    denied(srv, "::127.0.0.1");
    denied(srv, "64:ff9b::127.0.0.1");
}

static void test_v4_mapped_entry(void **state)
{
    struct server *srv = *state;
    /* an admin may paste the address as a dual-stack socket printed it */
    add_ip(srv, "::ffff:192.0.2.1");
    allowed(srv, "192.0.2.1");
    allowed(srv, "::ffff:192.0.2.1");
    denied(srv, "192.0.2.2");
}

/* ---- bad entries and bad clients ---- */

static void test_bad_entries_ignored(void **state)
{
    struct server *srv = *state;
    static const char *bad[] = {
        "",           "garbage",    "10.0.0.0/",   "10.0.0.0/33",  "10.0.0.0/-1",
        "10.0.0.0/x", "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/+8", "256.0.0.1",
        "10.0.0",     "::1/129",    "::1/",        "1.2.3.4.5",    "*",
        "10.0.0.*",   "localhost",  "0x0a000001",  "10.0.0.0/080000000000",
        "10.0.0.0/99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        add_ip(srv, bad[i]);
    denied(srv, "10.0.0.1");
    denied(srv, "127.0.0.1");
    denied(srv, "::1");
    /* a good entry after the bad ones still works */
    add_ip(srv, "10.0.0.1");
    allowed(srv, "10.0.0.1");
    denied(srv, "10.0.0.2");
}

static void test_bad_clients(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "0.0.0.0/0");
    add_ip(srv, "::/0");
    denied(srv, "");
    denied(srv, "not-an-ip");
    denied(srv, "1.2.3");
    denied(srv, "1.2.3.4:80");
    denied(srv, "[::1]");
    denied(srv, "fe80::1%eth0");
    char longip[200];
    memset(longip, '1', sizeof(longip) - 1);
    longip[sizeof(longip) - 1] = '\0';
    denied(srv, longip);
}

static void test_client_with_prefix_len(void **state)
{
    struct server *srv = *state;
    add_ip(srv, "127.0.0.1");
    /* a client address is one address, never a network */
    denied(srv, "127.0.0.1/0");
    denied(srv, "127.0.0.1/32");
}

/* ---- secrets ---- */

static void test_secret_eq(void **state)
{
    (void)state;
    assert_true(auth_secret_eq("s3cret", "s3cret"));
    assert_true(auth_secret_eq("a", "a"));
    assert_false(auth_secret_eq("s3cret", "s3creT"));
    assert_false(auth_secret_eq("s3cret", "s3cre"));
    assert_false(auth_secret_eq("s3cre", "s3cret"));
    assert_false(auth_secret_eq("abc", "abcabc"));
    assert_false(auth_secret_eq("abcabc", "abc"));
    assert_false(auth_secret_eq("x", ""));
    assert_false(auth_secret_eq("", "x"));
    assert_false(auth_secret_eq("", ""));
    /* first byte and last byte differences */
    assert_false(auth_secret_eq("Xbcdef", "abcdef"));
    assert_false(auth_secret_eq("abcdeX", "abcdef"));
    char a[512], b[512];
    memset(a, 'k', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    assert_true(auth_secret_eq(a, b));
    b[300] = 'j';
    assert_false(auth_secret_eq(a, b));
}

/* ---- access classes ---- */

static void test_check_classes(void **state)
{
    struct server *srv = *state;
    struct http_req req;
    memset(&req, 0, sizeof(req)); /* no connection: no headers, hence no signature */
    add_ip(srv, "127.0.0.1");
    memcpy(req.client_ip, "203.0.113.9", 12);
    assert_int_equal(auth_check(srv, &req, ACCESS_PUBLIC), 0);
    assert_int_equal(auth_check(srv, &req, ACCESS_ADMIN), ERR_FORBIDDEN);
    assert_int_equal(auth_check(srv, &req, ACCESS_PEER), ERR_FORBIDDEN);
    assert_false(req.peer_signed);
    memcpy(req.client_ip, "127.0.0.1", 10);
    assert_int_equal(auth_check(srv, &req, ACCESS_ADMIN), 0);
    /* peer routes need a cluster signature: an admin address is not enough */
    req.errmsg[0] = '\0';
    assert_int_equal(auth_check(srv, &req, ACCESS_PEER), ERR_FORBIDDEN);
    assert_true(req.errmsg[0] != '\0');
    assert_false(req.peer_signed);
    req.client_ip[0] = '\0';
    assert_int_equal(auth_check(srv, &req, ACCESS_ADMIN), ERR_FORBIDDEN);
    assert_int_equal(auth_check(srv, &req, ACCESS_PUBLIC), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty_list),
        T(test_v4_exact),
        T(test_v4_prefix_tricks),
        T(test_v4_cidr8),
        T(test_v4_cidr24),
        T(test_v4_cidr_odd),
        T(test_v4_cidr32),
        T(test_v4_cidr0),
        T(test_v6_exact),
        T(test_v6_loopback),
        T(test_v6_cidr),
        T(test_v6_cidr_edges),
        T(test_v4_mapped_client),
        T(test_v4_mapped_entry),
        T(test_bad_entries_ignored),
        T(test_bad_clients),
        T(test_client_with_prefix_len),
        cmocka_unit_test(test_secret_eq),
        T(test_check_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
