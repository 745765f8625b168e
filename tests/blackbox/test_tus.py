"""Resumable uploads (tus 1.0.0 at G/big/upload/): real clients (tuspy in-process and in a
process killed halfway and resumed from the stored URL, tus-js-client under node, sequential
and parallel/concatenated), every protocol error status, restarts and kill -9 mid-upload,
the finished file's URL and lookup by tus id, partial data never served, and resumable
downloads of the result (aria2c with 4 connections, curl -C -)."""
import base64
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from email.utils import parsedate_to_datetime

import pytest
import requests

from bbutil import T, assert_fail, assert_ok_json, describe, files_under, token, wait_for

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"
TUSJS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tusjs")


def base(node):
    return node.g + "/big/upload/"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def meta(**kv):
    return ",".join(f"{k} {b64(v)}" for k, v in kv.items())


def create(node, length=None, metadata=None, headers=None, body=None):
    h = dict(TUS)
    if length is not None:
        h["Upload-Length"] = str(length)
    if metadata is not None:
        h["Upload-Metadata"] = metadata
    if body is not None:
        h["Content-Type"] = OCTET
    h.update(headers or {})
    return requests.post(base(node), headers=h, data=body, timeout=T)


def new_upload(node, length, **md):
    r = create(node, length, meta(filename=md.pop("filename", token() + ".bin"), **md))
    assert r.status_code == 201, describe(r)
    return r.headers["Location"]


def patch(url, offset, data, headers=None):
    h = dict(TUS)
    h.update({"Upload-Offset": str(offset), "Content-Type": OCTET})
    h.update(headers or {})
    return requests.patch(url, headers=h, data=data, timeout=T)


def head(url, headers=None):
    h = dict(TUS)
    h.update(headers or {})
    return requests.head(url, headers=h, timeout=T)


def upload_id(url):
    return urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[1]


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def fetch(url):
    r = requests.get(url, timeout=(5, 120))
    assert r.status_code == 200, describe(r)
    return r.content


def no_tus_leftovers(node):
    return [p for p in files_under(node.path("data", "tus"))]


def lookup(node, uid):
    return assert_ok_json(requests.get(node.g + "/upload", params={"md5": uid, "output": "json2"},
                                       timeout=T))["data"]


# ---- discovery ------------------------------------------------------------------------------

def test_options_discovery(node):
    r = requests.options(base(node), timeout=T)  # no Tus-Resumable needed here
    assert r.status_code in (200, 204), describe(r)
    assert r.headers["Tus-Version"] == "1.0.0"
    assert r.headers["Tus-Resumable"] == "1.0.0"
    ext = r.headers["Tus-Extension"].split(",")
    for e in ("creation", "creation-with-upload", "termination", "checksum", "expiration",
              "concatenation"):
        assert e in ext, ext
    assert set(r.headers["Tus-Checksum-Algorithm"].split(",")) == {"md5", "sha1"}
    assert "Tus-Max-Size" not in r.headers  # max_upload_size 0: unlimited


def test_options_max_size(start_node):
    n = start_node({"max_upload_size": 4096})
    r = requests.options(base(n), timeout=T)
    assert r.headers.get("Tus-Max-Size") == "4096", describe(r)


def test_without_group_management(start_node):
    n = start_node({"support_group_manage": False})
    r = requests.post(n.url + "/big/upload/", headers={**TUS, "Upload-Length": "3"}, timeout=T)
    assert r.status_code == 201, describe(r)
    loc = r.headers["Location"]
    assert urllib.parse.urlsplit(loc).path.startswith("/big/upload/"), loc
    p = patch(loc, 0, b"abc")
    assert p.status_code == 204, describe(p)
    assert fetch(p.headers["X-Fileserver-Url"]) == b"abc"


# ---- real clients -----------------------------------------------------------------------------

def test_tuspy_upload_5mib(node, tmp_path):
    client = pytest.importorskip("tusclient.client",
                                 reason="python3-tuspy missing (tools/install-deps.sh --test)")
    data = os.urandom(5 * 1024 * 1024 + 7)
    name = token() + ".dat"
    f = tmp_path / name
    f.write_bytes(data)
    c = client.TusClient(base(node))
    up = c.uploader(file_path=str(f), chunk_size=1024 * 1024, metadata={"filename": name})
    up.upload()
    assert up.offset == len(data)
    url = up.url
    assert url.startswith(base(node)), url
    # HEAD on the finished upload tells where the file went
    h = head(url)
    assert h.status_code == 200, describe(h)
    assert h.headers["Upload-Offset"] == h.headers["Upload-Length"] == str(len(data))
    file_url = h.headers["X-Fileserver-Url"]
    assert name in file_url
    assert fetch(file_url) == data
    rec = lookup(node, upload_id(url))
    assert rec["md5"] == hashlib.md5(data).hexdigest()
    assert rec["size"] == len(data)
    assert rec["url"] == file_url
    assert no_tus_leftovers(node) == []
    assert os.listdir(node.path("data", "tmp")) == []


def test_tuspy_with_checksums_and_empty_metadata(node, tmp_path):
    client = pytest.importorskip("tusclient.client",
                                 reason="python3-tuspy missing (tools/install-deps.sh --test)")
    data = os.urandom(300 * 1024)
    f = tmp_path / "x.bin"
    f.write_bytes(data)
    c = client.TusClient(base(node))
    # no metadata: tuspy sends an empty Upload-Metadata header, which must be accepted
    up = c.uploader(file_path=str(f), chunk_size=100 * 1024, upload_checksum=True)
    up.upload()
    rec = lookup(node, upload_id(up.url))
    assert rec["md5"] == hashlib.md5(data).hexdigest()
    assert fetch(rec["url"]) == data


TUSPY_SCRIPT = r"""
import sys, time
from tusclient import client
endpoint, path, chunk, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
url = sys.argv[5] if len(sys.argv) > 5 else None
c = client.TusClient(endpoint)
up = c.uploader(file_path=path, chunk_size=chunk, url=url, retries=5, retry_delay=1,
                metadata={"filename": path.rsplit("/", 1)[1]})
size = up.get_file_size()
while up.offset < size:
    up.upload_chunk()
    print(up.url, up.offset, flush=True)
    time.sleep(pause)
print("DONE", up.url, flush=True)
"""


def test_tuspy_killed_halfway_then_resumed(node, tmp_path):
    pytest.importorskip("tusclient.client",
                        reason="python3-tuspy missing (tools/install-deps.sh --test)")
    data = os.urandom(4 * 1024 * 1024)
    name = token() + ".bin"
    f = tmp_path / name
    f.write_bytes(data)
    chunk = 256 * 1024
    p = subprocess.Popen([sys.executable, "-c", TUSPY_SCRIPT, base(node), str(f), str(chunk),
                          "0.05"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url, offset = None, 0
    try:
        for _ in range(100):
            line = p.stdout.readline()
            assert line, f"uploader ended early: {p.stderr.read()}"
            url, off = line.split()
            offset = int(off)
            if offset >= len(data) // 2:
                break
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.wait(timeout=10)
    assert 0 < offset < len(data)
    # the server kept at least what it acknowledged, and never claims more than was sent
    h = head(url)
    assert h.status_code == 200, describe(h)
    assert offset <= int(h.headers["Upload-Offset"]) < len(data)
    # a new process resumes from the stored URL
    r = subprocess.run([sys.executable, "-c", TUSPY_SCRIPT, base(node), str(f), str(chunk), "0",
                        url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == f"DONE {url}"
    rec = lookup(node, upload_id(url))
    assert fetch(rec["url"]) == data
    assert no_tus_leftovers(node) == []


@pytest.fixture(scope="module")
def tusjs():
    node_bin, npm = shutil.which("node"), shutil.which("npm")
    if not node_bin or not npm:
        pytest.skip("node/npm missing (tools/install-deps.sh --test)")
    if not os.path.isdir(os.path.join(TUSJS_DIR, "node_modules", "tus-js-client")):
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=TUSJS_DIR,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"npm ci failed: {r.stdout}\n{r.stderr}"
    return node_bin


def run_tusjs(node_bin, node, path, chunk=None, parallel=None):
    argv = [node_bin, os.path.join(TUSJS_DIR, "upload.js"), base(node), str(path)]
    argv += [str(chunk or 0) if chunk or parallel else None, str(parallel) if parallel else None]
    argv = [a for a in argv if a is not None]
    r = subprocess.run(argv, cwd=TUSJS_DIR, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"tus-js-client failed: {r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_tusjs_upload(tusjs, node, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    f = tmp_path / (token() + ".bin")
    f.write_bytes(data)
    out = run_tusjs(tusjs, node, f, chunk=1024 * 1024)
    assert out["fileUrl"], out
    assert f.name in out["fileUrl"]
    assert fetch(out["fileUrl"]) == data
    assert lookup(node, upload_id(out["uploadUrl"]))["url"] == out["fileUrl"]


def test_tusjs_parallel_upload_uses_concatenation(tusjs, node, tmp_path):
    data = os.urandom(2 * 1024 * 1024 + 5)
    f = tmp_path / (token() + ".bin")
    f.write_bytes(data)
    out = run_tusjs(tusjs, node, f, parallel=2)
    assert out["fileUrl"], out
    assert fetch(out["fileUrl"]) == data
    assert no_tus_leftovers(node) == []  # the partial uploads went with the final


# ---- creation ----------------------------------------------------------------------------------

def test_creation_headers(node):
    r = create(node, 10, meta(filename="a.txt"))
    assert r.status_code == 201, describe(r)
    loc = r.headers["Location"]
    assert loc.startswith(base(node)) and len(upload_id(loc)) == 32, loc
    assert r.headers["Tus-Resumable"] == "1.0.0"
    assert r.headers["Upload-Offset"] == "0"
    exp = parsedate_to_datetime(r.headers["Upload-Expires"]).timestamp()
    assert 23 * 3600 < exp - time.time() < 25 * 3600
    h = head(loc)
    assert h.status_code == 200, describe(h)
    assert h.headers["Upload-Offset"] == "0" and h.headers["Upload-Length"] == "10"
    assert h.headers["Cache-Control"] == "no-store"
    assert h.headers["Upload-Metadata"] == meta(filename="a.txt")


def test_location_follows_host_header(node):
    r = create(node, 3, headers={"Host": "files.example.com:8080"})
    assert r.status_code == 201, describe(r)
    assert r.headers["Location"].startswith("http://files.example.com:8080/group1/big/upload/")
    r = create(node, 3, headers={"X-Forwarded-Host": "cdn.example.org",
                                 "X-Forwarded-Proto": "https"})
    assert r.headers["Location"].startswith("https://cdn.example.org/group1/big/upload/")


def test_creation_with_upload(node):
    data = os.urandom(1000)
    r = create(node, len(data), meta(filename=token() + ".bin"), body=data)
    assert r.status_code == 201, describe(r)
    assert r.headers["Upload-Offset"] == str(len(data))
    assert fetch(r.headers["X-Fileserver-Url"]) == data
    # part of the data with the creation, the rest by PATCH
    r = create(node, len(data), meta(filename=token() + ".bin"), body=data[:400])
    assert r.status_code == 201 and r.headers["Upload-Offset"] == "400", describe(r)
    p = patch(r.headers["Location"], 400, data[400:])
    assert p.status_code == 204, describe(p)
    assert fetch(p.headers["X-Fileserver-Url"]) == data


def test_deferred_length(node):
    r = create(node, None, meta(filename=token() + ".bin"), headers={"Upload-Defer-Length": "1"})
    assert r.status_code == 201, describe(r)
    url = r.headers["Location"]
    h = head(url)
    assert h.headers.get("Upload-Defer-Length") == "1" and "Upload-Length" not in h.headers
    assert patch(url, 0, b"abc").status_code == 204
    p = patch(url, 3, b"def", {"Upload-Length": "6"})
    assert p.status_code == 204, describe(p)
    assert fetch(p.headers["X-Fileserver-Url"]) == b"abcdef"


def test_creation_bad_requests(node):
    assert_fail(create(node, None), 400)  # neither Upload-Length nor Upload-Defer-Length
    assert_fail(create(node, 5, headers={"Upload-Defer-Length": "1"}), 400)
    assert_fail(create(node, None, headers={"Upload-Defer-Length": "2"}), 400)
    assert_fail(create(node, -1), 400)
    assert_fail(create(node, "12x"), 400)
    assert_fail(create(node, 0, meta(filename="e.txt")), 400)  # an empty file
    assert_fail(create(node, 5, "filename !!!"), 400)
    assert_fail(create(node, 5, "filename YQ==,filename YQ=="), 400)
    assert_fail(create(node, 5, "a" * 4097), 400)
    assert_fail(create(node, 5, headers={"Upload-Concat": "middle"}), 400)
    r = requests.post(base(node) + "0123456789abcdef0123456789abcdef",
                      headers={**TUS, "Upload-Length": "5"}, timeout=T)
    assert r.status_code == 404, describe(r)
    # an empty Upload-Metadata header is fine
    assert create(node, 5, "").status_code == 201


def test_missing_tus_resumable_412(node):
    url = new_upload(node, 5)
    for r in (requests.post(base(node), headers={"Upload-Length": "5"}, timeout=T),
              requests.patch(url, headers={"Upload-Offset": "0", "Content-Type": OCTET},
                             data=b"abc", timeout=T),
              requests.delete(url, timeout=T),
              requests.post(base(node), headers={"Tus-Resumable": "0.2.2",
                                                 "Upload-Length": "5"}, timeout=T)):
        assert_fail(r, 412)
        assert r.headers.get("Tus-Version") == "1.0.0", describe(r)
    h = requests.head(url, timeout=T)
    assert h.status_code == 412, describe(h)
    assert head(url).headers["Upload-Offset"] == "0"  # nothing was written


def test_oversize_413(start_node):
    n = start_node({"max_upload_size": 1000})
    r = create(n, 1001)
    assert_fail(r, 413)
    url = new_upload(n, 10)
    assert_fail(patch(url, 0, b"x" * 11), 413)  # past the upload's length
    assert head(url).headers["Upload-Offset"] == "0"
    # deferred length: the body is bounded by max_upload_size
    r = create(n, None, meta(filename="d.bin"), headers={"Upload-Defer-Length": "1"})
    assert r.status_code == 201
    assert_fail(patch(r.headers["Location"], 0, b"y" * 10, {"Upload-Length": "1001"}), 413)
    assert create(n, 1000, meta(filename="ok.bin")).status_code == 201


def test_read_only_403(start_node):
    n = start_node({"read_only": True})
    assert_fail(create(n, 5), 403)


class _Auth(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"ok" if self.headers.get("Auth-Token") == "good" else b'{"data":"no"}'
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


def test_auth_url_guards_creation(start_node, auth_server):
    n = start_node({"auth_url": auth_server, "auth_timeout": 2})
    assert_fail(create(n, 5, meta(filename="a.bin")), 401)
    assert_fail(create(n, 5, meta(filename="a.bin"), headers={"Auth-Token": "bad"}), 401)
    r = create(n, 5, meta(filename="a.bin"), headers={"Auth-Token": "good"})
    assert r.status_code == 201, describe(r)
    p = patch(r.headers["Location"], 0, b"12345")  # the upload URL is the capability now
    assert p.status_code == 204, describe(p)


def test_ttl_metadata(node):
    assert_fail(create(node, 5, meta(filename="t.bin", ttl="soon")), 400)
    assert_fail(create(node, 5, meta(filename="t.bin", ttl="0")), 400)
    url = new_upload(node, 5, ttl="3600")
    p = patch(url, 0, os.urandom(5))
    assert p.status_code == 204, describe(p)
    assert p.headers["X-Fileserver-Url"]


def test_tus_disabled_404(start_node):
    n = start_node({"enable_tus": False})
    assert_fail(create(n, 5), 404)
    assert requests.options(base(n), timeout=T).status_code == 404


def test_extensions_refused_at_creation(start_node):
    n = start_node({"extensions": [".txt"]})
    assert_fail(create(n, 5, meta(filename="evil.exe")), 403)
    assert_fail(create(n, 5, None), 403)  # no name: it would get no allowed extension
    url = create(n, 5, meta(filename="fine.TXT")).headers["Location"]
    p = patch(url, 0, os.urandom(5))
    assert p.status_code == 204, describe(p)
    assert "fine.TXT" in p.headers["X-Fileserver-Url"]


def test_scene_whitelist_and_metadata_placement(start_node):
    n = start_node({"scenes": ["pics"], "enable_custom_path": True})
    assert_fail(create(n, 5, meta(filename="a.bin", scene="other")), 400)
    data = os.urandom(50)
    url = new_upload(n, len(data), scene="pics")
    p = patch(url, 0, data)
    assert p.status_code == 204, describe(p)
    assert "/group1/pics/" in p.headers["X-Fileserver-Url"]
    rec = json.loads(p.headers["X-Fileserver-Record"])
    assert rec["scene"] == "pics" and rec["md5"] == hashlib.md5(data).hexdigest()
    # a custom path from the metadata (only with enable_custom_path)
    d = token()
    url = new_upload(n, 5, scene="pics", path=f"{d}/sub")
    p = patch(url, 0, b"12345")
    assert p.status_code == 204, describe(p)
    assert f"/group1/{d}/sub/" in p.headers["X-Fileserver-Url"]
    assert_fail(create(n, 5, meta(filename="a.bin", scene="pics", path="../x")), 400)


# ---- PATCH --------------------------------------------------------------------------------------

def test_bad_offset_409(node):
    url = new_upload(node, 10)
    assert_fail(patch(url, 3, b"abc"), 409)
    assert patch(url, 0, b"abc").status_code == 204
    assert_fail(patch(url, 0, b"abc"), 409)
    assert_fail(patch(url, 4, b"abc"), 409)
    assert head(url).headers["Upload-Offset"] == "3"
    assert_fail(patch(url, "x", b"abc"), 400)
    r = requests.patch(url, headers={**TUS, "Content-Type": OCTET}, data=b"abc", timeout=T)
    assert_fail(r, 400)  # no Upload-Offset


def test_wrong_content_type_415(node):
    url = new_upload(node, 10)
    for ct in ("application/octet-stream", "text/plain", None):
        h = {"Content-Type": ct} if ct else {}
        r = requests.patch(url, headers={**TUS, "Upload-Offset": "0", **h}, data=b"abc", timeout=T)
        assert_fail(r, 415)
    assert head(url).headers["Upload-Offset"] == "0"


def test_bad_checksum_460(node):
    data = os.urandom(100)
    url = new_upload(node, 200)
    r = patch(url, 0, data, {"Upload-Checksum": "md5 " + md5_b64(b"something else")})
    assert_fail(r, 460)
    assert head(url).headers["Upload-Offset"] == "0"  # the chunk was discarded
    r = patch(url, 0, data, {"Upload-Checksum": "md5 " + md5_b64(data)})
    assert r.status_code == 204, describe(r)
    sha = base64.b64encode(hashlib.sha1(data).digest()).decode()
    r = patch(url, 100, data, {"Upload-Checksum": "sha1 " + sha})
    assert r.status_code == 204, describe(r)
    assert fetch(r.headers["X-Fileserver-Url"]) == data + data
    u2 = new_upload(node, 10)
    assert_fail(patch(u2, 0, b"abc", {"Upload-Checksum": "crc32 AAAAAA=="}), 400)
    assert_fail(patch(u2, 0, b"abc", {"Upload-Checksum": "md5 nope"}), 400)


def test_unknown_upload_404(node):
    unknown = base(node) + "0123456789abcdef0123456789abcdef"
    assert head(unknown).status_code == 404
    assert_fail(patch(unknown, 0, b"abc"), 404)
    assert_fail(requests.delete(unknown, headers=TUS, timeout=T), 404)
    for bad in ("nothex", "0123456789ABCDEF0123456789ABCDEF", "..%2F..%2Fconf%2Fcfg.json",
                "0123456789abcdef0123456789abcdef/x"):
        assert head(base(node) + bad).status_code == 404, bad
        assert_fail(patch(base(node) + bad, 0, b"abc"), 404)
    assert_fail(requests.get(unknown, timeout=T), 404)


def test_termination(node):
    url = new_upload(node, 10)
    assert patch(url, 0, b"abc").status_code == 204
    r = requests.delete(url, headers=TUS, timeout=T)
    assert r.status_code == 204, describe(r)
    assert head(url).status_code == 410
    assert_fail(patch(url, 3, b"def"), 410)
    assert_fail(requests.delete(url, headers=TUS, timeout=T), 410)
    assert no_tus_leftovers(node) == []
    # a finished upload is a stored file now: not terminated through tus
    url = new_upload(node, 3)
    p = patch(url, 0, b"xyz")
    assert p.status_code == 204
    assert_fail(requests.delete(url, headers=TUS, timeout=T), (404, 410))
    assert fetch(p.headers["X-Fileserver-Url"]) == b"xyz"


def test_patch_after_finish(node):
    data = os.urandom(10)
    url = new_upload(node, len(data))
    assert patch(url, 0, data).status_code == 204
    r = patch(url, len(data), b"")  # a client repeating its last step learns it is done
    assert r.status_code == 204, describe(r)
    assert r.headers["Upload-Offset"] == str(len(data))
    assert fetch(r.headers["X-Fileserver-Url"]) == data
    assert_fail(patch(url, 0, data), 409)


def test_concatenation_of_two_partials(node):
    a, b = os.urandom(3000), os.urandom(1234)
    urls = []
    for part in (a, b):
        r = create(node, len(part), headers={"Upload-Concat": "partial"})
        assert r.status_code == 201, describe(r)
        h = head(r.headers["Location"])
        assert h.headers["Upload-Concat"] == "partial"
        assert patch(r.headers["Location"], 0, part).status_code == 204
        urls.append(r.headers["Location"])
    # partials are never files
    assert head(urls[0]).headers["Upload-Offset"] == str(len(a))
    assert files_under(node.path("files")) == []
    # relative and absolute URLs may be mixed
    rel = urllib.parse.urlsplit(urls[1]).path
    name = token() + ".joined"
    r = create(node, None, meta(filename=name),
               headers={"Upload-Concat": f"final;{urls[0]} {rel}"})
    assert r.status_code == 201, describe(r)
    assert fetch(r.headers["X-Fileserver-Url"]) == a + b
    assert name in r.headers["X-Fileserver-Url"]
    assert lookup(node, upload_id(r.headers["Location"]))["size"] == len(a) + len(b)
    # the partials were consumed
    assert head(urls[0]).status_code == 404
    assert no_tus_leftovers(node) == []


def test_concatenation_errors(node):
    part = create(node, 5, headers={"Upload-Concat": "partial"}).headers["Location"]
    final = lambda spec: create(node, None, headers={"Upload-Concat": "final;" + spec})  # noqa
    assert_fail(final(part), 400)  # unfinished
    assert patch(part, 0, b"12345").status_code == 204
    assert_fail(final(f"{part} {part}"), 400)  # listed twice
    assert_fail(final(base(node) + "0123456789abcdef0123456789abcdef"), 404)
    normal = new_upload(node, 5)
    assert_fail(final(normal), 400)  # not a partial
    assert_fail(final(""), 400)
    assert_fail(patch(part, 5, b"x"), 413)  # a complete partial takes nothing more


def test_partial_data_never_served(node):
    url = new_upload(node, 1000, filename="secret.txt")
    assert patch(url, 0, b"A" * 500).status_code == 204
    assert files_under(node.path("files")) == []
    uid = upload_id(url)
    assert os.path.exists(node.path("data", "tus", uid + ".bin"))
    for path in (f"/group1/big/upload/{uid}", f"/group1/data/tus/{uid}.bin",
                 f"/group1/../data/tus/{uid}.bin", f"/data/tus/{uid}.bin"):
        r = requests.get(node.url + path, timeout=T)
        assert r.status_code in (400, 404), f"{path}: {describe(r)}"
    r = requests.get(node.g + "/upload", params={"md5": uid, "output": "json2"}, timeout=T)
    assert_fail(r, 404)


# ---- interrupted and concurrent bodies --------------------------------------------------------

def raw_patch_start(node, url, offset, total_len, first):
    path = urllib.parse.urlsplit(url).path
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    s.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
               f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
               f"Content-Type: {OCTET}\r\nContent-Length: {total_len}\r\n\r\n").encode() + first)
    return s


def test_interrupted_patch_keeps_received_bytes(node):
    data = os.urandom(100000)
    url = new_upload(node, len(data))
    s = raw_patch_start(node, url, 0, len(data), data[:60000])
    time.sleep(0.3)
    s.close()  # the connection dies mid-body
    off = wait_for(lambda: int(head(url).headers["Upload-Offset"]) or None, timeout=10,
                   what="offset of the interrupted PATCH")
    assert 0 < off <= 60000
    r = patch(url, off, data[off:])
    assert r.status_code == 204, describe(r)
    assert fetch(r.headers["X-Fileserver-Url"]) == data


def test_concurrent_patch_423(node):
    data = os.urandom(20)
    url = new_upload(node, len(data))
    s = raw_patch_start(node, url, 0, len(data), data[:5])
    try:
        time.sleep(0.3)
        r = patch(url, 0, data)
        assert_fail(r, 423)
        assert_fail(requests.delete(url, headers=TUS, timeout=T), 423)
        s.sendall(data[5:])
        resp = s.recv(65536).decode("latin-1")
        assert resp.startswith("HTTP/1.1 204"), resp
        assert f"Upload-Offset: {len(data)}" in resp
    finally:
        s.close()


# ---- restarts -----------------------------------------------------------------------------------

def test_restart_mid_upload(node):
    data = os.urandom(3 * 1024 * 1024)
    url = new_upload(node, len(data))
    assert patch(url, 0, data[:1024 * 1024]).status_code == 204
    node.restart()
    h = head(url)
    assert h.status_code == 200, describe(h)
    assert h.headers["Upload-Offset"] == str(1024 * 1024)
    assert patch(url, 1024 * 1024, data[1024 * 1024:2 * 1024 * 1024]).status_code == 204
    node.restart()
    r = patch(url, 2 * 1024 * 1024, data[2 * 1024 * 1024:])
    assert r.status_code == 204, describe(r)
    assert fetch(r.headers["X-Fileserver-Url"]) == data


def test_kill9_mid_patch_then_resume(node):
    data = os.urandom(4 * 1024 * 1024)
    mib = 1024 * 1024
    url = new_upload(node, len(data))
    assert patch(url, 0, data[:mib]).status_code == 204
    s = raw_patch_start(node, url, mib, len(data) - mib, data[mib:2 * mib])
    time.sleep(0.5)
    node.kill9()
    s.close()
    node.start()
    off = int(head(url).headers["Upload-Offset"])
    # never more than reached the disk durably; the acknowledged first MiB is there
    assert mib <= off <= 2 * mib
    r = patch(url, off, data[off:])
    assert r.status_code == 204, describe(r)
    assert fetch(r.headers["X-Fileserver-Url"]) == data
    assert no_tus_leftovers(node) == []


# ---- downloads of the result ----------------------------------------------------------------

@pytest.fixture
def big_tus_file(node, tmp_path):
    """A 64 MiB file uploaded with one streamed PATCH; returns (node, path, url)."""
    size = 64 * 1024 * 1024
    src = tmp_path / "src.bin"
    with open(src, "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1024 * 1024))
    url = new_upload(node, size, filename=token() + ".bin")
    hwm0 = node.vm_hwm_kib()
    with open(src, "rb") as f:
        r = requests.patch(url, headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTET},
                           data=f, timeout=(5, 300))
    assert r.status_code == 204, describe(r)
    grown = node.vm_hwm_kib() - hwm0
    assert grown < 40 * 1024, f"node memory grew {grown} KiB during a 64 MiB PATCH"
    return node, src, r.headers["X-Fileserver-Url"]


def same_file(a, b):
    return os.path.getsize(a) == os.path.getsize(b) and \
        hashlib.md5(open(a, "rb").read()).digest() == hashlib.md5(open(b, "rb").read()).digest()


def test_aria2c_multi_connection_download(big_tus_file, tmp_path):
    aria2c = shutil.which("aria2c")
    if not aria2c:
        pytest.skip("aria2c missing (tools/install-deps.sh --test installs aria2)")
    node, src, url = big_tus_file
    out = tmp_path / "dl"
    out.mkdir()
    r = subprocess.run([aria2c, "-x4", "-s4", "-k1M", "--min-split-size=1M", "--allow-overwrite",
                        "--auto-file-renaming=false", "--console-log-level=warn",
                        "--summary-interval=0", "-d", str(out), "-o", "got.bin", url],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert same_file(out / "got.bin", src)


def test_curl_resumes_interrupted_download(big_tus_file, tmp_path):
    node, src, url = big_tus_file
    out = tmp_path / "curl.bin"
    # cut short by a rate limit and a deadline, like a dropped connection
    r = subprocess.run(["curl", "-sS", "--limit-rate", "4M", "--max-time", "1", "-o", str(out),
                        url], capture_output=True, text=True, timeout=60)
    assert r.returncode == 28, r.stderr
    part = os.path.getsize(out)
    assert 0 < part < os.path.getsize(src)
    r = subprocess.run(["curl", "-sS", "-f", "-C", "-", "-o", str(out), url], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert same_file(out, src)


def test_small_tus_upload_is_merged(start_node):
    """With enable_merge_small_file a finished tus upload under 1 MiB becomes a needle like a
    form upload; a larger one stays a file."""
    n = start_node({"enable_merge_small_file": True})
    small = os.urandom(5000)
    r = create(n, len(small), meta(filename=token() + ".txt"), body=small)
    assert r.status_code == 201, describe(r)
    url = r.headers["X-Fileserver-Url"]
    assert "/haystack/" in url, url
    assert fetch(url) == small
    big = os.urandom(1 << 20)
    r = create(n, len(big), meta(filename=token() + ".bin"), body=big)
    assert r.status_code == 201, describe(r)
    assert "/haystack/" not in r.headers["X-Fileserver-Url"]
    assert fetch(r.headers["X-Fileserver-Url"]) == big
    no_tus_leftovers(n)
