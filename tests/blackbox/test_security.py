"""Access control against real nodes: download tokens (go-fastdfs's and keyed), Google codes
checked against Debian's oathtool, auth_url with a local auth server, CORS, the admin key,
and a matrix that calls every kind of route as anonymous, admin and peer."""
import hashlib
import os
import hmac
import http.server
import json
import shutil
import subprocess
import threading
import time

import pytest
import requests

from bbutil import md5, payload, token

T = 10
SECRET32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CLUSTER = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

# tests run from 127.0.0.1, which is an admin by default: these nodes have no admin_ips so
# the caller is anonymous unless it says otherwise
ANON = {"admin_ips": []}


def _up(node, data, scene=None, headers=None, fields=None):
    f = dict(fields or {})
    f["output"] = "json"
    if scene:
        f["scene"] = scene
    return requests.post(node.g + "/upload", files={"file": (token() + ".txt", data)}, data=f,
                         headers=headers or {}, timeout=T)


def _admin(node):
    return {"X-Admin-Key": node.cfg["admin_key"]}


# ---- download tokens ----------------------------------------------------------------------

def _legacy(file_md5, ts):
    return hashlib.md5((file_md5 + str(ts)).encode()).hexdigest()


def _keyed(secret, file_md5, ts):
    return hmac.new(secret.encode(), (file_md5 + str(ts)).encode(),
                    hashlib.sha256).hexdigest()[:32]


def test_legacy_token(start_node):
    n = start_node(cfg_overrides=dict(ANON, admin_key="k" * 32, download_use_token=True,
                                      download_token_secret="", download_token_expire=60))
    data = payload(2000)
    r = _up(n, data, headers={"X-Admin-Key": "k" * 32})
    assert r.status_code == 200, r.text
    path, m = r.json()["path"], r.json()["md5"]
    now = int(time.time())
    ok = requests.get(n.url + path, params={"token": _legacy(m, now), "timestamp": now},
                      timeout=T)
    assert ok.status_code == 200 and ok.content == data
    bad = {
        "missing": {},
        "no timestamp": {"token": _legacy(m, now)},
        "expired": {"token": _legacy(m, now - 120), "timestamp": now - 120},
        "future": {"token": _legacy(m, now + 120), "timestamp": now + 120},
        "wrong": {"token": _legacy(m, now + 1), "timestamp": now},
        "malformed": {"token": "zz", "timestamp": now},
        "not a number": {"token": _legacy(m, now), "timestamp": "12ab"},
    }
    for what, params in bad.items():
        r = requests.get(n.url + path, params=params, timeout=T)
        assert r.status_code == 401, (what, r.status_code, r.text)
        assert r.json()["status"] == "fail" and "token" in r.json()["message"], (what, r.text)
    # an admin needs no token
    assert requests.get(n.url + path, headers=_admin(n), timeout=T).status_code == 200


def test_keyed_token_cannot_be_minted_without_the_secret(start_node):
    secret = "a1" * 16
    n = start_node(cfg_overrides=dict(ANON, admin_key="k" * 32, download_use_token=True,
                                      download_token_secret=secret))
    data = payload(1500)
    r = _up(n, data)
    path, m = r.json()["path"], r.json()["md5"]
    now = int(time.time())
    r = requests.get(n.url + path, params={"token": _legacy(m, now), "timestamp": now},
                     timeout=T)
    assert r.status_code == 401, "a go-fastdfs md5 token must not pass when a secret is set"
    r = requests.get(n.url + path, params={"token": _keyed(secret, m, now), "timestamp": now},
                     timeout=T)
    assert r.status_code == 200 and r.content == data


# ---- Google Authenticator -----------------------------------------------------------------

def _oath(secret, at=None):
    if not shutil.which("oathtool"):
        pytest.skip("oathtool is not installed (tools/install-deps.sh --test installs it)")
    cmd = ["oathtool", "--totp", "-b", secret]
    if at is not None:
        cmd[2:2] = ["--now", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def test_google_code_on_upload_and_download(start_node):
    n = start_node(cfg_overrides=dict(ANON, enable_google_auth=True,
                                      scenes=["secure:" + SECRET32, "open"]))
    data = payload(800)
    r = _up(n, data, scene="secure")
    assert r.status_code == 401 and "google" in r.json()["message"], r.text
    r = _up(n, data, scene="secure", fields={"code": "000000" if _oath(SECRET32) != "000000"
                                                      else "111111"})
    assert r.status_code == 401
    r = _up(n, data, scene="secure", fields={"code": _oath(SECRET32)})
    assert r.status_code == 200, r.text
    path = r.json()["path"]
    assert requests.get(n.url + path, timeout=T).status_code == 401
    r = requests.get(n.url + path, params={"code": _oath(SECRET32)}, timeout=T)
    assert r.status_code == 200 and r.content == data
    # far outside the window
    old = _oath(SECRET32, time.time() - 600)
    if old != _oath(SECRET32):
        assert requests.get(n.url + path, params={"code": old}, timeout=T).status_code == 401
    # a scene without a secret needs no code
    assert _up(n, payload(10), scene="open").status_code == 200


def test_google_helpers_are_admin_only(start_node):
    n = start_node(cfg_overrides=dict(ANON, admin_key="k" * 32))
    assert requests.get(n.g + "/gen_google_secret", timeout=T).status_code == 403
    r = requests.get(n.g + "/gen_google_secret", headers={"X-Admin-Key": "k" * 32}, timeout=T)
    secret = r.json()["data"]
    assert len(secret) == 16
    r = requests.get(n.g + "/gen_google_code", params={"secret": secret},
                     headers={"X-Admin-Key": "k" * 32}, timeout=T)
    assert r.json()["data"] == _oath(secret)


# ---- auth_url -----------------------------------------------------------------------------

class _Auth(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        tok = self.headers.get("Auth-Token", "")
        _Auth.seen.append(tok)
        if tok == "good":
            body = b"ok"
        elif tok == "json-good":
            body = json.dumps({"data": "ok"}).encode()
        else:
            body = json.dumps({"data": "no", "message": "token revoked"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def auth_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Auth)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/auth"
    srv.shutdown()
    srv.server_close()
    t.join(timeout=5)


def test_auth_url_upload_and_download(start_node, auth_server):
    n = start_node(cfg_overrides=dict(ANON, auth_url=auth_server, enable_download_auth=True,
                                      auth_timeout=2))
    data = payload(700)
    assert _up(n, data).status_code == 401
    r = _up(n, data, headers={"Auth-Token": "bad"})
    assert r.status_code == 401 and "token revoked" in r.json()["message"], r.text
    r = _up(n, data, headers={"Auth-Token": "good"})
    assert r.status_code == 200, r.text
    path = r.json()["path"]
    assert _up(n, payload(5), headers={"Auth-Token": "json-good"}).status_code == 200
    assert requests.get(n.url + path, timeout=T).status_code == 401
    r = requests.get(n.url + path, headers={"Auth-Token": "good"}, timeout=T)
    assert r.status_code == 200 and r.content == data


def test_auth_url_unreachable_refuses(start_node):
    s = __import__("socket").socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    n = start_node(cfg_overrides=dict(ANON, auth_url=f"http://127.0.0.1:{port}/auth",
                                      auth_timeout=1))
    r = _up(n, payload(50), headers={"Auth-Token": "good"})
    assert r.status_code == 401 and "unreachable" in r.json()["message"], r.text
    assert not list((__import__("pathlib").Path(n.root) / "files").rglob("*.txt"))


# ---- CORS ---------------------------------------------------------------------------------

def test_cors_any_origin_and_preflight(start_node):
    n = start_node()
    data = payload(300)
    path = _up(n, data).json()["path"]
    r = requests.get(n.url + path, headers={"Origin": "https://x.example"}, timeout=T)
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    # a preflight is answered without running the route: this one must not delete anything
    r = requests.options(n.g + "/delete", params={"md5": md5(data)},
                         headers={"Origin": "https://x.example",
                                  "Access-Control-Request-Method": "POST"}, timeout=T)
    assert r.status_code == 204
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Upload-Offset" in r.headers["Access-Control-Allow-Headers"]
    assert requests.get(n.url + path, timeout=T).status_code == 200


def test_cors_listed_origins_only(start_node):
    n = start_node(cfg_overrides={"cors_origins": ["https://ok.example"]})
    r = requests.get(n.g + "/status", headers={"Origin": "https://ok.example"}, timeout=T)
    assert r.headers.get("Access-Control-Allow-Origin") == "https://ok.example"
    assert r.headers.get("Access-Control-Allow-Credentials") == "true"
    r = requests.get(n.g + "/status", headers={"Origin": "https://evil.example"}, timeout=T)
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_off(start_node):
    n = start_node(cfg_overrides={"enable_cross_origin": False})
    r = requests.get(n.g + "/status", headers={"Origin": "https://x.example"}, timeout=T)
    assert "Access-Control-Allow-Origin" not in r.headers


# ---- admin key and the route matrix ------------------------------------------------------

def test_admin_key_header_or_parameter(start_node):
    n = start_node(cfg_overrides=dict(ANON, admin_key="s" * 32))
    assert requests.get(n.g + "/stat", timeout=T).status_code == 403
    assert requests.get(n.g + "/stat", headers={"X-Forwarded-For": "127.0.0.1"},
                        timeout=T).status_code == 403
    assert requests.get(n.g + "/stat", headers={"X-Admin-Key": "t" * 32},
                        timeout=T).status_code == 403
    assert requests.get(n.g + "/stat", headers={"X-Admin-Key": "s" * 32},
                        timeout=T).status_code == 200
    assert requests.get(n.g + "/stat", params={"admin_key": "s" * 32},
                        timeout=T).status_code == 200


def test_empty_admin_key_fails_closed(start_node):
    n = start_node(cfg_overrides=dict(ANON, admin_key=""))
    assert requests.get(n.g + "/stat", headers={"X-Admin-Key": ""}, timeout=T).status_code == 403
    assert requests.get(n.g + "/stat", params={"admin_key": ""}, timeout=T).status_code == 403


def _sign(method, path, args, body=b"", secret=CLUSTER, t=None):
    def esc(s):
        return s.replace("%", "%25").replace("\n", "%0A").replace("=", "%3D")
    t = int(time.time()) if t is None else t
    bsha = hashlib.sha256(body).hexdigest()
    canon = esc(method) + "\n" + esc(path) + "\n"
    for k, v in args:
        canon += esc(k) + "=" + esc(v) + "\n"
    canon += esc(bsha) + "\n" + str(t)
    sig = hmac.new(secret.encode(), canon.encode(), hashlib.sha256).hexdigest()
    return {"X-Fs-Time": str(t), "X-Fs-Sign": sig, "X-Fs-Body-Sha256": bsha,
            "X-Fs-Peer": "http://127.0.0.1:1"}


PUBLIC = ["/status", "/check_file_exist?md5=" + "0" * 32]
ADMIN = ["/stat", "/search?kw=x", "/list_dir?dir=", "/get_file_info?md5=" + "0" * 32,
         "/repair_stat?date=20240101", "/get_md5s_by_date?date=20240101",
         "/gen_google_secret"]
PEER = ["/sync_delete?pk=" + "0" * 32 + "&md5=" + "0" * 32]


def test_route_matrix(start_node):
    n = start_node(cfg_overrides=dict(ANON, admin_key="m" * 32, cluster_secret=CLUSTER))
    from urllib.parse import urlsplit, parse_qsl
    for kind, routes in (("public", PUBLIC), ("admin", ADMIN), ("peer", PEER)):
        for r in routes:
            u = urlsplit(r)
            path = "/group1" + u.path
            args = parse_qsl(u.query, keep_blank_values=True)
            url = n.url + path
            anon = requests.get(url, params=args, timeout=T).status_code
            adm = requests.get(url, params=args, headers={"X-Admin-Key": "m" * 32},
                               timeout=T).status_code
            peer = requests.get(url, params=args, headers=_sign("GET", path, args),
                                timeout=T).status_code
            forged = requests.get(url, params=args,
                                  headers=_sign("GET", path, args, secret="f" * 32),
                                  timeout=T).status_code
            stale = requests.get(url, params=args,
                                 headers=_sign("GET", path, args, t=int(time.time()) - 600),
                                 timeout=T).status_code
            assert forged == 403 and stale == 403, (r, forged, stale)
            assert peer != 403, (r, "a signed peer call is allowed everywhere")
            if kind == "public":
                assert anon != 403 and adm != 403, r
            elif kind == "admin":
                assert anon == 403 and adm != 403, (r, anon, adm)
            else:
                assert anon == 403 and adm == 403, (r, anon, adm)
    # the upload and download routes are public
    data = payload(100)
    r = _up(n, data)
    assert r.status_code == 200
    assert requests.get(n.url + r.json()["path"], timeout=T).status_code == 200
    # a signed call whose arguments were changed after signing is refused
    path = "/group1/get_file_info"
    h = _sign("GET", path, [("md5", "0" * 32)])
    r = requests.get(n.url + path, params={"md5": "1" * 32}, headers=h, timeout=T)
    assert r.status_code == 403


def test_head_never_changes_state(start_node):
    n = start_node()
    data = payload(400)
    r = _up(n, data)
    path = r.json()["path"]
    h = requests.head(n.g + "/delete", params={"md5": md5(data)}, timeout=T)
    assert h.status_code == 405 and "POST" in h.headers.get("Allow", "")
    assert requests.get(n.url + path, timeout=T).status_code == 200


# ---- HTTPS and connection limits ----------------------------------------------------------

def test_https(start_node):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    n = start_node(cfg_overrides={"enable_https": True}, start=False)
    _self_signed(__import__("pathlib").Path(n.root) / "conf")
    n.start(wait=False)
    base = f"https://127.0.0.1:{n.port}"
    deadline = time.monotonic() + 10
    for _ in range(200):
        try:
            if requests.get(base + "/healthz", verify=False, timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "https node did not come up"
        time.sleep(0.05)
    data = payload(1234)
    r = requests.post(base + "/group1/upload", files={"file": ("t.bin", data)},
                      data={"output": "json"}, verify=False, timeout=T)
    assert r.status_code == 200 and r.json()["url"].startswith("https://"), r.text
    r = requests.get(base + r.json()["path"], verify=False, timeout=T)
    assert r.content == data
    # a body of many TLS records and many pieces (the end-of-stream peek runs after each)
    big = payload(3 * 1024 * 1024 + 17)
    r = requests.post(base + "/group1/upload", files={"file": ("big.bin", big)},
                      data={"output": "json"}, verify=False, timeout=T)
    assert r.status_code == 200 and r.json()["size"] == len(big), r.text
    r = requests.get(base + r.json()["path"], verify=False, timeout=T)
    assert r.content == big
    # plain HTTP on the TLS port is not served
    with pytest.raises(requests.RequestException):
        requests.get(n.url + "/healthz", timeout=3)
    # GnuTLS is opened for the TLS daemon (a plain node never maps it, see test_upload)
    assert [m for m in n.mapped_files() if m.startswith("libgnutls")], sorted(n.mapped_files())


def _self_signed(conf):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(conf / "server.key"),
                    "-out", str(conf / "server.crt")], check=True, capture_output=True,
                   timeout=60)


def test_https_without_loadable_gnutls_fails_start(start_node, tmp_path):
    """GnuTLS is loaded with dlopen when HTTPS is on. A libgnutls.so.30 without GnuTLS's
    functions (found first through LD_LIBRARY_PATH) stops the start with a clear message,
    while a plain node starts with it in the way."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    fake = tmp_path / "libgnutls.so.30"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(fake), "-x", "c", "/dev/null"],
                   check=True, timeout=60)
    env = {"LD_LIBRARY_PATH": str(tmp_path)}
    n = start_node(cfg_overrides={"enable_https": True}, start=False, check_exit=False)
    _self_signed(__import__("pathlib").Path(n.root) / "conf")
    r = n.run_cli([], timeout=20, env=env)
    err = r.stderr.decode(errors="replace")
    assert r.returncode != 0, err
    assert "libgnutls.so.30" in err and "GnuTLS" in err, err
    plain = start_node(start=False)
    plain.env = env
    plain.start()
    assert requests.get(plain.url + "/healthz", timeout=T).status_code == 200


def test_https_missing_certificate_fails_start(start_node):
    n = start_node(cfg_overrides={"enable_https": True}, start=False, check_exit=False)
    r = n.run_cli([], timeout=20)
    assert r.returncode != 0


def test_slow_clients_do_not_block_others(start_node):
    """Many connections that send half a request head and stall (slow-loris) neither block
    other clients nor stay forever: read_timeout closes them."""
    n = start_node(cfg_overrides={"read_timeout": 2})
    import socket as so
    slow = []
    for _ in range(50):
        s = so.create_connection(("127.0.0.1", n.port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    t0 = time.monotonic()
    assert requests.get(n.url + "/healthz", timeout=T).status_code == 200
    assert time.monotonic() - t0 < 2
    time.sleep(3.5)
    closed = 0
    for s in slow:
        s.settimeout(2)
        try:
            closed += s.recv(1) == b""
        except OSError:
            closed += 1
        s.close()
    assert closed == len(slow), f"only {closed} of {len(slow)} stalled connections were closed"


def test_per_ip_connection_limit(start_node):
    """With max_connections_per_ip 4, one address cannot hold more than 4 connections (the
    harness's own readiness probe may still hold one), and service resumes when it lets go."""
    n = start_node(cfg_overrides={"max_connections_per_ip": 4})
    import socket as so
    held, refused = [], False
    try:
        for _ in range(8):
            s = so.create_connection(("127.0.0.1", n.port), timeout=5)
            held.append(s)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                reply = s.recv(4096)
            except OSError:
                reply = b""
            if not reply.startswith(b"HTTP/1.1 200"):
                refused = True
                break
        assert refused and len(held) <= 5, f"{len(held)} connections were all served"
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 5
    for _ in range(100):
        try:
            if requests.get(n.url + "/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_auth_cache_off_by_default_and_on(start_node, auth_server):
    n = start_node(cfg_overrides=dict(ANON, auth_url=auth_server))
    _Auth.seen.clear()
    for _ in range(2):
        assert _up(n, payload(30), headers={"Auth-Token": "good"}).status_code == 200
    assert _Auth.seen.count("good") == 2
    m = start_node(cfg_overrides=dict(ANON, auth_url=auth_server, auth_cache_seconds=30))
    _Auth.seen.clear()
    for _ in range(3):
        assert _up(m, payload(30), headers={"Auth-Token": "good"}).status_code == 200
    assert _Auth.seen.count("good") == 1
    # refusals are never cached
    for _ in range(2):
        assert _up(m, payload(30), headers={"Auth-Token": "bad"}).status_code == 401
    assert _Auth.seen.count("bad") == 2


def _routes_from_table():
    """(path, access, methods) of every route, read from the one route table."""
    import re
    src = (__import__("pathlib").Path(__file__).resolve().parents[2] / "src" / "routes.c").read_text()
    out = []
    for m in re.finditer(r'\{"(/[^"]*)",\s*([A-Z_| 0]+),\s*([A-Z_]+),\s*(ACCESS_[A-Z]+)', src):
        path, flags, methods, access = m.groups()
        out.append((path, "ROUTE_GROUP" in flags, "ROUTE_PREFIX" in flags, methods,
                    access.split("_")[1].lower()))
    return out


def test_every_route_against_every_caller(start_node):
    """Every route of routes.c called as anonymous, admin and peer: admin and peer routes
    refuse the anonymous caller, peer routes refuse a mere admin, a signed peer passes the
    access check everywhere, and a forged signature is refused everywhere."""
    n = start_node(cfg_overrides=dict(ANON, admin_key="m" * 32, cluster_secret=CLUSTER))
    routes = _routes_from_table()
    assert len(routes) >= 20, routes
    seen = set()
    for path, group, prefix, methods, access in routes:
        full = ("/group1" if group else "") + path
        if prefix:
            full += "default/nothing.txt" if full.endswith("/") else "/nothing.txt"
        method = "GET" if methods in ("GET_", "ANY_", "MUT_") else "POST"
        args = [("md5", "0" * 32), ("date", "20240101")]
        url = n.url + full
        def call(headers):
            return requests.request(method, url, params=args, headers=headers, timeout=T,
                                    allow_redirects=False).status_code
        anon = call({})
        adm = call({"X-Admin-Key": "m" * 32})
        peer = call(_sign(method, full, args))
        forged = call(_sign(method, full, args, secret="e" * 32))
        seen.add(access)
        assert forged == 403, (full, "forged signature", forged)
        assert peer != 403, (full, "signed peer", peer)
        if access == "public":
            assert anon != 403, (full, "anonymous on a public route", anon)
        elif access == "admin":
            assert anon == 403 and adm != 403, (full, anon, adm)
        else:
            assert anon == 403 and adm == 403, (full, anon, adm)
    assert seen == {"public", "admin", "peer"}


def test_https_between_peers(start_node):
    """Two nodes on HTTPS replicate to each other, verifying the peer's certificate against
    https_ca_file."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    import tempfile
    a = start_node(start=False)
    b = start_node(start=False)
    d = tempfile.mkdtemp(prefix="fsca-")
    key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", crt], check=True, capture_output=True, timeout=60)
    urls = [f"https://127.0.0.1:{x.port}" for x in (a, b)]
    for x, u, pid in ((a, urls[0], "1"), (b, urls[1], "2")):
        cfg = dict(x.cfg, enable_https=True, host=u, peers=urls, cluster_secret=CLUSTER,
                   peer_id=pid, https_ca_file=crt, auto_repair=False)
        x.write_cfg(cfg)
        conf = __import__("pathlib").Path(x.root) / "conf"
        shutil.copy(key, conf / "server.key")
        shutil.copy(crt, conf / "server.crt")
        x.start(wait=False)
    def up(u):
        try:
            return requests.get(u + "/healthz", verify=crt, timeout=2).status_code == 200
        except requests.RequestException:
            return False
    deadline = time.monotonic() + 15
    for u in urls:
        for _ in range(300):
            if up(u):
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
    data = payload(2222)
    r = requests.post(urls[0] + "/group1/upload", files={"file": ("s.bin", data)},
                      data={"output": "json"}, verify=crt, timeout=T)
    assert r.status_code == 200, r.text
    m = r.json()["md5"]
    deadline = time.monotonic() + 20
    for _ in range(400):
        r = requests.get(urls[1] + "/group1/get_file_info", params={"md5": m},
                         headers={"X-Admin-Key": b.cfg.get("admin_key", "")}, verify=crt,
                         timeout=T)
        if r.status_code == 200:
            break
        assert time.monotonic() < deadline, "no replication over HTTPS"
        time.sleep(0.05)
    shutil.rmtree(d, ignore_errors=True)


def test_tus_creation_honours_auth_token_metadata(start_node, auth_server):
    import base64
    n = start_node(cfg_overrides=dict(ANON, auth_url=auth_server))

    def create(tok=None, header=None):
        md = "filename " + base64.b64encode(b"t.bin").decode()
        if tok is not None:
            md += ",auth_token " + base64.b64encode(tok.encode()).decode()
        h = {"Tus-Resumable": "1.0.0", "Upload-Length": "5", "Upload-Metadata": md}
        if header:
            h["Auth-Token"] = header
        return requests.post(n.g + "/big/upload/", headers=h, timeout=T).status_code

    assert create() == 401
    assert create("bad") == 401
    assert create("good") == 201
    assert create("bad", header="good") == 201  # the header wins, as for POST /upload
