"""Downloads: headers, conditional requests, ranges, Content-Disposition, 404s, directory
listing, and every way of naming a path outside the store (raw request paths, symlinks)."""
import os
import threading
import time
import urllib.parse
from email.utils import formatdate, parsedate_to_datetime

import pytest
import requests

from bbutil import (T, assert_fail, describe, md5, multipart_stream, new_boundary,
                    payload, raw_path_request, temp_files, token, upload, wait_for)


def _hostname():
    try:
        with open("/etc/hostname", "rb") as f:
            return f.read().strip()
    except OSError:
        return b""


def _up(node, data, name, **fields):
    f = {"output": "json"}
    f.update(fields)
    r = upload(requests, node, data, name, f)
    assert r.status_code == 200, describe(r)
    return r.json()


def test_get_and_head_headers(node):
    cases = [(".txt", "text/plain"), (".json", "application/json"), (".png", "image/png"),
             (".qqzz", "application/octet-stream")]
    bad = []
    for ext, ctype in cases:
        data = payload(3000)
        j = _up(node, data, token() + ext)
        u = node.url + j["path"]
        g = requests.get(u, params={"download": "0"}, timeout=T)
        if g.status_code != 200 or g.content != data:
            bad.append(f"{ext}: GET {describe(g)}")
            continue
        h = g.headers
        if h.get("Content-Length") != str(len(data)):
            bad.append(f"{ext}: Content-Length {h.get('Content-Length')}")
        if not h.get("Content-Type", "").startswith(ctype):
            bad.append(f"{ext}: Content-Type {h.get('Content-Type')!r}, want {ctype}")
        if not h.get("ETag"):
            bad.append(f"{ext}: no ETag")
        if not h.get("Last-Modified"):
            bad.append(f"{ext}: no Last-Modified")
        else:
            try:
                parsedate_to_datetime(h["Last-Modified"])
            except (TypeError, ValueError):
                bad.append(f"{ext}: unparsable Last-Modified {h['Last-Modified']!r}")
        hd = requests.head(u, params={"download": "0"}, timeout=T)
        if hd.status_code != 200 or hd.content != b"":
            bad.append(f"{ext}: HEAD {describe(hd)}")
        elif hd.headers.get("Content-Length") != str(len(data)) or \
                hd.headers.get("ETag") != h.get("ETag") or \
                hd.headers.get("Last-Modified") != h.get("Last-Modified"):
            bad.append(f"{ext}: HEAD headers differ from GET: {dict(hd.headers)} vs {dict(h)}")
    assert not bad, "\n".join(bad)


def test_get_with_and_without_query(node):
    data = payload()
    j = _up(node, data, token() + ".bin")
    for u in (j["url"], node.url + j["path"], node.url + j["path"] + "?download=1"):
        g = requests.get(u, timeout=T)
        assert g.status_code == 200 and g.content == data, (u, describe(g))
        assert md5(g.content) == j["md5"]


def test_conditional_etag(node):
    data = payload()
    j = _up(node, data, token() + ".txt")
    u = node.url + j["path"]
    etag = requests.get(u, timeout=T).headers["ETag"]
    r = requests.get(u, headers={"If-None-Match": etag}, timeout=T)
    assert r.status_code == 304 and r.content == b"", describe(r)
    r = requests.get(u, headers={"If-None-Match": '"nope-not-the-etag"'}, timeout=T)
    assert r.status_code == 200 and r.content == data, describe(r)


def test_conditional_if_modified_since(node):
    data = payload()
    j = _up(node, data, token() + ".txt")
    u = node.url + j["path"]
    lm = requests.get(u, timeout=T).headers["Last-Modified"]
    r = requests.get(u, headers={"If-Modified-Since": lm}, timeout=T)
    assert r.status_code == 304, describe(r)
    future = formatdate(time.time() + 86400, usegmt=True)
    r = requests.get(u, headers={"If-Modified-Since": future}, timeout=T)
    assert r.status_code == 304, describe(r)
    past = "Sat, 01 Jan 2000 00:00:00 GMT"
    r = requests.get(u, headers={"If-Modified-Since": past}, timeout=T)
    assert r.status_code == 200 and r.content == data, describe(r)


def test_ranges(node):
    data = payload(1000)
    size = len(data)
    j = _up(node, data, token() + ".bin")
    u = node.url + j["path"]
    bad = []

    def check(rng, status, body=None, crange=None):
        r = requests.get(u, headers={"Range": rng}, timeout=T)
        if r.status_code != status:
            bad.append(f"{rng}: want {status}, got {describe(r)}")
            return
        if body is not None and r.content != body:
            bad.append(f"{rng}: wrong bytes ({len(r.content)} bytes)")
        if crange is not None and r.headers.get("Content-Range") != crange:
            bad.append(f"{rng}: Content-Range {r.headers.get('Content-Range')!r}, want {crange!r}")
        if status in (200, 206) and r.headers.get("Content-Length") != str(len(r.content)):
            bad.append(f"{rng}: Content-Length {r.headers.get('Content-Length')} "
                       f"!= body {len(r.content)}")

    check("bytes=0-9", 206, data[0:10], f"bytes 0-9/{size}")
    check("bytes=5-", 206, data[5:], f"bytes 5-{size - 1}/{size}")
    check("bytes=-7", 206, data[-7:], f"bytes {size - 7}-{size - 1}/{size}")
    check(f"bytes={size - 1}-{size - 1}", 206, data[-1:], f"bytes {size - 1}-{size - 1}/{size}")
    check(f"bytes=10-{size + 500}", 206, data[10:], f"bytes 10-{size - 1}/{size}")
    check(f"bytes={size}-", 416, None, f"bytes */{size}")
    check(f"bytes={size + 10}-{size + 20}", 416, None, f"bytes */{size}")
    check("bytes=abc", 200, data)
    check("bytes=0-1,5-6", 200, data)
    check("items=0-5", 200, data)
    assert not bad, "\n".join(bad)


def test_range_on_head(node):
    data = payload(500)
    j = _up(node, data, token() + ".bin")
    r = requests.head(node.url + j["path"], headers={"Range": "bytes=0-9"}, timeout=T)
    assert r.status_code == 206 and r.headers.get("Content-Range") == f"bytes 0-9/{len(data)}", \
        describe(r)


def _disposition_filename_star(cd):
    for part in cd.split(";"):
        part = part.strip()
        if part.lower().startswith("filename*="):
            v = part[len("filename*="):]
            assert v.lower().startswith("utf-8''"), cd
            return urllib.parse.unquote(v[7:], encoding="utf-8", errors="strict")
    return None


def _disposition_filename(cd):
    for part in cd.split(";"):
        part = part.strip()
        if part.lower().startswith("filename="):
            return part[len("filename="):].strip('"')
    return None


def test_content_disposition_utf8(node):
    data = payload()
    orig = "r\u00e9sum\u00e9 2024.txt"
    j = _up(node, data, orig)
    stored = "r\u00e9sum\u00e92024.txt"            # trimming removed the space
    assert urllib.parse.unquote(j["path"]).endswith("/" + stored), j
    # 1) the URL exactly as returned (default_download, name=<stored name>)
    r = requests.get(j["url"], timeout=T)
    assert r.status_code == 200 and r.content == data, describe(r)
    cd = r.headers.get("Content-Disposition", "")
    assert cd.lower().startswith("attachment"), cd
    assert _disposition_filename_star(cd) == stored, cd
    fb = _disposition_filename(cd)
    assert fb and all(ord(c) < 128 for c in fb), f"filename= must be an ASCII fallback: {cd!r}"
    # 2) an explicit name= carrying the original name with its space
    q = urllib.parse.urlencode({"name": orig, "download": "1"})
    r = requests.get(node.url + urllib.parse.quote(urllib.parse.unquote(j["path"])) + "?" + q,
                     timeout=T)
    assert r.status_code == 200, describe(r)
    cd = r.headers.get("Content-Disposition", "")
    assert cd.lower().startswith("attachment"), cd
    assert _disposition_filename_star(cd) == orig, cd
    fb = _disposition_filename(cd)
    assert fb and all(ord(c) < 128 for c in fb), cd
    # 3) no query at all: default_download -> still an attachment
    r = requests.get(node.url + urllib.parse.quote(urllib.parse.unquote(j["path"])), timeout=T)
    assert r.status_code == 200
    assert r.headers.get("Content-Disposition", "").lower().startswith("attachment"), \
        dict(r.headers)


def test_download_zero_is_inline(node):
    data = payload()
    j = _up(node, data, token() + ".txt")
    r = requests.get(node.url + j["path"], params={"download": "0", "name": "x.txt"}, timeout=T)
    assert r.status_code == 200 and r.content == data
    assert "attachment" not in r.headers.get("Content-Disposition", "").lower(), dict(r.headers)


def test_missing_file_404(node):
    r = requests.get(node.g + "/default/20200101/10/10/7/" + token() + ".txt", timeout=T)
    assert_fail(r, 404)
    r = requests.head(node.g + "/default/20200101/10/10/7/" + token() + ".txt", timeout=T)
    assert r.status_code == 404


def test_post_on_download_url_405(node):
    j = _up(node, payload(), token() + ".txt")
    r = requests.post(node.url + j["path"], data=b"x", timeout=T)
    assert_fail(r, 405)


def test_directory_listing(node):
    name = token() + ".txt"
    j = _up(node, payload(), name)
    d = j["path"].rsplit("/", 1)[0] + "/"
    r = requests.get(node.url + d, timeout=T)
    assert r.status_code == 200, describe(r)
    assert name in r.text, r.text[:500]


def test_directory_listing_disabled(start_node):
    n = start_node({"show_dir": False})
    name = token() + ".txt"
    j = _up(n, payload(), name)
    d = j["path"].rsplit("/", 1)[0]
    for u in (n.url + d + "/", n.g + "/default/", n.url + d):
        r = requests.get(u, timeout=T)       # a redirect to the "/" form is followed
        assert r.status_code == 403, (u, describe(r))
        assert name not in r.text, (u, r.text[:300])


TRAVERSAL_PATHS = [
    "/group1/../conf/cfg.json",
    "/group1/%2e%2e/conf/cfg.json",
    "/group1/%2E%2E/conf/cfg.json",
    "/group1/default/..%2f..%2fconf/cfg.json",
    "/group1/..%2fconf%2fcfg.json",
    "/group1/%2e%2e%2fconf%2fcfg.json",
    "/group1/./../conf/cfg.json",
    "/group1/default/../../conf/cfg.json",
    "/group1/..%5cconf%5ccfg.json",
    "/group1/a%00b",
    "/group1/a%5c..%5cb",
    "/group1/%2e%2e/data/meta/CURRENT",
    "/group1/../data/meta/CURRENT",
    "/group1/..%2fdata%2fmeta%2fCURRENT",
    "/group1/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/hostname",
    "/group1/../../../../../../../../etc/hostname",
    "/../conf/cfg.json",
    "/group1//etc/hostname",
]


def test_traversal_urls_rejected(start_node):
    marker = token()
    n = start_node({"admin_key": marker})
    hostname = _hostname()
    bad = []
    for p in TRAVERSAL_PATHS:
        for method in ("GET", "HEAD"):
            try:
                r = raw_path_request(n.port, method, p)
            except Exception as e:     # noqa: BLE001 - a dropped connection is not a leak
                bad.append(f"{method} {p}: connection error {e!r}")
                continue
            if r.status not in (400, 404):
                bad.append(f"{method} {p}: status {r.status}, want 400/404")
            if marker.encode() in r.body or b'"peer_id"' in r.body or \
                    (hostname and hostname in r.body and len(r.body) < 300):
                bad.append(f"{method} {p}: LEAKED content {r.body[:200]!r}")
    assert not bad, "\n".join(bad)
    assert requests.get(n.url + "/healthz", timeout=T).status_code == 200


def test_symlinks_not_served(start_node):
    marker = token()
    n = start_node({"admin_key": marker})
    files = n.path("files", "default")
    os.makedirs(files, exist_ok=True)
    os.symlink(n.cfg_path, os.path.join(files, "link.json"))
    os.symlink("/etc/hostname", os.path.join(files, "host.txt"))
    os.symlink("../../conf/cfg.json", os.path.join(files, "rel.json"))
    os.symlink(n.path("conf"), os.path.join(files, "confdir"))
    os.symlink("/etc", n.path("files", "etcdir"))
    hostname = _hostname()
    bad = []
    for p in ("/group1/default/link.json", "/group1/default/host.txt",
              "/group1/default/rel.json", "/group1/default/confdir/cfg.json",
              "/group1/default/confdir/", "/group1/etcdir/hostname", "/group1/etcdir/"):
        r = raw_path_request(n.port, "GET", p)
        if r.status not in (400, 403, 404):
            bad.append(f"{p}: status {r.status}, want 403/404/400")
        if marker.encode() in r.body or (hostname and r.body.strip() == hostname) or \
                b"cfg.json" in r.body or b"passwd" in r.body:
            bad.append(f"{p}: LEAKED {r.body[:200]!r}")
    assert not bad, "\n".join(bad)


def test_tmp_not_reachable_during_upload(node):
    """While an upload streams, its temp file exists under ROOT/data/tmp; no URL reaches it."""
    boundary = new_boundary()
    release = threading.Event()
    result = {}
    chunk = os.urandom(64 * 1024)

    def chunks():
        yield chunk
        yield chunk
        release.wait(15)
        yield chunk

    def run():
        try:
            result["r"] = requests.post(
                node.g + "/upload", timeout=(5, 30),
                data=multipart_stream([("output", "json")], token() + ".bin", chunks(), boundary),
                headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
        except Exception as e:       # noqa: BLE001
            result["e"] = e

    t = threading.Thread(target=run)
    t.start()
    try:
        wait_for(lambda: temp_files(node), timeout=10, what="a temp file under ROOT/data/tmp")
        # an anonymous temp has no name: try its /proc name, and the names a guess would use
        tmpnames = temp_files(node) + ["up-0", "#1"]
        bad = []
        for tn in tmpnames:
            for p in (f"/group1/../data/tmp/{tn}", f"/group1/%2e%2e/data/tmp/{tn}",
                      f"/group1/data/tmp/{tn}", f"/data/tmp/{tn}", f"/group1/_tmp/{tn}",
                      "/group1/../data/tmp/", "/group1/%2e%2e/data/"):
                r = raw_path_request(node.port, "GET", p)
                if r.status not in (400, 404):
                    bad.append(f"{p}: {r.status} {r.body[:100]!r}")
                if chunk[:64] in r.body:
                    bad.append(f"{p}: served temp bytes")
    finally:
        release.set()
        t.join(30)
    assert not t.is_alive()
    assert "r" in result and result["r"].status_code == 200, result
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("rng", [
    "bytes=99999999999999999999999-",
    "bytes=0-99999999999999999999999",
    "bytes=-99999999999999999999999",
    "bytes=18446744073709551615-18446744073709551616",
    "bytes=9223372036854775807-",
    "bytes=-9223372036854775808",
    "bytes=-0",
    "bytes=5-2",
    "bytes=--1",
    "bytes=1-2-3",
    "bytes= 0 - 9 ",
    "bytes=" + ",".join(["0-0"] * 2000),
    "bytes=\x7f",
])
def test_absurd_ranges_no_crash(node, rng):
    data = payload(100)
    j = _up(node, data, token() + ".bin")
    try:
        r = requests.get(node.url + j["path"], headers={"Range": rng}, timeout=T)
    except requests.RequestException as e:
        pytest.fail(f"connection error for Range {rng[:60]!r}: {e!r}")
    assert r.status_code in (200, 206, 400, 416), describe(r)
    if r.status_code == 200:
        assert r.content == data
    if r.status_code == 206:
        cr = r.headers.get("Content-Range", "")
        assert cr.startswith("bytes ") and cr.endswith("/100"), cr
        a, b = cr[6:].split("/")[0].split("-")
        assert r.content == data[int(a):int(b) + 1]
    assert requests.get(node.url + "/healthz", timeout=T).status_code == 200


# ---- small files from memory (download_cache_size) -----------------------------------------

def _replace_behind_the_back(n, pause):
    """Writes files/ext/a.txt, downloads it, rewrites it outside the server and, after pause
    seconds, expects the new bytes. Returns the file's path."""
    p = os.path.join(n.root, "files", "ext", "a.txt")
    os.makedirs(os.path.dirname(p))
    with open(p, "wb") as f:
        f.write(b"one")
    assert requests.get(n.g + "/ext/a.txt", timeout=10).content == b"one"
    with open(p, "wb") as f:
        f.write(b"two!")
    if pause:
        time.sleep(pause)
    assert requests.get(n.g + "/ext/a.txt", timeout=10).content == b"two!"
    return p

def test_cached_small_files_stay_correct(start_node):
    """A small file is served from memory after its first download: ranges, HEAD and
    conditional requests still work on it, a delete through the API is seen at once, and a
    file changed or removed behind the server's back within a second (the entry's life)."""
    n = start_node()
    data = os.urandom(3000)
    j = requests.post(n.g + "/upload", files={"file": ("c.bin", data)},
                      data={"output": "json"}, timeout=10).json()
    url = n.url + j["path"]
    first = requests.get(url, timeout=10)
    assert first.content == data
    for _ in range(3):
        r = requests.get(url, timeout=10)
        assert r.status_code == 200 and r.content == data
        assert r.headers["ETag"] == first.headers["ETag"]
        assert r.headers["Last-Modified"] == first.headers["Last-Modified"]
    r = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    r = requests.get(url, headers={"Range": "bytes=5000-"}, timeout=10)
    assert r.status_code == 416
    r = requests.head(url, timeout=10)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(data)
    assert requests.get(url, headers={"If-None-Match": first.headers["ETag"]},
                        timeout=10).status_code == 304
    m = requests.get(n.url + "/metrics", timeout=10).text
    assert "fileserver_download_cache_entries 1\n" in m, m
    assert requests.post(n.g + "/delete", data={"md5": j["md5"]}, timeout=10).status_code == 200
    assert requests.get(url, timeout=10).status_code == 404
    m = requests.get(n.url + "/metrics", timeout=10).text
    assert "fileserver_download_cache_entries 0\n" in m, m

    # behind the server's back: seen once the entry's second is over
    p = _replace_behind_the_back(n, pause=1.2)
    os.unlink(p)
    time.sleep(1.2)
    assert requests.get(n.g + "/ext/a.txt", timeout=10).status_code == 404


def test_download_cache_off(start_node):
    _replace_behind_the_back(start_node({"download_cache_size": 0}), pause=0)
