"""Housekeeping endpoints and adoption: reload (get/set/reload), remove_empty_dir, backup and
--restore-meta, list_dir pagination, and serving a go-fastdfs or FastDFS data tree as is."""
import json
import os
import time
from pathlib import Path

import requests

from bbutil import md5, payload, token

T = 10


def _up(node, data, **fields):
    fields.setdefault("output", "json")
    r = requests.post(node.g + "/upload", files={"file": (token() + ".bin", data)}, data=fields,
                      timeout=T)
    assert r.status_code == 200, r.text
    return r.json()


def test_reload_get_redacts_secrets(node):
    r = requests.get(node.g + "/reload", params={"action": "get"}, timeout=T)
    d = r.json()["data"]
    assert d["group"] == "group1"
    assert d["admin_key"] in ("***", "")
    assert d["cluster_secret"] in ("***", "")
    assert requests.get(node.g + "/reload", timeout=T).status_code == 400
    assert requests.get(node.g + "/reload", params={"action": "nope"}, timeout=T).status_code == 400


def test_reload_set_then_reload_applies_safe_keys(node):
    cfg = json.loads(Path(node.cfg_path).read_text())
    cfg["read_only"] = True
    cfg["addr"] = "127.0.0.1:1"           # not reloadable: reported, not applied
    r = requests.post(node.g + "/reload", data={"action": "set", "cfg": json.dumps(cfg)},
                      timeout=T)
    assert r.status_code == 200, r.text
    assert json.loads(Path(node.cfg_path).read_text())["read_only"] is True
    # saved but not applied yet
    assert requests.post(node.g + "/upload", files={"file": ("a.bin", b"x" * 10)},
                         timeout=T).status_code == 200
    r = requests.post(node.g + "/reload", data={"action": "reload"}, timeout=T)
    d = r.json()["data"]
    assert "read_only" in d["applied"].split(",") and "addr" in d["needs_restart"].split(","), d
    assert requests.post(node.g + "/upload", files={"file": ("b.bin", b"y" * 10)},
                         timeout=T).status_code == 403
    # restore the file so the node's teardown is unaffected
    cfg["read_only"] = False
    cfg["addr"] = f"127.0.0.1:{node.port}"
    requests.post(node.g + "/reload", data={"action": "set", "cfg": json.dumps(cfg)}, timeout=T)


def test_reload_set_refuses_bad_config(node):
    before = Path(node.cfg_path).read_text()
    for bad in ('{"nope": 1}', '{"read_only": "yes"}', "not json", '{"addr": ":99999"}'):
        r = requests.post(node.g + "/reload", data={"action": "set", "cfg": bad}, timeout=T)
        assert r.status_code == 400, (bad, r.text)
    assert Path(node.cfg_path).read_text() == before


def test_reload_is_admin_only(start_node):
    n = start_node(cfg_overrides={"admin_ips": []})
    assert requests.get(n.g + "/reload", params={"action": "get"}, timeout=T).status_code == 403


def test_remove_empty_dir_keeps_young_and_full_dirs(node):
    j = _up(node, payload(100))
    files = Path(node.root) / "files"
    old = files / "old" / "a" / "b"
    old.mkdir(parents=True)
    young = files / "young" / "c"
    young.mkdir(parents=True)
    past = time.time() - 3600
    for d in (old, old.parent, old.parent.parent):
        os.utime(d, (past, past))
    r = requests.post(node.g + "/remove_empty_dir", timeout=T)
    assert r.status_code == 200 and r.json()["data"]["removed"] >= 3, r.text
    assert not (files / "old").exists()
    assert young.exists()
    assert requests.get(node.url + j["path"], timeout=T).status_code == 200


def test_backup_and_restore(start_node):
    n = start_node()
    datas = [payload(300 + i) for i in range(3)]
    recs = [_up(n, d) for d in datas]
    day = time.strftime("%Y%m%d")
    r = requests.post(n.g + "/backup", data={"date": day}, timeout=T)
    assert r.status_code == 200 and r.json()["data"]["records"] >= 3, r.text
    backup = Path(n.root) / r.json()["data"]["file"]
    lines = backup.read_text().splitlines()
    assert {json.loads(l)["md5"] for l in lines} >= {x["md5"] for x in recs}
    assert requests.post(n.g + "/backup", data={"date": "2024-1"}, timeout=T).status_code == 400
    n.stop()
    import shutil
    shutil.rmtree(Path(n.root) / "data" / "meta")
    res = n.run_cli(["--restore-meta", str(backup)])
    assert res.returncode == 0, res.stderr
    n.start()
    for rec in recs:
        r = requests.get(n.g + "/get_file_info", params={"md5": rec["md5"]}, timeout=T)
        assert r.status_code == 200, r.text


def test_backup_and_restore_merged_files(start_node):
    """Records of small files in volumes come back from a backup, pointing at their needles;
    a record whose needle was deleted after the backup is skipped."""
    n = start_node({"enable_merge_small_file": True})
    datas = [payload(400 + i) for i in range(3)]
    recs = [_up(n, d) for d in datas]
    assert all("/haystack/" in x["path"] for x in recs)
    day = time.strftime("%Y%m%d")
    backup = Path(n.root) / requests.post(n.g + "/backup", data={"date": day},
                                          timeout=T).json()["data"]["file"]
    assert requests.post(n.g + "/delete", data={"md5": recs[2]["md5"]},
                         timeout=T).status_code == 200
    n.stop()
    import shutil
    shutil.rmtree(Path(n.root) / "data" / "meta")
    res = n.run_cli(["--restore-meta", str(backup)])
    assert res.returncode == 0, res.stderr
    assert b"restored 2 records" in res.stdout + res.stderr, res.stdout + res.stderr
    n.start()
    for rec, d in zip(recs[:2], datas):
        assert requests.get(n.url + rec["path"], timeout=T).content == d
    assert requests.get(n.url + recs[2]["path"], timeout=T).status_code == 404


def test_list_dir_pagination(node):
    j = _up(node, payload(50))
    d = "/".join(j["path"].split("/")[2:7])
    for _ in range(4):
        _up(node, payload(60))
    everything = requests.get(node.g + "/list_dir", params={"dir": d}, timeout=T).json()["data"]
    page = requests.get(node.g + "/list_dir", params={"dir": d, "offset": 1, "limit": 2},
                        timeout=T).json()["data"]
    assert len(page) == min(2, max(0, len(everything) - 1))
    assert [e["name"] for e in page] == [e["name"] for e in everything[1:3]]
    r = requests.get(node.g + "/list_dir", params={"dir": d, "limit": "x"}, timeout=T)
    assert r.status_code == 400


def test_adopt_gofastdfs_and_fastdfs_trees(start_node):
    """A go-fastdfs files/ tree and a FastDFS storage data/ tree (moved to files/M00) keep
    their URLs once adopted with --rebuild-meta."""
    n = start_node(start=False)
    files = Path(n.root) / "files"
    gofast = files / "default" / "20240102" / "10" / "49" / "3" / "report.xls"
    fdfs = files / "M00" / "00" / "0A" / "wKgBJ2Ux1b2AcLm_AAAACXx8OlM123.txt"
    blobs = {gofast: payload(700), fdfs: payload(900)}
    for p, b in blobs.items():
        p.parent.mkdir(parents=True)
        p.write_bytes(b)
    res = n.run_cli(["--rebuild-meta"])
    assert res.returncode == 0, res.stderr
    n.start()
    for p, b in blobs.items():
        url = n.url + "/group1/" + str(p.relative_to(files))
        r = requests.get(url, timeout=T)
        assert r.status_code == 200 and r.content == b, url
        r = requests.get(n.g + "/get_file_info", params={"md5": md5(b)}, timeout=T)
        assert r.status_code == 200 and r.json()["data"]["offset"] == -2, r.text
    assert requests.get(n.g + "/get_file_info", params={"md5": md5(blobs[gofast])},
                        timeout=T).json()["data"]["scene"] == "default"


def test_ttl_expiry(node):
    keep = _up(node, payload(100))
    gone = _up(node, payload(110), ttl="1")
    assert requests.post(node.g + "/upload", files={"file": ("x.bin", b"abc")},
                         data={"ttl": "soon"}, timeout=T).status_code == 400
    assert requests.post(node.g + "/upload", files={"file": ("x.bin", b"abd")},
                         data={"ttl": "0"}, timeout=T).status_code == 400
    info = requests.get(node.g + "/get_file_info", params={"md5": gone["md5"]}, timeout=T)
    assert info.json()["data"]["expireAt"] == gone["mtime"] + 1
    time.sleep(2.1)
    r = requests.post(node.g + "/expire", timeout=T)
    assert r.json()["data"]["deleted"] >= 1, r.text
    assert requests.get(node.url + gone["path"], timeout=T).status_code == 404
    assert requests.get(node.url + keep["path"], timeout=T).status_code == 200


def test_delete_many_by_prefix_and_date(node):
    a = _up(node, payload(120), path="batch/one")
    b = _up(node, payload(130), path="batch/two")
    c = _up(node, payload(140), path="other")
    for bad in ({}, {"date": "x"}, {"prefix": "../etc"}, {"date": "20240101", "prefix": "a"},
                {"prefix": "batch", "max": "many"}):
        r = requests.post(node.g + "/delete_many", data=bad, timeout=T)
        assert r.status_code == 400, (bad, r.text)
    r = requests.post(node.g + "/delete_many", data={"prefix": "batch"}, timeout=T)
    assert r.json()["data"]["deleted"] == 2, r.text
    for j in (a, b):
        assert requests.get(node.url + j["path"], timeout=T).status_code == 404
    assert requests.get(node.url + c["path"], timeout=T).status_code == 200
    r = requests.post(node.g + "/delete_many", data={"date": time.strftime("%Y%m%d")}, timeout=T)
    assert r.json()["data"]["deleted"] >= 1
    assert requests.get(node.url + c["path"], timeout=T).status_code == 404


def test_stat_per_scene(node):
    _up(node, payload(100), scene="pics")
    _up(node, payload(200), scene="pics")
    _up(node, payload(400), scene="docs")
    rows = requests.get(node.g + "/stat", params={"scene": "pics"}, timeout=T).json()["data"]
    assert rows[-1] == {"date": "all", "fileCount": 2, "totalSize": 300}, rows
    rows = requests.get(node.g + "/stat", params={"scene": "none"}, timeout=T).json()["data"]
    assert rows == [{"date": "all", "fileCount": 0, "totalSize": 0}]


def test_reload_get_then_set_keeps_the_secrets(start_node):
    n = start_node(cfg_overrides={"admin_key": "a" * 32, "cluster_secret": "c" * 32,
                                  "scenes": ["s1:JBSWY3DPEHPK3PXP", "s2"]})
    got = requests.get(n.g + "/reload", params={"action": "get"}, timeout=T).json()["data"]
    assert got["admin_key"] == "***" and got["cluster_secret"] == "***"
    assert got["scenes"] == ["s1:***", "s2"]
    got["show_dir"] = False
    r = requests.post(n.g + "/reload", data={"action": "set", "cfg": json.dumps(got)}, timeout=T)
    assert r.status_code == 200, r.text
    saved = json.loads(Path(n.cfg_path).read_text())
    assert saved["admin_key"] == "a" * 32 and saved["cluster_secret"] == "c" * 32
    assert saved["scenes"] == ["s1:JBSWY3DPEHPK3PXP", "s2"] and saved["show_dir"] is False


def test_directory_listing_escapes_names(node):
    evil = "<img src=x onerror=alert(1)>"
    r = requests.post(node.g + "/upload", files={"file": ("a.txt", b"xss")},
                      data={"path": evil, "output": "json"}, timeout=T)
    if r.status_code != 200:
        return  # refusing such a path is fine too
    d = r.json()["path"].rsplit("/", 1)[0]
    page = requests.get(node.url + requests.utils.quote(d) + "/", timeout=T).text
    assert "<img" not in page and "&lt;img" in page, page


def test_root_listing_is_repeatable(node):
    """The top of files/ listed again and again (and after a walk) still shows its entries:
    a shared directory read position once made every later listing empty."""
    _up(node, payload(10))
    for _ in range(3):
        names = {e["name"] for e in requests.get(node.g + "/list_dir", timeout=T).json()["data"]}
        assert "default" in names, names
        requests.get(node.g + "/repair_fileinfo", timeout=T)
