"""Content dedupe (enable_distinct_file): one copy per scene, concurrent identical uploads,
cross-scene copies that survive each other's delete, and same-name different-content uploads
that must never overwrite each other."""
import threading
import time

import pytest
import requests

from bbutil import (T, assert_fail, assert_ok_json, describe, file_md5, files_under, md5,
                    metric, payload, token, upload)


def _copies(node, digest):
    return [p for p in files_under(node.path("files")) if file_md5(p) == digest]


def _upload_all(node, jobs):
    """[(data, name, fields)] uploaded at once from one thread each; the replies in order"""
    barrier = threading.Barrier(len(jobs), timeout=20)
    results = [None] * len(jobs)

    def run(i):
        data, name, fields = jobs[i]
        try:
            barrier.wait()
            results[i] = upload(requests, node, data, name, dict(fields, output="json"),
                                timeout=(5, 60))
        except Exception as e:           # noqa: BLE001
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads), "uploads hung"
    errs = [r if isinstance(r, Exception) else describe(r) for r in results
            if isinstance(r, Exception) or r.status_code != 200]
    assert not errs, errs
    return [r.json() for r in results]


def test_same_bytes_twice_one_copy(node):
    data = payload(4000)
    name = token() + ".bin"
    a = upload(requests, node, data, name, {"output": "json"})
    b = upload(requests, node, data, name, {"output": "json"})
    assert a.status_code == 200 and b.status_code == 200, (describe(a), describe(b))
    a, b = a.json(), b.json()
    assert a["url"] == b["url"] and a["md5"] == b["md5"] == md5(data), (a, b)
    assert len(_copies(node, md5(data))) == 1, files_under(node.path("files"))
    # same bytes under another name: accepted, same digest
    c = upload(requests, node, data, token() + ".bin", {"output": "json"})
    assert c.status_code == 200 and c.json()["md5"] == md5(data), describe(c)
    g = requests.get(c.json()["url"], timeout=T)
    assert g.status_code == 200 and g.content == data, describe(g)


def test_concurrent_identical_uploads(node):
    data = payload(256 * 1024)
    name = token() + ".bin"
    results = _upload_all(node, [(data, name, {})] * 8)
    urls = {r["url"] for r in results}
    assert len(urls) == 1, urls
    assert {r["md5"] for r in results} == {md5(data)}
    assert len(_copies(node, md5(data))) == 1, files_under(node.path("files"))
    g = requests.get(urls.pop(), timeout=T)
    assert g.status_code == 200 and g.content == data


def test_same_bytes_other_scene(node):
    data = payload(3000)
    name = token() + ".bin"
    a = upload(requests, node, data, name, {"output": "json", "scene": "default"}).json()
    b = upload(requests, node, data, name, {"output": "json", "scene": "other"}).json()
    assert a["md5"] == b["md5"] == md5(data)
    assert a["path"] != b["path"], (a, b)
    assert b["path"].startswith("/group1/other/"), b
    for j in (a, b):
        g = requests.get(node.url + j["path"], timeout=T)
        assert g.status_code == 200 and g.content == data, describe(g)
    d = requests.post(node.g + "/delete", data={"path": a["path"]}, timeout=T)
    assert_ok_json(d)
    assert requests.get(node.url + a["path"], timeout=T).status_code == 404
    g = requests.get(node.url + b["path"], timeout=T)
    assert g.status_code == 200 and g.content == data, describe(g)
    info = requests.get(node.g + "/get_file_info", params={"path": b["path"]}, timeout=T)
    assert assert_ok_json(info)["data"]["md5"] == md5(data)
    # and the other way round: the surviving copy can be deleted too
    d = requests.post(node.g + "/delete", data={"path": b["path"]}, timeout=T)
    assert_ok_json(d)
    assert requests.get(node.url + b["path"], timeout=T).status_code == 404
    assert _copies(node, md5(data)) == []


def test_same_name_different_content_no_overwrite(node):
    name = token() + ".txt"
    d1, d2 = payload(1000), payload(1000)
    a = upload(requests, node, d1, name, {"output": "json"})
    b = upload(requests, node, d2, name, {"output": "json"})
    assert a.status_code == 200 and b.status_code == 200, (describe(a), describe(b))
    a, b = a.json(), b.json()
    assert a["url"] != b["url"], (a["url"], b["url"])
    for j, d in ((a, d1), (b, d2)):
        g = requests.get(j["url"], timeout=T)
        assert g.status_code == 200 and g.content == d, (j["url"], describe(g))
        assert j["md5"] == md5(d)
    # the filename= field colliding with an existing stored name behaves the same way
    stored = token() + ".txt"
    d3, d4 = payload(500), payload(500)
    c = upload(requests, node, d3, "x.txt", {"output": "json", "filename": stored}).json()
    e = upload(requests, node, d4, "y.txt", {"output": "json", "filename": stored}).json()
    assert c["url"] != e["url"]
    for j, d in ((c, d3), (e, d4)):
        g = requests.get(j["url"], timeout=T)
        assert g.status_code == 200 and g.content == d, (j["url"], describe(g))
        info = assert_ok_json(requests.get(node.g + "/get_file_info",
                                           params={"path": j["path"]}, timeout=T))["data"]
        assert info["md5"] == md5(d), info


def test_delete_then_reupload(node):
    data = payload()
    name = token() + ".bin"
    a = upload(requests, node, data, name, {"output": "json"}).json()
    assert_ok_json(requests.get(node.g + "/delete", params={"md5": a["md5"]}, timeout=T))
    assert_fail(requests.get(node.url + a["path"], timeout=T), 404)
    b = upload(requests, node, data, name, {"output": "json"})
    assert b.status_code == 200, describe(b)
    g = requests.get(b.json()["url"], timeout=T)
    assert g.status_code == 200 and g.content == data, describe(g)


def test_concurrent_same_name_different_content(node):
    """Check-then-create races (go-fastdfs 12.2.13): simultaneous uploads of different bytes
    under one name each get their own URL, and nothing is overwritten."""
    name = token() + ".txt"
    n = 8
    datas = [payload(64 * 1024) for _ in range(n)]
    urls = [r["url"] for r in _upload_all(node, [(d, name, {}) for d in datas])]
    assert len(set(urls)) == n, urls
    for u, d in zip(urls, datas):
        g = requests.get(u, timeout=T)
        assert g.status_code == 200 and g.content == d, (u, describe(g))


@pytest.mark.parametrize("merged", [False, True], ids=["files", "volumes"])
def test_one_commit_batch_of_every_kind(start_node, merged):
    """Uploads that arrive together are committed in batches (one sync of the bytes, one of
    the names, one of the records). Within a batch, identical content must still become one
    copy, a taken name another name, another scene a second path, a custom path its own;
    small files may be needles in a volume; and everything acknowledged must survive
    kill -9."""
    node = start_node({"enable_merge_small_file": merged})
    checks = []
    for _ in range(5):
        same, other = payload(5000), payload(7000)
        taken, shared = token() + ".txt", token() + ".bin"
        jobs = [(same, shared, {}) for _ in range(4)]
        jobs += [(payload(3000), taken, {}) for _ in range(4)]
        jobs += [(other, shared, {}), (other, shared, {"scene": "other"})]
        jobs += [(payload(2000), token() + ".bin", {"path": token() + "/deep"}) for _ in range(2)]
        jobs += [(payload(1000 + i), token() + ".bin", {}) for i in range(12)]
        replies = _upload_all(node, jobs)
        assert len({j["url"] for j in replies[0:4]}) == 1, replies[0:4]
        if merged:
            assert "/haystack/" in replies[0]["path"], replies[0]
        else:
            assert len(_copies(node, md5(same))) == 1, files_under(node.path("files"))
        assert len({j["url"] for j in replies[4:8]}) == 4, replies[4:8]
        assert replies[8]["path"] != replies[9]["path"], replies[8:10]
        if not merged:  # a needle's URL names its volume, not its scene
            assert replies[9]["path"].startswith("/group1/other/"), replies[9]
        for (data, _name, fields), j in zip(jobs[10:12], replies[10:12]):
            assert "/" + fields["path"] + "/" in j["path"], j
        checks += [(data, j) for (data, _n, _f), j in zip(jobs, replies)]
        if metric(node, "fileserver_commit_batch_max") > 1:
            break
    else:
        pytest.fail("24 uploads at once never shared a commit batch in 5 tries")
    assert metric(node, "fileserver_commit_batches_total") < metric(node,
                                                                    "fileserver_uploads_total")
    node.kill9()
    node.start()
    for data, j in checks:
        g = requests.get(node.url + j["path"], timeout=T)
        assert g.status_code == 200 and g.content == data, (j["path"], describe(g))
        info = requests.get(node.g + "/get_file_info", params={"path": j["path"]}, timeout=T)
        assert assert_ok_json(info)["data"]["md5"] == md5(data), j


def test_batched_uploads_beside_deletes(node):
    """Deletes take the same digest locks as the upload committer: uploads and deletes of
    the same contents at once must all finish (no lock waits on another), and every file
    ends up either whole and indexed or gone from both disk and index."""
    datas = [payload(2000 + i) for i in range(8)]
    names = [token() + ".bin" for _ in datas]
    deadline = time.monotonic() + 60
    errors, done = [], []

    def uploader(k):
        try:
            for r in range(12):
                i = (k + r) % len(datas)
                u = upload(requests, node, datas[i], names[i], {"output": "json"},
                           timeout=(5, 30))
                if u.status_code != 200:
                    errors.append(describe(u))
                if time.monotonic() > deadline:
                    return
            done.append(k)
        except Exception as e:           # noqa: BLE001
            errors.append(repr(e))

    def deleter(k):
        try:
            for r in range(12):
                i = (k + 2 * r) % len(datas)
                d = requests.post(node.g + "/delete", data={"md5": md5(datas[i])}, timeout=T)
                if d.status_code not in (200, 404):
                    errors.append(describe(d))
                if time.monotonic() > deadline:
                    return
            done.append(-1 - k)
        except Exception as e:           # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=uploader, args=(k,)) for k in range(8)]
    threads += [threading.Thread(target=deleter, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "uploads or deletes hung"
    assert not errors, errors
    assert len(done) == len(threads), done
    for data, name in zip(datas, names):
        info = requests.get(node.g + "/get_file_info", params={"md5": md5(data)}, timeout=T)
        copies = _copies(node, md5(data))
        if info.status_code == 200 and info.json().get("status") == "ok":
            rec = info.json()["data"]
            url = "%s/%s/%s/%s" % (node.url, node.group, rec["path"][len("files/"):],
                                   rec.get("rename") or rec["name"])
            g = requests.get(url, timeout=T)
            assert g.status_code == 200 and g.content == data, (name, url, describe(g))
            assert len(copies) == 1, (name, copies)
        else:
            assert copies == [], (name, copies)
