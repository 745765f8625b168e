"""Durability: restart keeps everything; the index is rebuilt from files/ (CLI flag and
repair endpoint) with the original names; kill -9 during many streamed uploads loses
nothing acknowledged and never serves a partial file; a 512 MiB upload streams in bounded
memory."""
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests

from bbutil import (T, assert_ok_json, describe, disk_syncs, file_md5, files_under, md5, metric,
                    multipart_stream, multipart_stream_len, new_boundary, payload,
                    seeded_bytes, stream_upload_cl,
                    token, upload, wait_for)


def _up(node, data, name, **fields):
    f = {"output": "json"}
    f.update(fields)
    r = upload(requests, node, data, name, f)
    assert r.status_code == 200, describe(r)
    return r.json()


def _assert_served(node, ups):
    """every (data, upload reply) pair is downloadable and indexed with its size"""
    for data, j in ups:
        g = requests.get(j["url"], timeout=T)
        assert g.status_code == 200 and g.content == data, describe(g)
        info = assert_ok_json(requests.get(node.g + "/get_file_info", params={"md5": j["md5"]},
                                           timeout=T))["data"]
        assert info["size"] == len(data)


def test_restart_keeps_files(node):
    ups = []
    for i in range(5):
        data = payload(random.randint(1, 200000))
        ups.append((data, _up(node, data, token() + ".bin")))
    node.restart()
    _assert_served(node, ups)
    # dedupe still knows the content after the restart
    data, j = ups[0]
    again = _up(node, data, token() + ".bin")
    assert again["md5"] == j["md5"]


def _upload_kinds(node):
    """Uploads of each kind a rebuild must get right: plain, filename= rename, custom path,
    other scene, a name taken by other content, a ttl. Returns [(data, original name, scene
    or None, reply, record before)]."""
    out = []
    taken = token() + "_taken.txt"
    for kind in ("plain", "plain", "rename", "path", "scene", "taken", "taken", "ttl"):
        data = payload(random.randint(10, 50000))
        orig = taken if kind == "taken" else token() + "_orig.txt"
        fields = {}
        scene = "default"
        if kind == "rename":
            fields["filename"] = token() + "_renamed.txt"
        elif kind == "path":
            fields["path"] = token() + "/deep"
            scene = None
        elif kind == "scene":
            fields["scene"] = "otherscene"
            scene = "otherscene"
        elif kind == "ttl":
            fields["ttl"] = "86400"
        j = _up(node, data, orig, **fields)
        if kind == "rename":
            assert j["path"].endswith("/" + fields["filename"]), j
        before = assert_ok_json(requests.get(node.g + "/get_file_info",
                                             params={"md5": j["md5"]}, timeout=T))["data"]
        disk = os.path.join(node.path(before["path"]), before.get("rename") or before["name"])
        saved = os.getxattr(disk, "user.fileserver.info")
        # a record the file's place tells all but the time of is kept short, in the inode
        short = kind in ("plain", "scene") or (kind == "taken" and not before.get("rename"))
        assert saved.startswith(b"t") == short, (kind, saved)
        out.append((data, orig, scene, j, before))
    assert out[6][4].get("rename"), out[6][4]  # the second "taken" got another disk name
    return out


def _check_rebuilt(node, ups):
    bad = []
    for data, orig, scene, j, before in ups:
        r = requests.get(node.g + "/get_file_info", params={"md5": md5(data)}, timeout=T)
        if r.status_code != 200:
            bad.append(f"{orig}: get_file_info {describe(r)}")
            continue
        info = r.json()["data"]
        if info.get("size") != len(data):
            bad.append(f"{orig}: size {info.get('size')} != {len(data)}")
        if info.get("name") != orig:
            bad.append(f"{orig}: name {info.get('name')!r}, want the original upload name")
        if scene is not None and info.get("scene") != scene:
            bad.append(f"{orig}: scene {info.get('scene')!r}, want {scene!r}")
        for k in ("timeStamp", "timeMs", "expireAt", "offset", "rename", "path"):
            if info.get(k) != before.get(k):
                bad.append(f"{orig}: {k} {info.get(k)!r}, before the rebuild {before.get(k)!r}")
        g = requests.get(node.url + j["path"], timeout=T)
        if g.status_code != 200 or g.content != data:
            bad.append(f"{orig}: download after rebuild {describe(g)}")
        r = requests.get(node.g + "/get_file_info", params={"path": j["path"]}, timeout=T)
        if r.status_code != 200 or r.json()["data"].get("md5") != md5(data):
            bad.append(f"{orig}: get_file_info by path {describe(r)}")
    assert not bad, "\n".join(bad)


def test_rebuild_meta_cli(node):
    ups = _upload_kinds(node)
    assert node.stop() == 0
    shutil.rmtree(node.path("data", "meta"))
    p = node.run_cli(["--rebuild-meta"], timeout=60)
    assert p.returncode == 0, (p.stdout + p.stderr).decode("utf-8", "replace")
    assert os.path.isdir(node.path("data", "meta"))
    node.start()
    _check_rebuilt(node, ups)


def test_rebuild_via_repair_fileinfo(node):
    ups = _upload_kinds(node)
    assert node.stop() == 0
    shutil.rmtree(node.path("data", "meta"))
    node.start()
    r = requests.get(node.g + "/repair_fileinfo", timeout=(5, 60))
    assert_ok_json(r)
    _check_rebuilt(node, ups)


@pytest.mark.parametrize("restart", [False, True], ids=["same-run", "after-restart"])
def test_reupload_clears_the_tombstone_of_its_path(node, restart):
    """An upload clears the tombstone a delete left on its path, also one written before a
    restart (the node looks once at start whether any exists). Seen through the rebuild,
    which removes a file whose tombstone is newer than the file's mtime."""
    data, name, sub = payload(3000), token() + ".bin", token()
    j = _up(node, data, name, path=sub)
    r = requests.post(node.g + "/delete", data={"md5": j["md5"]}, timeout=T)
    assert_ok_json(r)
    if restart:
        node.restart()
    again = _up(node, data, name, path=sub)
    assert again["path"] == j["path"], (again, j)
    disk = node.path("files", *j["path"].split("/")[2:])
    old = time.time() - 3600  # older than the tombstone: a stale one would win
    os.utime(disk, (old, old))
    assert_ok_json(requests.get(node.g + "/repair_fileinfo", timeout=(5, 60)))
    assert os.path.isfile(disk), "the rebuild removed the re-uploaded file"
    g = requests.get(node.url + j["path"], timeout=T)
    assert g.status_code == 200 and g.content == data, describe(g)


def test_index_lost_still_serves_files(node):
    """Bytes are the truth: with the index gone, the files themselves still download."""
    data = payload()
    j = _up(node, data, token() + ".bin")
    assert node.stop() == 0
    shutil.rmtree(node.path("data", "meta"))
    node.start()
    g = requests.get(node.url + j["path"], timeout=T)
    assert g.status_code == 200 and g.content == data, describe(g)


@pytest.mark.parametrize("mode", ["group", "file", "none"])
def test_sync_modes_and_clean_stop(start_node, mode):
    """group and file make the disk syncs their replies wait for; none makes none and still
    writes everything out on a clean stop; plain and merged uploads alike."""
    n = start_node({"sync_mode": mode, "enable_merge_small_file": True})
    assert disk_syncs(n) == 0
    ups = []
    for i in range(6):
        # merged (small) and plain (over the 1 MiB merge limit) files
        data = payload(200 + i) if i % 2 else payload(1024 * 1024 + 100 + i)
        ups.append((data, _up(n, data, token() + ".bin")))
    syncs = disk_syncs(n)
    if mode == "none":
        assert syncs == 0
        assert "sync_mode none" in n.log()
    else:
        # each upload waits for at least one sync; file mode syncs file and directory
        assert syncs >= len(ups), syncs
    n.restart()
    _assert_served(n, ups)


@pytest.mark.parametrize("merge", [False, True])
def test_group_commit_records_ride_on_the_names_sync(start_node, merge):
    """sync_mode group, the index on the filesystem of files/: an upload's record is written
    before the syncfs that makes its name durable and rides on it, so the index's log is never
    synced on its own; with volumes (no name to place) that syncfs is still made. sync_mode
    file, which syncs descriptors and not the filesystem, syncs the index itself."""
    g = start_node({"sync_mode": "group", "enable_merge_small_file": merge})
    f = start_node({"sync_mode": "file", "enable_merge_small_file": merge})
    base = {n: (metric(n, "fileserver_index_syncs_total"), disk_syncs(n)) for n in (g, f)}
    ups = []
    for i in range(4):
        for n in (g, f):
            data = payload(300 + i)
            ups.append((n, data, _up(n, data, token() + ".bin")))
    assert metric(g, "fileserver_index_syncs_total") == base[g][0]
    # per upload: its bytes, then its name (a needle: its volume) with its record
    assert disk_syncs(g) - base[g][1] >= 2 * 4
    assert metric(f, "fileserver_index_syncs_total") - base[f][0] >= 4
    g.restart()
    _assert_served(g, [(d, j) for n, d, j in ups if n is g])


@pytest.mark.slow
def test_kill9_during_streamed_uploads(node):
    threads_n, per = 16, 6
    total = threads_n * per
    rnd = random.Random(os.urandom(8))
    specs = []                      # (seed, size, md5)
    for _ in range(total):
        seed = rnd.getrandbits(64)
        size = rnd.randint(1 << 20, 4 << 20)
        specs.append((seed, size, md5(seeded_bytes(seed, size))))
    all_md5 = {s[2] for s in specs}
    acked = []                      # (md5, path)
    wrong = []                      # replies before the kill that were not a clean 200
    lock = threading.Lock()
    replies = [0]
    stop = threading.Event()

    def chunks(seed, size):
        data = seeded_bytes(seed, size)
        step = 128 * 1024
        for off in range(0, size, step):
            yield data[off:off + step]

    def worker(ti):
        for k in range(per):
            if stop.is_set():
                return
            seed, size, digest = specs[ti * per + k]
            name = f"c{ti}_{k}.bin"
            try:
                if ti % 2 == 0:
                    b = new_boundary()
                    r = requests.post(node.g + "/upload", timeout=(5, 60),
                                      data=multipart_stream([("output", "json")], name,
                                                            chunks(seed, size), b),
                                      headers={"Content-Type":
                                               "multipart/form-data; boundary=" + b})
                else:
                    r = stream_upload_cl(node.port, "/group1/upload", [("output", "json")], name,
                                         chunks(seed, size), size, timeout=60)
            except Exception:        # noqa: BLE001 - the kill drops connections
                return
            with lock:
                replies[0] += 1
                if r.status_code == 200:
                    j = r.json()
                    if j.get("md5") != digest:
                        wrong.append(f"{name}: reply md5 {j.get('md5')} != {digest}")
                    acked.append((digest, j["path"]))
                else:
                    wrong.append(f"{name}: HTTP {r.status_code} {r.content[:200]!r}")

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads_n)]
    for t in ts:
        t.start()
    want = int(total * 0.4)
    wait_for(lambda: replies[0] >= want, timeout=120, interval=0.01,
             what=f"{want} upload replies")
    node.kill9()
    stop.set()
    for t in ts:
        t.join(70)
    assert not any(t.is_alive() for t in ts), "upload threads hung after kill -9"
    assert not wrong, "\n".join(wrong)
    assert acked, "no upload was acknowledged"
    assert len(acked) < total, "every upload finished before the kill; test proved nothing"

    node.start()
    tmp = node.path("data", "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == [], os.listdir(tmp)
    on_disk = files_under(node.path("files"))
    print(f"kill -9 after {replies[0]} replies: {len(acked)} acknowledged of {total}, "
          f"{len(on_disk)} files on disk after restart")
    bad = []
    for digest, path in acked:
        g = requests.get(node.url + path, timeout=(5, 60))
        if g.status_code != 200 or md5(g.content) != digest:
            bad.append(f"acknowledged {path} lost or corrupt: HTTP {g.status_code}, "
                       f"{len(g.content)} bytes")
    for f in files_under(node.path("files")):
        if file_md5(f) not in all_md5:
            bad.append(f"partial/foreign file on disk: {f} ({os.path.getsize(f)} bytes)")
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_streaming_upload_memory_bounded(start_node, binary):
    env = {}
    if _is_asan(binary):
        # ASan keeps freed blocks in a quarantine (256 MiB by default) that would dominate
        # VmHWM; shrink it so the measurement reflects the server's own buffering.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""),
                                                     "quarantine_size_mb=4"]))
    n = start_node(env=env)
    block = 1 << 20

    def gen(blocks, h, seed):
        r = random.Random(seed)
        b = new_boundary()

        def body():
            for _ in range(blocks):
                chunk = r.randbytes(block)
                h.update(chunk)
                yield chunk
        return b, body()

    # warm-up: 16 MiB, so buffers and pools reach their steady size
    h0 = hashlib.md5()
    b, body = gen(16, h0, 1)
    r = requests.post(n.g + "/upload", timeout=(5, 120),
                      data=multipart_stream([("output", "json")], "warm.bin", body, b),
                      headers={"Content-Type": "multipart/form-data; boundary=" + b})
    assert r.status_code == 200 and r.json()["md5"] == h0.hexdigest(), describe(r)
    before = n.vm_hwm_kib()
    h = hashlib.md5()
    b, body = gen(512, h, os.urandom(8))
    t0 = time.monotonic()
    r = requests.post(n.g + "/upload", timeout=(5, 300),
                      data=multipart_stream([("output", "json")], "big.bin", body, b),
                      headers={"Content-Type": "multipart/form-data; boundary=" + b})
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, describe(r)
    j = r.json()
    assert j["md5"] == h.hexdigest(), j
    assert j["size"] == 512 * block
    after = n.vm_hwm_kib()
    grew = (after - before) / 1024
    print(f"VmHWM {before} KiB after warm-up, {after} KiB after 512 MiB "
          f"({grew:.1f} MiB growth, {elapsed:.1f}s)")
    assert grew < 32, f"VmHWM grew {grew:.1f} MiB ({before} -> {after} KiB) in {elapsed:.1f}s"
    on_disk = n.path("files", *j["path"].split("/")[2:])
    assert os.path.getsize(on_disk) == 512 * block


def test_large_upload_with_length_is_stored_whole(node):
    """A body of 64 MiB or more with a Content-Length is written with O_DIRECT from a writer
    thread (dwrite.h) and hashed by its tap from the same buffers: the reply's digest, the
    bytes on disk and a download all match, for a size that ends inside a buffer."""
    size = 70 * (1 << 20) + 12345
    h = hashlib.md5()
    rnd = random.Random(os.urandom(8))

    def chunks():
        left = size
        while left:
            c = rnd.randbytes(min(left, 1 << 20))
            h.update(c)
            left -= len(c)
            yield c
    r = stream_upload_cl(node.port, "/group1/upload", [("output", "json")], "big.bin",
                         chunks(), size, timeout=120)
    assert r.status_code == 200, r.content[:300]
    j = json.loads(r.content)
    assert j["md5"] == h.hexdigest() and j["size"] == size, j
    on_disk = node.path("files", *j["path"].split("/")[2:])
    assert os.path.getsize(on_disk) == size
    assert file_md5(on_disk) == h.hexdigest()
    g = requests.get(node.url + j["path"], timeout=(5, 120))
    assert g.status_code == 200 and md5(g.content) == h.hexdigest()


def test_large_upload_cut_short_leaves_nothing(node):
    """A client that announces 80 MiB and hangs up after 40: the direct writer is stopped,
    nothing reaches files/, and the node goes on (a clean stop at teardown)."""
    b = new_boundary()
    fields = [("output", "json")]
    size = 80 * (1 << 20)
    total = multipart_stream_len(fields, "cut.bin", size, b)
    head = next(multipart_stream(fields, "cut.bin", [], b))
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as s:
        s.sendall(("POST /group1/upload HTTP/1.1\r\nHost: x\r\n"
                   f"Content-Type: multipart/form-data; boundary={b}\r\n"
                   f"Content-Length: {total}\r\n\r\n").encode() + head)
        block = os.urandom(1 << 20)
        for _ in range(40):
            s.sendall(block)
    d = _up(node, payload(300), token() + ".bin")  # still serving
    assert [os.path.basename(f) for f in files_under(node.path("files"))] == \
        [os.path.basename(d["path"])]
    wait_for(lambda: not files_under(node.path("data", "tmp")), timeout=10, interval=0.05,
             what="no temp left")


def _is_asan(binary):
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return b"libasan" in out
