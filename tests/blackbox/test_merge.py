"""Small-file volumes (enable_merge_small_file): uploads under 1 MiB become needles in a few
volume files and keep go-fastdfs's haystack URLs; they download with Range and conditional
requests; deletes leave the bytes unreachable and compaction gives their space back without
changing a URL, also when the node is killed in the middle of it; the index is rebuilt from
the volumes; go-fastdfs's own haystack files keep serving their URLs; merged files
replicate, follow deletes and are repaired like any file."""
import concurrent.futures
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import requests

from bbutil import (T, describe, disk_syncs, md5, multipart_stream, new_boundary, payload,
                    token, wait_for)
from clusterutil import file_info, get_path, make_cluster, repair, upload_json, wait_indexed

MERGE = {"enable_merge_small_file": True}
URL_RE = re.compile(r"^/group1/haystack/7/(\d+),(\d+),(\d+),(\.\w+)?$")


def _up(node, data, name=None, **fields):
    fields.setdefault("output", "json")
    r = requests.post(node.g + "/upload", files={"file": (name or token() + ".bin", data)},
                      data=fields, timeout=T)
    assert r.status_code == 200, describe(r)
    return r.json()


def _get(node, path, **kw):
    return requests.get(node.url + path, timeout=T, **kw)


def _vol_dir(node, peer="7"):
    return Path(node.root) / "files" / "haystack" / peer


def _volumes(node, peer="7"):
    d = _vol_dir(node, peer)
    return sorted((p for p in d.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)) \
        if d.is_dir() else []


def _plain_files(node):
    """Regular files below files/ that are not volume files."""
    out = []
    for dirpath, _d, names in os.walk(Path(node.root) / "files"):
        for n in names:
            if not ("haystack" in Path(dirpath).parts and n.isdigit()):
                out.append(os.path.join(dirpath, n))
    return out


def test_small_uploads_become_needles_with_haystack_urls(start_node):
    n = start_node(MERGE)
    sizes = [1, 2, 100, 4096, 65537, 1048575]
    items = []
    for s in sizes:
        data = payload(s)
        j = _up(n, data, token() + ".txt")
        m = URL_RE.match(j["path"])
        assert m, j["path"]
        assert int(m.group(3)) == s and j["size"] == s, j
        items.append((j, data))
    big = payload(1048576)                    # 1 MiB exactly is not small
    jb = _up(n, big, "big.bin")
    assert "/haystack/" not in jb["path"], jb["path"]
    # a million small files must not cost a million inodes: here one volume and the big file
    assert len(_volumes(n)) == 1
    assert len(_plain_files(n)) == 1, _plain_files(n)
    for j, data in items + [(jb, big)]:
        r = _get(n, j["path"])
        assert r.status_code == 200 and r.content == data, (j["path"], describe(r))
    j, data = items[2]
    r = _get(n, j["path"])
    assert r.headers["Content-Type"].startswith("text/plain")
    info = requests.get(n.g + "/get_file_info", params={"md5": j["md5"]}, timeout=T).json()["data"]
    assert info["offset"] >= 0 and info["path"] == "files/haystack/7" and info["volume"] >= 1
    assert info["rename"] == j["path"].rsplit("/", 1)[1] and info["size"] == len(data)
    # the URL the upload answered with (percent-encoded, with ?name=) works too
    r = requests.get(j["url"], timeout=T)
    assert r.status_code == 200 and r.content == data
    # the same content again is the same file (dedupe), in another scene a new needle
    assert _up(n, data)["path"] == j["path"]
    other = _up(n, data, scene="other")
    assert other["path"] != j["path"] and _get(n, other["path"]).content == data
    # a client-chosen path is kept as a plain file
    cp = _up(n, payload(300), "chosen.bin", path="mine/here")
    assert cp["path"].endswith("/mine/here/chosen.bin")


def test_ranges_and_conditional_requests_on_needles(start_node):
    n = start_node(MERGE)
    data = payload(200000)
    j = _up(n, data)
    p = j["path"]
    r = _get(n, p, headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == data[1000:2000], describe(r)
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    r = _get(n, p, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = _get(n, p, headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"
    full = _get(n, p)
    assert full.content == data and full.headers["Accept-Ranges"] == "bytes"
    r = _get(n, p, headers={"If-None-Match": full.headers["ETag"]})
    assert r.status_code == 304 and r.content == b""
    r = requests.head(n.url + p, timeout=T)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(data)
    # a small needle comes from a buffer: its neighbours must not leak into it
    a, b = payload(10), payload(20)
    ja, jb = _up(n, a), _up(n, b)
    assert _get(n, ja["path"]).content == a and _get(n, jb["path"]).content == b
    r = _get(n, jb["path"], headers={"Range": "bytes=0-100"})
    assert r.status_code == 206 and r.content == b


def test_volume_files_and_made_up_names_are_not_served(start_node):
    n = start_node(dict(MERGE, show_dir=True))
    data = payload(5000)
    j = _up(n, data)
    vol, off, ln = URL_RE.match(j["path"]).groups()[:3]
    _up(n, payload(6000))
    bad = [
        f"/group1/haystack/7/{vol}",                       # the volume file whole
        f"/group1/haystack/7/{vol},{int(off) + 8},{ln},.bin",  # inside our needle
        f"/group1/haystack/7/{vol},{off},{int(ln) + 1},.bin",  # not the indexed name
        "/group1/haystack/7/1,0,5,.bin",
        "/group1/haystack/7/abc,0,5,.bin",
        "/group1/haystack/7/0,0,5,.bin",
        "/group1/haystack/7/1,99999999999999999999,5,.bin",
        "/group1/haystack/7/1,16,-5,.bin",
        "/group1/haystack/7/99999,16,5,.bin",
        "/group1/haystack/7/1,16,5",
        "/group1/haystack/1,16,5,.bin",
        "/group1/haystack/7/x/1,16,5,.bin",
    ]
    for p in bad:
        r = _get(n, p)
        assert r.status_code == 404, (p, describe(r))
    for p in ("/group1/haystack/7/", "/group1/haystack/"):
        r = _get(n, p)
        assert r.status_code == 403, (p, describe(r))
    # the reserved directory cannot be written into by a custom path
    for cp in ("haystack/7", "haystack", "_big/x", "_tmp"):
        r = requests.post(n.g + "/upload", files={"file": ("1", b"x" * 10)},
                          data={"path": cp}, timeout=T)
        assert r.status_code == 400, (cp, describe(r))
    assert _get(n, j["path"]).content == data
    assert len(_volumes(n)) == 1


@pytest.mark.parametrize("mode", ["group", "none"])
def test_delete_then_compact_keeps_urls_and_frees_space(start_node, mode):
    n = start_node(dict(MERGE, merge_volume_size=65536, sync_mode=mode))
    files = []
    for i in range(60):
        data = payload(3000 + i)
        files.append((_up(n, data), data))
    vols = _volumes(n)
    assert len(vols) >= 3, vols
    before = sum(v.stat().st_size for v in vols)
    keep, gone = files[::4], [f for i, f in enumerate(files) if i % 4]
    for j, _ in gone:
        r = requests.post(n.g + "/delete", data={"md5": j["md5"]}, timeout=T)
        assert r.status_code == 200, describe(r)
    for j, _ in gone:
        assert _get(n, j["path"]).status_code == 404
    for bad in ("0", "101", "x", "-1"):
        r = requests.post(n.g + "/compact", data={"percent": bad}, timeout=T)
        assert r.status_code == 400, (bad, describe(r))
    syncs = disk_syncs(n)
    r = requests.post(n.g + "/compact", timeout=T)
    assert r.status_code == 200, describe(r)
    d = r.json()["data"]
    assert d["compacted"] >= 2 and d["failed"] == 0 and d["reclaimed"] > 0, d
    if mode == "none":
        # uploads made no sync, but a volume is removed only after what left it is durable
        assert syncs == 0 and disk_syncs(n) >= d["compacted"], (syncs, disk_syncs(n), d)
    after = sum(v.stat().st_size for v in _volumes(n))
    assert after < before * 0.6, (before, after)
    for j, data in keep:
        r = _get(n, j["path"])
        assert r.status_code == 200 and r.content == data, (j["path"], describe(r))
    for j, _ in gone:
        assert _get(n, j["path"]).status_code == 404
    # and after a restart, and for new uploads
    n.restart()
    for j, data in keep:
        assert _get(n, j["path"]).content == data
    new = payload(777)
    assert _get(n, _up(n, new)["path"]).content == new
    # a second run has nothing left to do
    d = requests.post(n.g + "/compact", data={"percent": "50"}, timeout=T).json()["data"]
    assert d["moved"] == 0 and d["failed"] == 0, d


def test_rebuild_meta_reads_the_volumes(start_node):
    n = start_node(dict(MERGE, merge_volume_size=65536))
    datas = [payload(2500 + i) for i in range(40)]
    files = [(_up(n, d, f"n{i}.txt"), d) for i, d in enumerate(datas)]
    gone = files[5][0]
    assert requests.post(n.g + "/delete", data={"md5": gone["md5"]}, timeout=T).status_code == 200
    n.stop()
    shutil.rmtree(os.path.join(n.root, "data", "meta"))
    res = n.run_cli(["--rebuild-meta"])
    assert res.returncode == 0, res.stderr
    n.start()
    for i, (j, data) in enumerate(files):
        r = _get(n, j["path"])
        if i == 5:
            assert r.status_code == 404, "a deleted needle came back"
            continue
        assert r.status_code == 200 and r.content == data, describe(r)
        info = requests.get(n.g + "/get_file_info", params={"md5": j["md5"]},
                            timeout=T).json()["data"]
        assert info["name"] == f"n{i}.txt" and info["path"] == "files/haystack/7", info


def test_torn_append_is_survived(start_node):
    n = start_node(MERGE)
    a = payload(4000)
    ja = _up(n, a)
    n.kill9()
    vol = _volumes(n)[-1]
    with open(vol, "ab") as f:               # half a needle, as a crash mid-write leaves it
        f.write(b"FSN1L\0\0\0" + os.urandom(300))
    n.start()
    b = payload(5000)
    jb = _up(n, b)
    assert _get(n, ja["path"]).content == a and _get(n, jb["path"]).content == b
    n.stop()
    shutil.rmtree(os.path.join(n.root, "data", "meta"))
    assert n.run_cli(["--rebuild-meta"]).returncode == 0
    n.start()
    assert _get(n, ja["path"]).content == a and _get(n, jb["path"]).content == b


def test_kill_during_compaction_loses_nothing(start_node):
    n = start_node(dict(MERGE, merge_volume_size=1 << 20))
    datas = [payload(1000 + (i % 50)) for i in range(2400)]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        files = list(zip(ex.map(lambda d: _up(n, d), datas), datas))
    gone = files[::3]
    keep = [f for i, f in enumerate(files) if i % 3]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda f: requests.post(n.g + "/delete", data={"path": f[0]["path"]},
                                                    timeout=T).status_code, gone))
    assert set(codes) == {200}
    _up(n, payload(1048000))                # seal the last volume: all are compactable now
    newest = int(_volumes(n)[-1].name)

    def grown():
        return sum(v.stat().st_size for v in _volumes(n) if int(v.name) >= newest)
    size0 = grown()

    # compaction moves each live needle into the active volume: kill the node once the
    # newest volumes grow, in the middle of the run
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(lambda: requests.post(n.g + "/compact", data={"percent": "10"},
                                              timeout=60))
        wait_for(lambda: grown() > size0 + 100000, timeout=30, interval=0.002,
                 what="compaction to start moving needles")
        midway = "compacted volume" not in n.log()
        n.kill9()
        try:
            fut.result(timeout=30)
        except requests.RequestException:
            pass
    n.start()
    for j, data in keep:
        r = _get(n, j["path"])
        assert r.status_code == 200 and r.content == data, (j["path"], describe(r))
    for j, _ in gone:
        assert _get(n, j["path"]).status_code == 404
    d = requests.post(n.g + "/compact", data={"percent": "10"}, timeout=60).json()["data"]
    assert d["failed"] == 0 and d["compacted"] >= 1, (midway, d)
    for j, data in keep:
        assert _get(n, j["path"]).content == data
    # nothing of the half-done run is left for another run to move
    d = requests.post(n.g + "/compact", data={"percent": "10"}, timeout=60).json()["data"]
    assert d["moved"] == 0, d
    assert midway, "the node finished a volume before it was killed: kill earlier"


def test_gofastdfs_haystack_urls_after_adoption(start_node):
    n = start_node(start=False)
    hay = Path(n.root) / "files" / "haystack" / "3"
    hay.mkdir(parents=True)
    # go-fastdfs appends '1' + bytes and names the file <n>,<offset of the '1'>,<size+1>,<ext>
    one, two = b"hello small world", payload(3000)
    (hay / "123").write_bytes(b"1" + one + b"1" + two + b"0notsynced")
    plain = Path(n.root) / "files" / "default" / "20240102" / "10" / "49" / "3" / "a.txt"
    plain.parent.mkdir(parents=True)
    plain.write_bytes(b"plain")
    res = n.run_cli(["--rebuild-meta"])
    assert res.returncode == 0, res.stderr
    n.start()
    u1 = f"/group1/haystack/3/123,0,{len(one) + 1},.txt"
    u2 = f"/group1/haystack/3/123,{len(one) + 1},{len(two) + 1},.bin"
    r = _get(n, u1)
    assert r.status_code == 200 and r.content == one, describe(r)
    assert r.headers["Content-Type"].startswith("text/plain")
    assert _get(n, u2).content == two
    r = _get(n, u2, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == two[10:20]
    assert _get(n, "/group1/default/20240102/10/49/3/a.txt").content == b"plain"
    off3 = len(one) + len(two) + 2
    for p in (f"/group1/haystack/3/123,{off3},11,",       # flag '0': not synced yet
              f"/group1/haystack/3/123,1,5,.txt",          # no flag byte there
              f"/group1/haystack/3/123,0,{10 ** 6},.txt",  # past the end
              "/group1/haystack/3/123,0,1,.txt",           # nothing after the flag
              "/group1/haystack/3/124,0,5,.txt",           # no such file
              "/group1/haystack/3/123"):                   # the haystack file whole
        assert _get(n, p).status_code == 404, p
    # the haystack file was not adopted as a file of its own
    whole = (hay / "123").read_bytes()
    assert requests.get(n.g + "/get_file_info", params={"md5": md5(whole)},
                        timeout=T).status_code == 404


def test_merged_files_replicate_delete_and_repair(start_node):
    # A and B merge; C does not and keeps plain copies under the same names
    nodes, _ = make_cluster(start_node, 3, extra=MERGE, start=False)
    a, b, c = nodes
    c.cfg["enable_merge_small_file"] = False
    c.write_cfg(c.cfg)
    for nd in nodes:
        nd.start()
    items = []
    for i in range(20):
        data = payload(1000 + 37 * i)
        j = upload_json(a, data, f"s{i}.txt")
        assert "/haystack/101/" in j["path"], j["path"]
        items.append((j, data))
    wait_indexed(nodes, [j["md5"] for j, _ in items], 30)
    for nd in nodes:
        for j, data in items:
            r = get_path(nd, j["path"])
            assert r.status_code == 200 and r.content == data, (nd.url, describe(r))
    # B keeps them in its own volume, C as plain files under the origin's names
    assert _volumes(b, "102") and not (_vol_dir(b, "101")).exists()
    cdir = _vol_dir(c, "101")
    assert sorted(p.name for p in cdir.iterdir()) == sorted(
        j["path"].rsplit("/", 1)[1] for j, _ in items)
    st, info = file_info(b, items[0][0]["md5"])
    assert st == 200 and info["volume"] >= 1 and info["rename"] == items[0][0]["path"].rsplit("/", 1)[1]

    # a delete on A reaches both kinds of copy
    j0 = items[0][0]
    assert requests.post(a.g + "/delete", data={"md5": j0["md5"]}, timeout=T).status_code == 200
    wait_for(lambda: all(get_path(nd, j0["path"]).status_code == 404 for nd in nodes),
             timeout=30, interval=0.25, what="the delete to reach every node")
    assert not (cdir / j0["path"].rsplit("/", 1)[1]).exists()

    # B's needle damaged behind its back: a forced repair fetches a good copy
    j1, d1 = items[1]
    info = file_info(b, j1["md5"])[1]
    vol = _vol_dir(b, "102") / str(info["volume"])
    with open(vol, "r+b") as f:
        # the needle's JSON precedes the bytes: find them by content and flip them
        whole = f.read()
        at = whole.find(d1)
        assert at > 0
        f.seek(at)
        f.write(bytes(x ^ 0x5A for x in d1))
    time.sleep(1.2)  # a download may come from memory for a second (download_cache_size)
    assert get_path(b, j1["path"]).content != d1
    repair(b, force=True)
    wait_for(lambda: get_path(b, j1["path"]).content == d1, timeout=30, interval=0.25,
             what="B's damaged needle to be replaced")
    assert file_info(b, j1["md5"])[0] == 200
    # the others are untouched
    for j, data in items[2:]:
        assert get_path(b, j["path"]).content == data

    # C's plain copies keep their merged-file records through an index rebuild
    j2, d2 = items[2]
    want = file_info(a, j2["md5"])[1]
    c.stop()
    shutil.rmtree(os.path.join(c.root, "data", "meta"))
    assert c.run_cli(["--rebuild-meta"]).returncode == 0
    c.start()
    st, got = file_info(c, j2["md5"])
    assert st == 200 and got["offset"] == want["offset"] and got["rename"] == want["rename"], got
    assert get_path(c, j2["path"]).content == d2


def test_download_miss_fetches_a_merged_file(start_node):
    # A replicates to nobody; B knows A and fetches on a miss into its own volume
    a, b = make_cluster(start_node, 2, peers_of=[[0], [0, 1]], extra=MERGE)[0]
    data = payload(6000)
    j = upload_json(a, data, token() + ".txt")
    assert "/haystack/101/" in j["path"]
    assert file_info(b, j["md5"])[0] == 404
    r = get_path(b, j["path"], timeout=(5, 20))
    assert r.status_code == 200 and r.content == data, describe(r)
    st, info = file_info(b, j["md5"])
    assert st == 200 and info["volume"] >= 1, info
    assert not _vol_dir(b, "101").exists() and _volumes(b, "102")
    r = requests.get(b.url + j["path"], headers={"Range": "bytes=5990-"}, timeout=T)
    assert r.status_code == 206 and r.content == data[5990:]


def test_chunked_and_spilled_uploads_merge_too(start_node):
    """A small upload starts in memory only when Content-Length says the whole body is under
    1 MiB; without one (chunked) or with a larger body (another file part, ignored) it goes
    to a temp file first and is merged all the same."""
    n = start_node(MERGE)
    data = payload(30000)
    b = new_boundary()
    r = requests.post(n.g + "/upload", data=multipart_stream(
        [("output", "json")], "chunked.bin", [data[:10000], data[10000:]], b),
        headers={"Content-Type": "multipart/form-data; boundary=" + b}, timeout=T)
    assert r.status_code == 200, describe(r)
    j = r.json()
    assert URL_RE.match(j["path"]) and _get(n, j["path"]).content == data
    # a body over 1 MiB whose file is small: a temp file, then merged all the same
    small = payload(5000)
    r = requests.post(n.g + "/upload", files={"file": ("s.bin", small),
                                              "other": ("o.bin", b"y" * 1100000)},
                      data={"output": "json"}, timeout=T)
    assert r.status_code == 200, describe(r)
    assert URL_RE.match(r.json()["path"]) and _get(n, r.json()["path"]).content == small
    assert os.listdir(os.path.join(n.root, "data", "tmp")) == []
