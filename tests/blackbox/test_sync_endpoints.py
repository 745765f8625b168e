"""go-fastdfs's manual replication endpoints: get_md5s_by_date (digests of a day, or path-key
pairs), receive_md5s (push these to the caller), sync?date= (push a whole day) and
repair_stat (recount a day), on a pair of nodes that do not replicate by themselves."""
import json
import time

import requests

from bbutil import md5, payload, token
from clusterutil import make_cluster, signed_call, wait_indexed

T = 10


def _day():
    return time.strftime("%Y%m%d")


def _up(node, data):
    r = requests.post(node.g + "/upload", files={"file": (token() + ".bin", data)},
                      data={"output": "json"}, timeout=T)
    assert r.status_code == 200, r.text
    return r.json()


def test_get_md5s_by_date(start_node):
    (n,), _ = make_cluster(start_node, 1)
    d1, d2 = payload(100), payload(200)
    _up(n, d1)
    _up(n, d2)
    r = requests.get(n.g + "/get_md5s_by_date", params={"date": _day()}, timeout=T)
    assert r.status_code == 200
    assert set(r.text.split(",")) == {md5(d1), md5(d2)}
    r = requests.get(n.g + "/get_md5s_by_date", params={"date": _day(), "format": "pairs"},
                     timeout=T)
    lines = [l.split() for l in r.text.splitlines()]
    assert {l[1] for l in lines} == {md5(d1), md5(d2)} and all(len(l[0]) == 32 for l in lines)
    assert [l[0] for l in lines] == sorted(l[0] for l in lines)
    for bad in ("", "2024", "2024010x", "../../x"):
        r = requests.get(n.g + "/get_md5s_by_date", params={"date": bad}, timeout=T)
        assert r.status_code == 400, bad
    r = requests.get(n.g + "/get_md5s_by_date", params={"date": "19990101"}, timeout=T)
    assert r.status_code == 200 and r.text == ""


def test_sync_day_pushes_everything(start_node):
    (a, b), _ = make_cluster(start_node, 2, peers_of=[[0], [1]])
    datas = [payload(300 + i) for i in range(4)]
    for d in datas:
        _up(a, d)
    # A has no peers configured: sync has nobody to push to
    r = requests.get(a.g + "/sync", params={"date": _day()}, timeout=T)
    assert r.status_code == 200 and r.json()["data"]["queued"] == 0
    assert requests.get(a.g + "/sync", params={"date": "x"}, timeout=T).status_code == 400


def test_receive_md5s_pushes_to_the_caller(start_node):
    (a, b), secret = make_cluster(start_node, 2, peers_of=[[0, 1], [1]])
    # B asks A (signed, as a peer would) to push two of its files
    d1, d2 = payload(400), payload(500)
    # stop A's own pushes from racing: upload, then call receive_md5s anyway; either path
    # must end with B holding both files
    _up(a, d1)
    _up(a, d2)
    r = signed_call(a, secret, "POST", "/group1/receive_md5s",
                    [("md5s", md5(d1) + "," + md5(d2) + ",nothex,")], peer=b.url)
    assert r.status == 200, r
    assert json.loads(r.body)["data"]["queued"] >= 0
    wait_indexed([b], [md5(d1), md5(d2)], timeout=30)
    r = requests.get(a.g + "/receive_md5s", timeout=T)
    assert r.status_code == 400


def test_repair_stat(start_node):
    (n,), _ = make_cluster(start_node, 1)
    _up(n, payload(111))
    _up(n, payload(222))
    r = requests.get(n.g + "/repair_stat", params={"date": _day()}, timeout=T)
    d = r.json()["data"]
    assert d == {"date": _day(), "fileCount": 2, "totalSize": 333}, d
    r = requests.get(n.g + "/repair_stat", params={"date": "20000101"}, timeout=T)
    assert r.json()["data"]["fileCount"] == 0
    assert requests.get(n.g + "/repair_stat", params={"date": "bad"}, timeout=T).status_code == 400
