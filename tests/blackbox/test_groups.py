"""Groups (FastDFS's tracker model without trackers): a node answers another group's URLs by
redirecting to one of that group's nodes, and /upload places a file by store_lookup."""
import requests

from bbutil import md5, payload, token

T = 10
SECRET = "00112233445566778899aabbccddeeff"


def _two_groups(start_node, a_extra=None):
    a = start_node(start=False)
    b = start_node(start=False)
    a_cfg = dict(a.cfg, group="group1", cluster_secret=SECRET, peer_id="1",
                 group_nodes=[f"group2={b.url}"], auto_repair=False)
    a_cfg.update(a_extra or {})
    b_cfg = dict(b.cfg, group="group2", cluster_secret=SECRET, peer_id="2",
                 group_nodes=[f"group1={a.url}"], auto_repair=False)
    a.write_cfg(a_cfg)
    b.write_cfg(b_cfg)
    a.group, a.g = "group1", a.url + "/group1"
    b.group, b.g = "group2", b.url + "/group2"
    a.start()
    b.start()
    return a, b


def test_download_of_other_group_through_any_node(start_node):
    a, b = _two_groups(start_node)
    data = payload(5000)
    r = requests.post(b.g + "/upload", files={"file": (token() + ".bin", data)},
                      data={"output": "json"}, timeout=T)
    assert r.status_code == 200, r.text
    path = r.json()["path"]
    assert path.startswith("/group2/")
    # through the group-1 node: a redirect to a group-2 node, then the bytes
    r = requests.get(a.url + path, allow_redirects=False, timeout=T)
    assert r.status_code in (302, 307), r.text
    assert r.headers["Location"].startswith(b.url + path)
    r = requests.get(a.url + path, timeout=T)
    assert r.status_code == 200 and md5(r.content) == md5(data)


def test_unknown_group_is_404(start_node):
    a, _ = _two_groups(start_node)
    r = requests.get(a.url + "/group9/default/x.txt", allow_redirects=False, timeout=T)
    assert r.status_code == 404
    assert r.json()["status"] == "fail"


def test_upload_placed_by_fixed_group(start_node):
    a, b = _two_groups(start_node, {"store_lookup": 1, "store_group": "group2"})
    data = payload(3000)
    r = requests.post(a.url + "/upload", files={"file": (token() + ".bin", data)},
                      data={"output": "json"}, allow_redirects=False, timeout=T)
    assert r.status_code == 307, r.text
    assert r.headers["Location"].startswith(b.url + "/group2/upload")
    # a client that follows the redirect re-sends the body to the chosen group
    r = requests.post(r.headers["Location"], files={"file": ("x.bin", data)},
                      data={"output": "json"}, timeout=T)
    assert r.status_code == 200 and r.json()["path"].startswith("/group2/")
    assert r.json()["md5"] == md5(data)


def test_upload_round_robin_covers_both_groups(start_node):
    a, b = _two_groups(start_node, {"store_lookup": 0})
    seen = set()
    for _ in range(4):
        r = requests.post(a.url + "/upload", files={"file": (token() + ".bin", payload(100))},
                          data={"output": "json"}, allow_redirects=False, timeout=T)
        if r.status_code == 200:
            seen.add("group1")
            assert r.json()["path"].startswith("/group1/")
        else:
            assert r.status_code == 307 and r.headers["Location"].startswith(b.url)
            seen.add("group2")
    assert seen == {"group1", "group2"}


def test_bad_group_nodes_config_names_the_key(start_node):
    n = start_node(cfg_overrides={"group_nodes": ["nogroup"]}, start=False)
    r = n.run_cli(["--check-config"])
    assert r.returncode != 0 and b"group_nodes" in r.stderr, r
