"""POST/GET G/upload: output forms, the FileResult fields, scene/path/filename/md5 fields,
configured limits (scenes, extensions, read_only, max_upload_size) and instant upload."""
import concurrent.futures
import json
import os
import time
import urllib.parse

import pytest
import requests

from bbutil import (T, assert_fail, assert_ok_json, date_path_re, describe, files_under,
                    local_date_parts, md5, multipart_stream, new_boundary, payload,
                    seeded_bytes, stream_upload_cl, token, upload, url_path)

RESULT_KEYS = {"url", "md5", "path", "domain", "scene", "size", "mtime", "scenes", "retmsg",
               "retcode", "src"}


def _date_ok(m, t0, t1):
    got = (m.group(1), m.group(2), m.group(3))
    return got in (local_date_parts(t0), local_date_parts(t1))


def test_upload_text_output_is_bare_url(node):
    data = payload()
    name = token() + ".txt"
    t0 = time.time()
    r = upload(requests, node, data, name)          # no output field: text
    t1 = time.time()
    assert r.status_code == 200, describe(r)
    body = r.text
    assert body == body.strip(), f"text output has surrounding whitespace: {body!r}"
    assert body.startswith(node.url + "/group1/default/"), body
    expect_q = "?name=" + urllib.parse.quote(name) + "&download=1"
    assert body.endswith("/7/" + name + expect_q), body
    m = date_path_re("group1", "default", "7", name).match(url_path(body))
    assert m and _date_ok(m, t0, t1), body
    g = requests.get(body, timeout=T)
    assert g.status_code == 200 and g.content == data, describe(g)


def test_upload_json_fields(node):
    data = payload(1234)
    name = token() + ".bin"
    t0 = time.time()
    r = upload(requests, node, data, name, {"output": "json"})
    t1 = time.time()
    assert r.status_code == 200, describe(r)
    j = r.json()
    assert isinstance(j, dict), describe(r)
    assert RESULT_KEYS <= set(j), f"missing keys {RESULT_KEYS - set(j)} in {j}"
    assert j["md5"] == md5(data)
    assert j["size"] == len(data)
    assert j["scene"] == "default" and j["scenes"] == "default", j
    assert j["retcode"] == 0 and j["retmsg"] == "", j
    assert j["path"] == j["src"], j
    m = date_path_re("group1", "default", "7", name).match(j["path"])
    assert m, j["path"]
    assert _date_ok(m, t0, t1), (j["path"], t0, t1)
    assert isinstance(j["mtime"], int) and int(t0) - 2 <= j["mtime"] <= t1 + 2, j
    assert j["domain"] == node.url, j          # "http://" + request Host header
    assert j["url"] == node.url + j["path"] + "?name=" + urllib.parse.quote(name) + "&download=1", j
    on_disk = node.path("files", *j["path"].split("/")[2:])
    assert os.path.isfile(on_disk), on_disk
    with open(on_disk, "rb") as f:
        assert f.read() == data


def test_upload_json2_envelope(node):
    data = payload()
    name = token() + ".dat"
    r = upload(requests, node, data, name, {"output": "json2"})
    j = assert_ok_json(r)
    assert j.get("message") == "", j
    d = j.get("data")
    assert isinstance(d, dict) and RESULT_KEYS <= set(d), j
    assert d["md5"] == md5(data) and d["size"] == len(data)
    assert d["path"].endswith("/7/" + name)
    g = requests.get(d["url"], timeout=T)
    assert g.status_code == 200 and g.content == data


def test_upload_without_download_default(start_node):
    n = start_node({"default_download": False})
    data = payload()
    name = token() + ".txt"
    j = upload(requests, n, data, name, {"output": "json"}).json()
    assert j["url"] == n.url + j["path"], j


def test_upload_download_domain(start_node):
    n = start_node({"download_domain": "http://files.example.test"})
    data = payload()
    j = upload(requests, n, data, token() + ".txt", {"output": "json"}).json()
    assert j["domain"] == "http://files.example.test", j
    assert j["url"].startswith("http://files.example.test" + j["path"]), j


def test_upload_filename_field_sets_stored_name(node):
    data = payload()
    orig = token() + "-orig.txt"
    trimmed = orig.replace("-", "")
    stored = token() + "_stored.txt"
    j = upload(requests, node, data, orig, {"output": "json", "filename": stored}).json()
    assert j["path"].endswith("/7/" + stored), j
    g = requests.get(node.url + j["path"], timeout=T)
    assert g.status_code == 200 and g.content == data
    info = assert_ok_json(requests.get(node.g + "/get_file_info", params={"md5": j["md5"]},
                                       timeout=T))["data"]
    assert info["name"] == trimmed, info
    assert info["rename"] == stored, info


def test_upload_custom_path(node):
    data = payload()
    name = token() + ".txt"
    d = token()
    j = upload(requests, node, data, name, {"output": "json", "path": d + "/sub"}).json()
    assert j["path"] == f"/group1/{d}/sub/{name}", j
    assert os.path.isfile(node.path("files", d, "sub", name))
    g = requests.get(node.url + j["path"], timeout=T)
    assert g.status_code == 200 and g.content == data


def test_upload_custom_path_ignored_when_disabled(start_node):
    n = start_node({"enable_custom_path": False})
    data = payload()
    name = token() + ".txt"
    d = token()
    r = upload(requests, n, data, name, {"output": "json", "path": d})
    assert r.status_code == 200, describe(r)
    j = r.json()
    assert date_path_re("group1", "default", "7", name).match(j["path"]), j
    assert not os.path.exists(n.path("files", d))


def test_upload_scene(node):
    data = payload()
    name = token() + ".txt"
    j = upload(requests, node, data, name, {"output": "json", "scene": "pics"}).json()
    assert date_path_re("group1", "pics", "7", name).match(j["path"]), j
    assert j["scene"] == "pics"
    g = requests.get(node.url + j["path"], timeout=T)
    assert g.status_code == 200 and g.content == data


def test_upload_md5_field(node):
    data = payload()
    r = upload(requests, node, data, token() + ".txt", {"output": "json", "md5": md5(data)})
    assert r.status_code == 200, describe(r)
    assert r.json()["md5"] == md5(data)
    before = files_under(node.path("files"))
    bad = payload()
    r = upload(requests, node, bad, token() + ".txt", {"output": "json", "md5": md5(b"other")})
    assert_fail(r, 400)
    assert files_under(node.path("files")) == before, "md5 mismatch left a file behind"


def test_upload_name_basename_and_trim(node):
    cases = [
        ("dir/sub/a1.txt", "a1.txt"),
        ("C:\\Users\\x\\b2.txt", "b2.txt"),
        ("my file (1) [v2]{x}+final!.txt", "myfile1v2xfinal.txt"),
        ("a-b_c,d;e'f#g@h%i&j$k^l~m=n.txt", "ab_cdefghijklmn.txt"),
        ("r\u00e9sum\u00e9 2024.txt", "r\u00e9sum\u00e92024.txt"),
    ]
    bad = []
    for sent, want in cases:
        data = payload()
        r = upload(requests, node, data, sent, {"output": "json"})
        if r.status_code != 200:
            bad.append(f"{sent!r}: {describe(r)}")
            continue
        j = r.json()
        if not j["path"].endswith("/7/" + want):
            bad.append(f"{sent!r}: path {j['path']!r}, want name {want!r}")
            continue
        g = requests.get(node.url + urllib.parse.quote(j["path"]), timeout=T)
        if g.status_code != 200 or g.content != data:
            bad.append(f"{sent!r}: download {describe(g)}")
    assert not bad, "\n".join(bad)


def test_upload_bad_output_value(node):
    r = upload(requests, node, payload(), token() + ".txt", {"output": "xml"})
    assert_fail(r, 400)
    assert files_under(node.path("files")) == []


def test_upload_scene_whitelist(start_node):
    n = start_node({"scenes": ["alpha", "beta"], "default_scene": "alpha"})
    r = upload(requests, n, payload(), token() + ".txt", {"output": "json", "scene": "gamma"})
    assert_fail(r, 400)
    assert files_under(n.path("files")) == []
    r = upload(requests, n, payload(), token() + ".txt", {"output": "json", "scene": "beta"})
    assert r.status_code == 200, describe(r)
    assert r.json()["scene"] == "beta"
    r = upload(requests, n, payload(), token() + ".txt", {"output": "json"})
    assert r.status_code == 200 and r.json()["scene"] == "alpha", describe(r)


def test_upload_extension_whitelist(start_node):
    n = start_node({"extensions": [".txt", "png"]})
    r = upload(requests, n, payload(), token() + ".exe", {"output": "json"})
    assert_fail(r, 400)
    r = upload(requests, n, payload(), token() + ".png", {"output": "json"})
    assert r.status_code == 200, describe(r)
    r = upload(requests, n, payload(), token() + ".TXT", {"output": "json"})
    assert r.status_code == 200, "extension check must be case-insensitive: " + describe(r)
    assert len(files_under(n.path("files"))) == 2


def test_upload_extension_whitelist_applies_to_filename_field(start_node):
    # go-fastdfs checked only the uploaded name, so filename= bypassed the list (ref 12.1.1).
    n = start_node({"extensions": [".txt"]})
    r = upload(requests, n, payload(), token() + ".txt",
               {"output": "json", "filename": token() + ".exe"})
    assert_fail(r, 400)
    assert files_under(n.path("files")) == []


def test_upload_read_only(start_node):
    n = start_node({"read_only": True})
    r = upload(requests, n, payload(), token() + ".txt", {"output": "json"})
    assert_fail(r, 403)
    assert files_under(n.path("files")) == []


def test_upload_max_upload_size(start_node):
    n = start_node({"max_upload_size": 4096})
    r = upload(requests, n, payload(1024), token() + ".txt", {"output": "json"})
    assert r.status_code == 200, describe(r)
    r = upload(requests, n, payload(8192), token() + ".txt", {"output": "json"})
    assert_fail(r, 413)
    assert len(files_under(n.path("files"))) == 1


def test_instant_upload(node):
    data = payload()
    name = token() + ".txt"
    up = upload(requests, node, data, name, {"output": "json"}).json()
    r = requests.get(node.g + "/upload", params={"md5": md5(data), "output": "json2"}, timeout=T)
    j = assert_ok_json(r)
    assert j["data"]["url"] == up["url"], (j, up)
    assert j["data"]["md5"] == md5(data)
    r = requests.get(node.g + "/upload", params={"md5": md5(data), "output": "text"}, timeout=T)
    assert r.status_code == 200 and r.text == up["url"], describe(r)
    r = requests.get(node.g + "/upload", params={"md5": md5(payload()), "output": "json2"},
                     timeout=T)
    assert_fail(r, 404)


def test_node_without_peers_never_loads_libcurl_or_gnutls(node):
    # libcurl (with libssl, Kerberos, LDAP, ...) is opened on the first outgoing call only,
    # GnuTLS (with p11-kit, nettle, gmp, ...) by a node serving HTTPS only: a plain node that
    # serves uploads, downloads, deletes and stats alone maps neither
    data = payload(5000)
    j = upload(requests, node, data, token() + ".bin", {"output": "json"}).json()
    r = requests.get(node.url + j["path"], timeout=T)
    assert r.status_code == 200 and r.content == data, describe(r)
    for path in ("/stat", "/status"):
        assert requests.get(node.g + path, timeout=T).status_code == 200
    r = requests.post(node.g + "/delete", data={"md5": j["md5"]}, timeout=T)
    assert_ok_json(r)
    libs = node.mapped_files()
    assert any(n.startswith("libc.so") for n in libs), libs  # the listing itself works
    assert not [n for n in libs if "curl" in n], sorted(libs)
    assert not [n for n in libs if "gnutls" in n or "p11-kit" in n], sorted(libs)


# sizes around the batching floor (16 KiB), a chunk (16 KiB) and the per-thread budget (1 MiB)
LANE_SIZES = [16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 100 * 1024, 1024 * 1024 + 13,
              3 * 1024 * 1024 + 7]


def _slow_chunks(data, seed):
    """The content in pieces of 7-40 KiB with a pause between them, so that many uploads
    are half received at once and wait in the lanes together."""
    at, r = 0, seed
    while at < len(data):
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        k = 7 * 1024 + r % (33 * 1024)
        yield data[at:at + k]
        at += k
        time.sleep(0.002)


@pytest.mark.parametrize("lanes", ["portable", "auto"])
def test_concurrent_uploads_hashed_in_lanes(start_node, lanes):
    """Uploads in flight together on one HTTP thread have their MD5s computed side by side
    (md5batch): every one still answers with the MD5 of its own bytes, with and without a
    Content-Length, and the node stays up. 'portable' runs the lanes on any CPU; 'auto' uses
    AVX-512 where the CPU has it."""
    node = start_node({"http_threads": 1}, env={"FILESERVER_MD5_LANES": lanes})
    jobs = [(i, LANE_SIZES[i % len(LANE_SIZES)] + i, i % 5 == 4) for i in range(36)]

    def one(job):
        i, size, chunked = job
        data = seeded_bytes(1000 + i, size)
        name = f"lane{i}.bin"
        if chunked:  # no Content-Length: the stream does not know its size
            b = new_boundary()
            r = requests.post(node.g + "/upload",
                              data=multipart_stream([("output", "json")], name,
                                                    _slow_chunks(data, i), b),
                              headers={"Content-Type": "multipart/form-data; boundary=" + b},
                              timeout=60)
            status, body = r.status_code, r.content
        else:
            res = stream_upload_cl(node.port, "/" + node.group + "/upload", [("output", "json")],
                                   name,
                                   _slow_chunks(data, i), size, timeout=60)
            status, body = res.status_code, res.content
        assert status == 200, body[:300]
        return json.loads(body)["md5"], md5(data)

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        for got, want in pool.map(one, jobs, timeout=180):
            assert got == want
    assert requests.get(node.g + "/stat", timeout=T).status_code == 200
    assert node.proc.poll() is None
