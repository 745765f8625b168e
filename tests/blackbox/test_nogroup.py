"""support_group_manage false: go-fastdfs's URL forms without the /<group> prefix."""
import requests

from bbutil import payload

T = 10


def test_routes_without_group_prefix(start_node):
    n = start_node(cfg_overrides={"support_group_manage": False})
    data = payload(999)
    r = requests.post(n.url + "/upload", files={"file": ("plain.txt", data)},
                      data={"output": "json"}, timeout=T)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["path"].startswith("/default/"), j
    assert j["url"].startswith(n.url + "/default/")
    got = requests.get(n.url + j["path"], timeout=T)
    assert got.status_code == 200 and got.content == data
    for ep in ("/status", "/stat", "/get_file_info?md5=" + j["md5"]):
        assert requests.get(n.url + ep, timeout=T).status_code == 200, ep
    # the prefixed forms are not this node's API any more
    assert requests.post(n.url + "/group1/upload", files={"file": ("x.txt", b"x")},
                         timeout=T).status_code in (404, 405)
    assert requests.get(n.url + "/group1/status", timeout=T).status_code == 404
