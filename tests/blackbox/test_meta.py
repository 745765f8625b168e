"""Metadata endpoints as an admin (tests run on 127.0.0.1, listed in admin_ips by default):
get_file_info, check_file(s)_exist, delete, stat, status, list_dir, search, repair_fileinfo,
healthz."""
import os
import re
import time

import pytest
import requests

from bbutil import (T, assert_fail, assert_ok_json, describe, md5, payload, token, upload)

INFO_KEYS = {"name", "rename", "path", "md5", "size", "peers", "scene", "timeStamp", "offset"}


def _up(node, data, name, **fields):
    f = {"output": "json"}
    f.update(fields)
    r = upload(requests, node, data, name, f)
    assert r.status_code == 200, describe(r)
    return r.json()


def test_healthz(node):
    r = requests.get(node.url + "/healthz", timeout=T)
    assert r.status_code == 200


def test_get_file_info_by_md5_and_path(node):
    data = payload(777)
    name = token() + ".txt"
    t0 = time.time()
    j = _up(node, data, name)
    for params in ({"md5": j["md5"]}, {"path": j["path"]}):
        r = requests.get(node.g + "/get_file_info", params=params, timeout=T)
        info = assert_ok_json(r)["data"]
        assert isinstance(info, dict) and INFO_KEYS <= set(info), info
        assert info["name"] == name and info["md5"] == md5(data) and info["size"] == len(data)
        assert info["scene"] == "default"
        assert re.fullmatch(r"files/default/\d{8}/\d{2}/\d{2}/7", info["path"]), info
        assert "/group1/" + info["path"][len("files/"):] + "/" + name == j["path"], (info, j)
        assert isinstance(info["peers"], list), info
        assert isinstance(info["timeStamp"], int) and abs(info["timeStamp"] - t0) < 120, info
        assert isinstance(info["offset"], int), info
    # POST form works too
    r = requests.post(node.g + "/get_file_info", data={"md5": j["md5"]}, timeout=T)
    assert assert_ok_json(r)["data"]["md5"] == md5(data)


def test_get_file_info_unknown(node):
    assert_fail(requests.get(node.g + "/get_file_info", params={"md5": md5(payload())},
                             timeout=T), 404)
    assert_fail(requests.get(node.g + "/get_file_info",
                             params={"path": "/group1/default/20200101/00/00/7/none.txt"},
                             timeout=T), 404)


def test_get_file_info_bad_params(node):
    assert_fail(requests.get(node.g + "/get_file_info", timeout=T), 400)
    assert_fail(requests.get(node.g + "/get_file_info", params={"md5": "zz-not-hex"}, timeout=T),
                (400, 404))
    r = requests.get(node.g + "/get_file_info", params={"path": "/group1/../conf/cfg.json"},
                     timeout=T)
    assert_fail(r, (400, 404))


def test_check_file_exist(node):
    data = payload()
    name = token() + ".bin"
    j = _up(node, data, name)
    r = requests.get(node.g + "/check_file_exist", params={"md5": j["md5"]}, timeout=T)
    assert r.status_code == 200, describe(r)
    assert "\n" not in r.text.strip(), f"check_file_exist must answer compact JSON: {r.text!r}"
    rec = r.json()
    assert rec.get("md5") == md5(data) and rec.get("size") == len(data), rec
    assert rec.get("name") == name, rec
    r = requests.get(node.g + "/check_file_exist", params={"md5": md5(payload())}, timeout=T)
    assert_fail(r, 404)


def test_check_files_exist(node):
    a = _up(node, payload(), token() + ".a")
    b = _up(node, payload(), token() + ".b")
    unknown = md5(payload())
    r = requests.get(node.g + "/check_files_exist",
                     params={"md5s": ",".join([a["md5"], unknown, b["md5"]])}, timeout=T)
    j = assert_ok_json(r)
    assert isinstance(j["data"], list), j
    assert sorted(x["md5"] for x in j["data"]) == sorted([a["md5"], b["md5"]]), j


@pytest.mark.parametrize("how", ["get-md5", "post-md5", "get-path", "post-path"])
def test_delete(node, how):
    data = payload()
    j = _up(node, data, token() + ".txt")
    on_disk = node.path("files", *j["path"].split("/")[2:])
    assert os.path.isfile(on_disk)
    key = {"md5": j["md5"]} if how.endswith("md5") else {"path": j["path"]}
    if how.startswith("get"):
        r = requests.get(node.g + "/delete", params=key, timeout=T)
    else:
        r = requests.post(node.g + "/delete", data=key, timeout=T)
    jj = assert_ok_json(r)
    assert jj.get("message") == "remove success", jj
    assert_fail(requests.get(node.url + j["path"], timeout=T), 404)
    assert_fail(requests.get(node.g + "/get_file_info", params={"md5": j["md5"]}, timeout=T), 404)
    assert not os.path.exists(on_disk), "deleted file still on disk"
    # deleting again: unknown
    assert_fail(requests.get(node.g + "/delete", params=key, timeout=T), 404)


def test_delete_bad_and_unknown(node):
    j = _up(node, payload(), token() + ".txt")
    for bad in ("zzzz", "not-hex-" + "0" * 24, "../../conf/cfg.json", ""):
        assert_fail(requests.get(node.g + "/delete", params={"md5": bad}, timeout=T), 400)
    assert_fail(requests.get(node.g + "/delete", timeout=T), 400)
    assert_fail(requests.get(node.g + "/delete", params={"md5": md5(payload())}, timeout=T), 404)
    assert_fail(requests.get(node.g + "/delete",
                             params={"path": "/group1/default/20200101/00/00/7/none.txt"},
                             timeout=T), 404)
    r = requests.get(node.g + "/delete", params={"path": "/group1/../conf/cfg.json"}, timeout=T)
    assert_fail(r, (400, 404))
    assert os.path.isfile(node.cfg_path)
    g = requests.get(node.url + j["path"], timeout=T)
    assert g.status_code == 200


def test_stat(node):
    d1, d2 = payload(1000), payload(2345)
    _up(node, d1, token() + ".a")
    _up(node, d2, token() + ".b")
    _up(node, d1, token() + ".c")      # duplicate content: not counted twice
    today = time.strftime("%Y%m%d")
    j = assert_ok_json(requests.get(node.g + "/stat", timeout=T))
    rows = j["data"]
    assert isinstance(rows, list) and rows, j
    by = {r["date"]: r for r in rows}
    assert rows[-1]["date"] == "all", rows
    assert by[today]["fileCount"] == 2 and by[today]["totalSize"] == 3345, rows
    assert by["all"]["fileCount"] == 2 and by["all"]["totalSize"] == 3345, rows


def test_status_public(node):
    j = assert_ok_json(requests.get(node.g + "/status", timeout=T))
    assert isinstance(j["data"], dict) and j["data"], j


def test_list_dir(node):
    name = token() + ".txt"
    data = payload(321)
    j = _up(node, data, name)
    parts = j["path"].split("/")           # ['', 'group1', 'default', date, HH, MM, '7', name]
    r = assert_ok_json(requests.get(node.g + "/list_dir", params={"dir": "default"}, timeout=T))
    ent = {e["name"]: e for e in r["data"]}
    assert parts[3] in ent and ent[parts[3]]["is_dir"] is True, r
    for e in r["data"]:
        assert {"name", "is_dir", "size", "mtime"} <= set(e), e
    d = "/".join(parts[2:7])
    r = assert_ok_json(requests.get(node.g + "/list_dir", params={"dir": d}, timeout=T))
    ent = {e["name"]: e for e in r["data"]}
    assert name in ent and ent[name]["is_dir"] is False and ent[name]["size"] == len(data), r


def test_list_dir_traversal(node):
    bad = []
    for d in ("..", "../conf", "default/../..", "default/../../conf", "a/../../..", "..\\conf",
              "a\x00b"):
        r = requests.get(node.g + "/list_dir", params={"dir": d}, timeout=T)
        try:
            assert_fail(r, 400)
        except AssertionError as e:
            bad.append(f"{d!r}: {e}")
        if b"cfg.json" in r.content:
            bad.append(f"{d!r}: LEAKED listing {r.content[:200]!r}")
    for d in ("/etc", "/"):
        r = requests.get(node.g + "/list_dir", params={"dir": d}, timeout=T)
        if b"passwd" in r.content or b"hostname" in r.content:
            bad.append(f"{d!r}: LEAKED listing of the host filesystem")
    assert not bad, "\n".join(bad)


def test_search(node):
    kw = token()
    a = _up(node, payload(), "one" + kw + ".txt")
    b = _up(node, payload(), kw + "two.txt")
    _up(node, payload(), token() + ".txt")
    j = assert_ok_json(requests.get(node.g + "/search", params={"kw": kw}, timeout=T))
    assert isinstance(j["data"], list), j
    names = sorted(r["name"] for r in j["data"])
    assert names == sorted(["one" + kw + ".txt", kw + "two.txt"]), j
    assert {r["md5"] for r in j["data"]} == {a["md5"], b["md5"]}
    j = assert_ok_json(requests.get(node.g + "/search", params={"kw": token()}, timeout=T))
    assert j["data"] in ([], None), j


def test_repair_fileinfo(node):
    datas = [payload() for _ in range(3)]
    ups = [_up(node, d, token() + ".txt") for d in datas]
    j = assert_ok_json(requests.get(node.g + "/repair_fileinfo", timeout=(5, 60)))
    assert j["status"] == "ok"
    for u, d in zip(ups, datas):
        info = assert_ok_json(requests.get(node.g + "/get_file_info", params={"md5": u["md5"]},
                                           timeout=T))["data"]
        assert info["size"] == len(d)
        g = requests.get(node.url + u["path"], timeout=T)
        assert g.status_code == 200 and g.content == d


def test_rebuild_of_many_files_in_parallel(start_node):
    """--rebuild-meta hashes on several threads and indexes in bulk with one sync at the end:
    every file of a few thousand, in many directories, comes back exactly once."""
    n = start_node(start=False)
    files = {}
    for k in range(3000):
        rel = f"default/20260101/{k // 100:02d}/{k % 7:02d}/7/f{k}.txt"
        data = os.urandom(64 + k % 300)
        p = os.path.join(n.root, "files", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        files[rel] = data
    res = n.run_cli(["--rebuild-meta"], timeout=300)
    assert res.returncode == 0, res.stderr
    assert b"rebuilt 3000 records" in res.stdout, res.stdout
    n.start()
    rows = assert_ok_json(requests.get(n.g + "/stat", timeout=T))["data"]
    assert rows[-1]["fileCount"] == 3000, rows
    assert rows[-1]["totalSize"] == sum(len(d) for d in files.values()), rows
    for rel in list(files)[::97]:
        info = assert_ok_json(requests.get(n.g + "/get_file_info",
                                           params={"md5": md5(files[rel])}, timeout=T))["data"]
        assert info["path"] + "/" + info["name"] == "files/" + rel, info
        assert info["size"] == len(files[rel]) and info["offset"] == -2, info


def test_index_tables_are_read_not_mapped(node):
    """LevelDB would map its table files whole, and every page it touches would count in the
    node's RSS; the node turns that off, so a table is read into the bounded block cache."""
    sums = [_up(node, payload(300 + i), token() + ".bin")["md5"] for i in range(20)]
    node.restart()  # the log is replayed into a level-0 table at open
    tables = [n for n in os.listdir(os.path.join(node.root, "data", "meta"))
              if n.endswith(".ldb")]
    assert tables, "no table file to read from"
    for s in sums:
        assert assert_ok_json(requests.get(node.g + "/get_file_info", params={"md5": s},
                                           timeout=T))["data"]["md5"] == s
    mapped = [n for n in node.mapped_files() if n.endswith(".ldb")]
    assert not mapped, mapped
