"""Helpers for the cluster tests: building a group of nodes that all know each other's ports
before any of them starts, signing node-to-node calls the way the server checks them
(HMAC-SHA256 under the cluster secret over method, raw path, decoded query arguments in
order, body SHA-256 and time), and bounded polling of convergence without side effects
(get_file_info, never a download, which would fetch a missing file from the peers)."""
import hashlib
import hmac
import os
import time
import urllib.parse

import requests

from bbutil import T, describe, raw_path_request, upload

# Polls and admin calls that wait on the network (repair) get this read timeout.
T_LONG = (5, 90)


def new_secret():
    return os.urandom(16).hex()


def make_cluster(start_node, n, peers_of=None, secret=None, extra=None, start=True):
    """n nodes, each with its own root and port, the same cluster_secret, distinct peer_ids
    and auto_repair off. peers_of[i] lists the indexes node i names in "peers" (default:
    every node, itself included). Ports are known before any cfg.json is written because
    the factory picks them when it prepares a root (start=False)."""
    secret = secret or new_secret()
    nodes = [start_node(start=False) for _ in range(n)]
    urls = [nd.url for nd in nodes]
    for i, nd in enumerate(nodes):
        idx = range(n) if peers_of is None else peers_of[i]
        cfg = {"addr": f"127.0.0.1:{nd.port}", "host": nd.url,
               "peers": [urls[j] for j in idx], "peer_id": str(101 + i),
               "cluster_secret": secret, "auto_repair": False}
        cfg.update(extra or {})
        nd.cfg = cfg
        nd.write_cfg(cfg)
    if start:
        for nd in nodes:
            nd.start()
    return nodes, secret


# ---- signed calls --------------------------------------------------------------------------

def _esc(s):
    # '%' first, so that the escape stays reversible (as the server does)
    return s.replace("%", "%25").replace("\n", "%0A").replace("=", "%3D")


def canonical(method, path, args, body_sha, t):
    out = _esc(method) + "\n" + _esc(path) + "\n"
    for k, v in args:
        out += _esc(k) + "=" + _esc(v) + "\n"
    return out + _esc(body_sha) + "\n" + str(t)


def sign_headers(secret, method, path, args, body=b"", t=None, peer=None):
    """X-Fs-* headers for a call of method on path (raw, as sent) with decoded query args
    (list of (key, value) in the order sent) and body."""
    sha = hashlib.sha256(body).hexdigest()
    t = int(time.time()) if t is None else int(t)
    sig = hmac.new(secret.encode(), canonical(method, path, args, sha, t).encode(),
                   hashlib.sha256).hexdigest()
    h = {"X-Fs-Time": str(t), "X-Fs-Sign": sig, "X-Fs-Body-Sha256": sha}
    if peer:
        h["X-Fs-Peer"] = peer
    return h


def query(args):
    """Query string with every reserved byte percent-encoded (no '+' for spaces)."""
    return "&".join(urllib.parse.quote(k, safe="") + "=" + urllib.parse.quote(v, safe="")
                    for k, v in args)


def peer_call(node, method, path, args=(), body=b"", headers=None, ctype=None):
    """Sends method path?args to node exactly as given; returns bbutil.RawResponse."""
    args = list(args)
    target = path + ("?" + query(args) if args else "")
    h = dict(headers or {})
    if ctype:
        h["Content-Type"] = ctype
    return raw_path_request(node.port, method, target, headers=h, body=body, timeout=30)


def signed_call(node, secret, method, path, args=(), body=b"", t=None, peer=None,
                sign_args=None, sign_body=None, ctype=None):
    """A signed call; sign_args / sign_body (when given) are what the signature covers,
    so a test can send something other than what was signed."""
    args = list(args)
    h = sign_headers(secret, method, path, args if sign_args is None else list(sign_args),
                     body if sign_body is None else sign_body, t=t, peer=peer)
    return peer_call(node, method, path, args, body=body, headers=h, ctype=ctype)


# ---- files and convergence -------------------------------------------------------------------

def upload_json(node, data, name):
    r = upload(requests, node, data, name, {"output": "json"})
    assert r.status_code == 200, f"upload to {node.url}: {describe(r)}"
    j = r.json()
    assert j.get("md5") == hashlib.md5(data).hexdigest(), j
    return j


def disk_path(node, upath):
    """Where a download path "/group1/<scene>/..." (raw, as upload answers give it in
    "path") lives on node's disk."""
    parts = upath.split("/")
    assert parts[0] == "" and parts[1] == node.group, upath
    return node.path("files", *parts[2:])


def file_info(node, md5hex):
    """(status, data) of G/get_file_info?md5= (a local lookup, no side effects)."""
    r = requests.get(node.g + "/get_file_info", params={"md5": md5hex}, timeout=T)
    data = None
    if r.status_code == 200:
        try:
            data = r.json().get("data")
        except ValueError:
            pass
    return r.status_code, data


def wait_indexed(nodes, md5s, timeout, what="files indexed"):
    """Polls get_file_info on every node until each of md5s is known everywhere. Returns
    nothing; on timeout raises with what is still missing where."""
    missing = {(i, m) for i in range(len(nodes)) for m in md5s}
    deadline = time.monotonic() + timeout
    rounds = int(timeout / 0.2) + 2
    for _ in range(rounds):
        for (i, m) in sorted(missing):
            st, _d = file_info(nodes[i], m)
            if st == 200:
                missing.discard((i, m))
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if missing:
        per = {}
        for i, _m in missing:
            per[nodes[i].url] = per.get(nodes[i].url, 0) + 1
        raise AssertionError(f"timed out after {timeout}s waiting for {what}: still missing "
                             f"{per} (of {len(md5s)} each)")


def get_path(node, upath, timeout=T):
    """GET of a raw download path, percent-encoded here."""
    return requests.get(node.url + urllib.parse.quote(upath, safe="/"), timeout=timeout)


def status(node):
    r = requests.get(node.g + "/status", timeout=T)
    assert r.status_code == 200, describe(r)
    j = r.json()
    assert j.get("status") == "ok", j
    return j["data"]


def peer_status(node):
    ps = status(node).get("Fs.PeerStatus")
    assert isinstance(ps, list), ps
    return {e["peer"]: e for e in ps}


def repair(node, force=False):
    params = {"force": "1"} if force else {}
    r = requests.get(node.g + "/repair", params=params, timeout=T_LONG)
    assert r.status_code == 200, f"repair on {node.url}: {describe(r)}"
    j = r.json()
    assert j.get("status") == "ok", j
    assert isinstance(j.get("message"), str) and j["message"].startswith("repair:"), j
    return j["message"]


def metrics(node):
    r = requests.get(node.url + "/metrics", timeout=T)
    assert r.status_code == 200, describe(r)
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out, r
