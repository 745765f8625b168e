"""Bad requests: malformed or truncated multipart bodies, client-named paths that try to leave
the store (file name, filename, path, scene), wrong methods and oversized headers. Each must
get a clean 4xx (or a dropped connection where the client vanished), change nothing on disk,
and leave the node serving."""
import os
import socket
import time

import pytest
import requests

from bbutil import (T, assert_fail, containment_problems, describe, file_md5, files_under,
                    md5, multipart, payload, raw_exchange, temp_files, token, upload, wait_for)


def _alive(node):
    r = requests.get(node.url + "/healthz", timeout=T)
    assert r.status_code == 200, "node stopped serving"


def _leftovers(node):
    left = [os.path.relpath(p, node.root) for p in files_under(node.path("files"))]
    # a temp still open is a leak even when it has no name
    return left + [os.path.join("data", "tmp", e) for e in temp_files(node)]


def _nothing_stored(node, timeout=10):
    """No file under ROOT/files and no temp, named or open (waiting up to timeout for the
    server to clean up after a client that vanished)."""
    deadline = time.monotonic() + timeout
    left = []
    for _ in range(int(timeout / 0.05) + 2):
        left = _leftovers(node)
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert not left, f"left behind after {timeout}s: {left}"


def _req(node, body, ctype, extra_headers=b"", cl=None):
    cl = len(body) if cl is None else cl
    head = (f"POST /group1/upload HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {cl}\r\n").encode() + extra_headers + \
        b"Connection: close\r\n\r\n"
    return head


# ---- malformed multipart --------------------------------------------------------------------

def test_missing_file_part(node):
    body, ctype = multipart([("scene", "default"), ("output", "json")])
    r = requests.post(node.g + "/upload", data=body, headers={"Content-Type": ctype}, timeout=T)
    assert_fail(r, 400)
    # a file part under another field name is not the file
    body, ctype = multipart([("output", "json")], ("other", "a.txt", payload()))
    r = requests.post(node.g + "/upload", data=body, headers={"Content-Type": ctype}, timeout=T)
    assert_fail(r, 400)
    _nothing_stored(node)


def test_not_multipart(node):
    r = requests.post(node.g + "/upload", data={"a": "b", "output": "json"}, timeout=T)
    assert_fail(r, 400)
    r = requests.post(node.g + "/upload", data=payload(), timeout=T,
                      headers={"Content-Type": "application/octet-stream"})
    assert_fail(r, 400)
    r = requests.post(node.g + "/upload", data=b"", timeout=T)
    assert_fail(r, 400)
    _nothing_stored(node)


@pytest.mark.parametrize("ctype", [
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "multipart/form-data; boundary=\"\"",
    "multipart/form-data; charset=utf-8",
    "multipart/form-data; boundary=" + "x" * 300,
])
def test_multipart_without_usable_boundary(node, ctype):
    body, _ = multipart([("output", "json")], ("a.txt", payload()), boundary="abc")
    r = requests.post(node.g + "/upload", data=body, headers={"Content-Type": ctype}, timeout=T)
    assert_fail(r, 400)
    _nothing_stored(node)


def test_wrong_boundary_in_body(node):
    body, _ = multipart([("output", "json")], ("a.txt", payload()), boundary="realboundary")
    r = requests.post(node.g + "/upload", data=body, timeout=T,
                      headers={"Content-Type": "multipart/form-data; boundary=otherboundary"})
    assert_fail(r, 400)
    _nothing_stored(node)


def test_garbage_multipart_headers(node):
    b = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n" + \
        b"X" * 20000 + b"\r\n\r\ndata\r\n--B--\r\n"
    r = requests.post(node.g + "/upload", data=b, timeout=T,
                      headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert_fail(r, (400, 413, 431))
    b = b"--B\r\nno colon here\r\n\r\ndata\r\n--B--\r\n"
    r = requests.post(node.g + "/upload", data=b, timeout=T,
                      headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert_fail(r, 400)
    _nothing_stored(node)
    _alive(node)


# ---- truncated bodies ----------------------------------------------------------------------

def test_truncated_missing_closing_boundary(node):
    body, ctype = multipart([("output", "json")], ("a.txt", payload(50000)), close=False)
    resp, raw, err = raw_exchange(node.port, [_req(node, body, ctype), body], read_timeout=10)
    assert resp is not None, f"no response ({err}); got {raw[:200]!r}"
    assert resp.status == 400, resp
    _nothing_stored(node)
    _alive(node)


def test_truncated_body_cut_off_mid_part(node):
    body, ctype = multipart([("output", "json")], ("a.txt", payload(50000)))
    cut = body[:len(body) // 2]
    resp, raw, err = raw_exchange(node.port, [_req(node, body, ctype), cut],
                                  read_timeout=10, shutdown_write=True)
    # Either a 400 or the connection dropped; never a success.
    if resp is not None:
        assert resp.status == 400, resp
    _nothing_stored(node)
    _alive(node)


def _close_after(node, s, when):
    """Closes the client socket right away, or once the upload's temp file exists (so the
    server is known to be mid-body when the client vanishes)."""
    if when == "after-temp-file":
        try:
            wait_for(lambda: temp_files(node), timeout=5, what="a temp file")
        except AssertionError:
            pass                # the server may not spool yet; the close still must be clean
    s.close()
    time.sleep(1.0)             # let the server see the EOF before checking it cleaned up


@pytest.mark.parametrize("when", ["immediately", "after-temp-file"])
def test_truncated_content_length_larger_then_close(node, when):
    body, ctype = multipart([("output", "json")], ("a.txt", payload(200000)))
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    try:
        s.sendall(_req(node, body, ctype, cl=len(body) + 100000))
        s.sendall(body)
    finally:
        _close_after(node, s, when)
    _nothing_stored(node)
    _alive(node)


@pytest.mark.parametrize("when", ["immediately", "after-temp-file"])
def test_truncated_chunked_then_close(node, when):
    body, ctype = multipart([("output", "json")], ("a.txt", payload(100000)))
    head = (f"POST /group1/upload HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
            f"Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    part = body[:60000]
    chunk = b"%x\r\n" % len(part) + part + b"\r\n"
    s = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    try:
        s.sendall(head + chunk)
    finally:
        _close_after(node, s, when)
    _nothing_stored(node)
    _alive(node)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("size", [5000, 300000])
def test_half_closed_after_a_complete_body_is_answered(node, framing, size):
    """A client may close its side once the whole body is sent: that is not a vanished
    client, and the upload must succeed (the checks for cut-short bodies must not fire)."""
    data = payload(size)
    body, ctype = multipart([("output", "json")], ("half.bin", data))
    if framing == "chunked":
        head = (f"POST /group1/upload HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
                f"Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n"
                "Connection: close\r\n\r\n").encode()
        parts = [head] + [b"%x\r\n" % len(body[i:i + 65536]) + body[i:i + 65536] + b"\r\n"
                          for i in range(0, len(body), 65536)] + [b"0\r\n\r\n"]
    else:
        parts = [_req(node, body, ctype), body]
    resp, raw, err = raw_exchange(node.port, [b"".join(parts)], read_timeout=15,
                                  shutdown_write=True)
    assert resp is not None and resp.status == 200, (err, raw[:300])
    g = requests.get(node.g + "/get_file_info", params={"md5": md5(data)}, timeout=T)
    assert g.status_code == 200 and g.json()["data"]["size"] == size, describe(g)


def test_content_length_smaller_than_body(node):
    body, ctype = multipart([("output", "json")], ("a.txt", payload(5000)))
    resp, raw, err = raw_exchange(node.port, [_req(node, body, ctype, cl=len(body) - 100), body],
                                  read_timeout=10)
    if resp is not None:
        assert resp.status == 400, resp
    _nothing_stored(node)
    _alive(node)


# ---- names that try to leave the store -------------------------------------------------------

def _try(node, field, value, upload_name, tok, must_400, bad):
    conf_before = set(os.listdir(node.path("conf")))
    fields = [("output", "json")]
    if field:
        fields.append((field, value))
    data = payload()
    try:
        r = upload(requests, node, data, upload_name, fields)
    except requests.RequestException as e:
        bad.append(f"{field}={value!r}: connection error {e!r}")
        return
    label = f"{field or 'upload name'}={value if field else upload_name!r}"
    if must_400:
        try:
            assert_fail(r, 400)
        except AssertionError as e:
            bad.append(f"{label}: must be rejected with 400: {e}")
    elif r.status_code not in (200, 400):
        bad.append(f"{label}: want 200 or 400, got {describe(r)}")
    if r.status_code == 200:
        j = r.json()
        p = j.get("path", "")
        if ".." in p.split("/"):
            bad.append(f"{label}: returned path has '..': {p!r}")
        stored = [f for f in files_under(node.path("files")) if file_md5(f) == md5(data)]
        if not stored:
            bad.append(f"{label}: 200 but the bytes are not under ROOT/files")
        g = requests.get(j["url"], timeout=T)
        if g.status_code != 200 or g.content != data:
            bad.append(f"{label}: returned URL does not serve the bytes: {describe(g)}")
    for p in containment_problems(node, tok, conf_before):
        bad.append(f"{label}: {p}")


def test_upload_name_traversal(node):
    bad = []
    for fmt in ("../../{t}", "..\\..\\{t}", "%2e%2e/{t}", "..%2f..%2f{t}",
                "../../../../../../../../../../tmp/{t}", "/etc/{t}", "/{t}",
                "..", "...", "....//{t}", "..\\", "./{t}", "{t}/..", "C:\\..\\{t}",
                "{t}\x00.txt", "\x00", "{t}\r\nX: y"):
        tok = token()
        _try(node, None, None, fmt.format(t=tok), tok, False, bad)
    assert not bad, "\n".join(bad)
    _alive(node)


def test_filename_field_traversal(node):
    bad = []
    for fmt, must in (("../{t}", True), ("a/../../{t}", True), ("..", True),
                      ("{t}/..", True), ("../../../../../../../../tmp/{t}", True),
                      ("x\x00{t}", True), ("a\\{t}", True), ("..\\{t}", True),
                      ("/etc/{t}", False), ("/{t}", False), ("a/b/{t}", False),
                      ("./{t}", False), ("{t}\n", False)):
        tok = token()
        _try(node, "filename", fmt.format(t=tok), "plain.txt", tok, must, bad)
    assert not bad, "\n".join(bad)
    _alive(node)


def test_path_field_traversal(node):
    bad = []
    for fmt, must in (("../../{t}", True), ("a/../../{t}", True), ("..", True),
                      ("../{t}", True), ("{t}/../../..", True), ("a\\..\\{t}", True),
                      ("a\\{t}", True), ("a\x00{t}", True), ("/../{t}", True),
                      ("../../../../../../../../tmp/{t}", True),
                      ("/{t}", False), ("/{t}/sub", False), ("{t}//x", False), ("./{t}", False)):
        tok = token()
        _try(node, "path", fmt.format(t=tok), tok + ".txt", tok, must, bad)
    assert not bad, "\n".join(bad)
    _alive(node)


def test_path_field_absolute_stays_inside(node):
    tok = token()
    data = payload()
    r = upload(requests, node, data, "f.txt", {"output": "json", "path": "/" + tok})
    if r.status_code == 200:
        assert os.path.isfile(node.path("files", tok, "f.txt")), files_under(node.path("files"))
        assert not os.path.exists("/" + tok)
    else:
        assert_fail(r, 400)
    assert not containment_problems(node, tok)


def test_scene_field_traversal(node):
    bad = []
    for fmt, must in (("../{t}", True), ("a/b", True), ("..", True), ("{t}/..", True),
                      ("a\\b", True), ("a\x00b", True), ("/etc", True), ("/{t}", True),
                      ("../../../../../../../../tmp/{t}", True), ("a/../{t}", True),
                      (".", False), ("{t}\n", False)):
        tok = token()
        _try(node, "scene", fmt.format(t=tok), tok + ".txt", tok, must, bad)
    assert not bad, "\n".join(bad)
    _alive(node)


# ---- methods, headers ----------------------------------------------------------------------

def test_upload_wrong_methods(node):
    for m in ("PUT", "DELETE", "PATCH"):
        body, ctype = multipart([], ("a.txt", payload()))
        r = requests.request(m, node.g + "/upload", data=body, headers={"Content-Type": ctype},
                             timeout=T)
        assert_fail(r, 405)
    _nothing_stored(node)


def test_oversized_request_header(node):
    big = b"a" * (64 * 1024)
    req = (f"GET /group1/status HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n").encode() + \
        b"X-Big: " + big + b"\r\nConnection: close\r\n\r\n"
    resp, raw, err = raw_exchange(node.port, [req], read_timeout=10)
    assert resp is not None, f"no HTTP response to a 64 KiB header ({err}); got {raw[:200]!r}"
    assert resp.status in (413, 431), resp
    # a long URL too
    resp, raw, err = raw_exchange(
        node.port, [b"GET /group1/" + b"a" * (64 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n"],
        read_timeout=10)
    assert resp is None or 400 <= resp.status < 500, resp
    # many headers
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
    resp, raw, err = raw_exchange(
        node.port, [b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"], read_timeout=10)
    assert resp is None or resp.status in (200, 413, 431), resp
    _alive(node)


def test_largest_accepted_request_fits_the_connection(node):
    """What the limits accept fits the connection's buffer together: headers up to 16 KiB,
    a URL with the longest path (1024 bytes, every byte percent-encoded) and 64 query
    parameters. The answers are the server's own (JSON), not libmicrohttpd's 414/431."""
    hdrs = {f"X-Pad-{i}": "v" * 980 for i in range(15)}  # 15 × 1 KiB: under 16 KiB in all
    data = payload(5000)
    body, ctype = multipart([("output", "json")], ("big-headers.bin", data))
    r = requests.post(node.g + "/upload", data=body, timeout=T,
                      headers=dict(hdrs, **{"Content-Type": ctype}))
    assert r.status_code == 200 and r.json()["size"] == len(data), describe(r)
    # 1024 bytes of path, every byte escaped: 3 KiB of URL before the query
    seg = "%7E" * 250
    path = "/group1/" + "/".join([seg] * 4) + "/" + "%7E" * 20
    query = "&".join(f"p{i}={'q' * 40}" for i in range(64))
    r = requests.get(node.url + path + "?" + query, headers=hdrs, timeout=T)
    assert r.status_code in (400, 404), describe(r)
    assert r.headers.get("Content-Type", "").startswith("application/json"), describe(r)
    r = requests.get(node.g + "/get_file_info", params={"md5": md5(data)}, headers=hdrs,
                     timeout=T)
    assert r.status_code == 200 and r.json()["data"]["size"] == len(data), describe(r)
    _alive(node)


def test_garbage_request_lines(node):
    post = b"POST /group1/upload HTTP/1.1\r\nHost: x\r\n"
    for req in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                post + b"Content-Length: -5\r\n\r\n",
                post + b"Content-Length: 99999999999999999999\r\n\r\n",
                post + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"):
        resp, raw, err = raw_exchange(node.port, [req], read_timeout=5, shutdown_write=True)
        assert resp is None or resp.status >= 400, (req, resp)
    _nothing_stored(node)
    _alive(node)
