"""Access classes: with admin_ips empty, 127.0.0.1 is no longer trusted; admin endpoints need
the X-Admin-Key header (the cfg's admin_key). Public endpoints stay public."""
import os

import requests

from bbutil import T, assert_fail, assert_ok_json, describe, md5, payload, token, upload


def _admin_calls(node, j):
    """(label, method, url, kwargs) for every admin endpoint."""
    return [
        ("get_file_info", "GET", node.g + "/get_file_info", {"params": {"md5": j["md5"]}}),
        ("stat", "GET", node.g + "/stat", {}),
        ("list_dir", "GET", node.g + "/list_dir", {"params": {"dir": "default"}}),
        ("search", "GET", node.g + "/search", {"params": {"kw": "x"}}),
        ("repair_fileinfo", "GET", node.g + "/repair_fileinfo", {}),
        ("delete", "POST", node.g + "/delete", {"data": {"md5": j["md5"]}}),
        ("delete-path", "GET", node.g + "/delete", {"params": {"path": j["path"]}}),
    ]


def _start(start_node):
    key = "k-" + token()
    n = start_node({"admin_ips": [], "admin_key": key})
    return n, key


def test_admin_endpoints_denied_without_key(start_node):
    n, key = _start(start_node)
    data = payload()
    r = upload(requests, n, data, token() + ".txt", {"output": "json"})
    assert r.status_code == 200, describe(r)
    j = r.json()
    bad = []
    for hdrs in ({}, {"X-Admin-Key": "wrong-" + key}, {"X-Admin-Key": ""},
                 {"X-Forwarded-For": "127.0.0.1"}, {"X-Real-Ip": "127.0.0.1"}):
        for label, method, url, kw in _admin_calls(n, j):
            r = requests.request(method, url, headers=hdrs, timeout=T, **kw)
            try:
                assert_fail(r, 403)
            except AssertionError as e:
                bad.append(f"{label} with {hdrs}: {e}")
    assert not bad, "\n".join(bad)
    # delete changed nothing
    g = requests.get(j["url"], timeout=T)
    assert g.status_code == 200 and g.content == data, describe(g)
    assert os.path.isfile(n.path("files", *j["path"].split("/")[2:]))


def test_admin_endpoints_with_key(start_node):
    n, key = _start(start_node)
    data = payload()
    j = upload(requests, n, data, token() + ".txt", {"output": "json"}).json()
    h = {"X-Admin-Key": key}
    bad = []
    for label, method, url, kw in _admin_calls(n, j):
        if label == "delete-path":
            continue
        r = requests.request(method, url, headers=h, timeout=(5, 60), **kw)
        try:
            assert_ok_json(r)
        except AssertionError as e:
            bad.append(f"{label}: {e}")
    assert not bad, "\n".join(bad)
    assert_fail(requests.get(j["url"], timeout=T), 404)     # the keyed delete worked


def test_public_endpoints_without_key(start_node):
    n, _key = _start(start_node)
    data = payload()
    r = upload(requests, n, data, token() + ".txt", {"output": "json"})
    assert r.status_code == 200, describe(r)
    j = r.json()
    g = requests.get(j["url"], timeout=T)
    assert g.status_code == 200 and g.content == data
    assert requests.head(j["url"], timeout=T).status_code == 200
    c = requests.get(n.g + "/check_file_exist", params={"md5": md5(data)}, timeout=T)
    assert c.status_code == 200 and c.json().get("md5") == md5(data), describe(c)
    assert_ok_json(requests.get(n.g + "/status", timeout=T))
    assert requests.get(n.url + "/healthz", timeout=T).status_code == 200
    i = requests.get(n.g + "/upload", params={"md5": md5(data), "output": "json2"}, timeout=T)
    assert assert_ok_json(i)["data"]["url"] == j["url"]


def test_admin_key_not_in_public_status(start_node):
    n, key = _start(start_node)
    r = requests.get(n.g + "/status", timeout=T)
    assert r.status_code == 200
    assert key not in r.text, "status leaks admin_key"
