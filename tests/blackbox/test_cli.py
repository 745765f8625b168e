"""The command line and process life-cycle: --version/--help/--check-config, configuration
errors naming the key, cfg.json generation on first start, environment overrides, and
SIGTERM (idle, and draining an upload in flight)."""
import json
import os
import signal
import stat
import subprocess
import threading
import time

import requests

from bbutil import (T, date_path_re, describe, md5, new_boundary, payload, stream_upload_cl,
                    token, upload, wait_for)
from conftest import clean_env


def _run(binary, args, timeout=20, env=None, cwd=None):
    return subprocess.run([binary] + list(args), env=clean_env(env), cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)


def _out(p):
    return (p.stdout + p.stderr).decode("utf-8", "replace")


def _check_config(n):
    return n.run_cli(["--check-config"], timeout=20)


def test_version(binary, tmp_path):
    p = _run(binary, ["--version"], cwd=tmp_path)
    assert p.returncode == 0, _out(p)
    assert any("fileserver" in line for line in _out(p).splitlines()), _out(p)


def test_help(binary, tmp_path):
    p = _run(binary, ["--help"], cwd=tmp_path)
    assert p.returncode == 0, _out(p)
    out = _out(p)
    for opt in ("--root", "--config", "--check-config"):
        assert opt in out, f"{opt} not in --help:\n{out}"
    assert os.listdir(tmp_path) == [], "--help created files"


def test_unknown_option(binary, tmp_path):
    p = _run(binary, ["--no-such-option-xyz"], cwd=tmp_path)
    assert p.returncode != 0, _out(p)
    assert "no-such-option-xyz" in _out(p), _out(p)


def test_check_config_valid(start_node):
    n = start_node(start=False)
    p = _check_config(n)
    assert p.returncode == 0, _out(p)
    assert not os.path.exists(n.path("files", "default")), "--check-config must not serve"


def test_check_config_unknown_key(start_node):
    n = start_node({"bogus_key_xyz": 1}, start=False)
    p = _check_config(n)
    assert p.returncode != 0, _out(p)
    assert "bogus_key_xyz" in p.stderr.decode("utf-8", "replace"), _out(p)


def test_check_config_ill_typed(start_node):
    bad = []
    for key, value in (("show_dir", "yes"), ("max_upload_size", "big"), ("admin_ips", "1.2.3.4"),
                       ("peers", 5), ("addr", 8080), ("file_sum_arithmetic", "crc32"),
                       ("max_upload_size", -1)):
        n = start_node({key: value}, start=False)
        p = _check_config(n)
        if p.returncode == 0:
            bad.append(f"{key}={value!r}: exit 0")
        elif key not in p.stderr.decode("utf-8", "replace"):
            bad.append(f"{key}={value!r}: stderr does not name the key: {_out(p)!r}")
    assert not bad, "\n".join(bad)


def test_check_config_not_json(start_node):
    n = start_node(start=False)
    with open(n.cfg_path, "w") as f:
        f.write('{"addr": "127.0.0.1:1", ')
    p = _check_config(n)
    assert p.returncode != 0, _out(p)


def test_start_with_bad_cfg_exits_naming_key(start_node):
    n = start_node({"show_dir": "nope"}, start=False)
    p = n.run_cli([], timeout=20)      # a normal start
    assert p.returncode != 0, _out(p)
    assert "show_dir" in p.stderr.decode("utf-8", "replace"), _out(p)
    n2 = start_node({"totally_unknown_key": True}, start=False)
    p = n2.run_cli([], timeout=20)
    assert p.returncode != 0, _out(p)
    assert "totally_unknown_key" in p.stderr.decode("utf-8", "replace"), _out(p)


def test_generated_cfg_on_first_start(start_node):
    n = start_node(write_cfg=False, env={"GO_FASTDFS_IP": "127.0.0.1"})
    assert os.path.isfile(n.cfg_path)
    mode = stat.S_IMODE(os.stat(n.cfg_path).st_mode)
    assert mode == 0o600, oct(mode)
    with open(n.cfg_path) as f:
        cfg = json.load(f)
    for k in ("peer_id", "host", "admin_key"):
        assert isinstance(cfg.get(k), str) and cfg[k], (k, cfg.get(k))
    assert cfg["host"].startswith("http://127.0.0.1:"), cfg["host"]
    # it serves with the generated configuration
    data = payload()
    r = upload(requests, n, data, token() + ".txt", {"output": "json"})
    assert r.status_code == 200, describe(r)
    assert r.json()["md5"] == md5(data)
    # a second start keeps the generated identity
    n.restart()
    with open(n.cfg_path) as f:
        cfg2 = json.load(f)
    assert cfg2["peer_id"] == cfg["peer_id"] and cfg2["admin_key"] == cfg["admin_key"]


def test_env_overrides_default_scene(start_node):
    n = start_node(env={"FILESERVER_DEFAULT_SCENE": "other"})
    name = token() + ".txt"
    r = upload(requests, n, payload(), name, {"output": "json"})
    assert r.status_code == 200, describe(r)
    j = r.json()
    assert j["scene"] == "other", j
    assert date_path_re("group1", "other", "7", name).match(j["path"]), j


def test_bad_env_override_names_key(start_node):
    n = start_node(env={"FILESERVER_SHOW_DIR": "maybe"}, start=False)
    p = n.run_cli(["--check-config"], timeout=20)
    assert p.returncode != 0, _out(p)
    assert "show_dir" in p.stderr.decode("utf-8", "replace").lower(), _out(p)


def test_go_fastdfs_dir_works_like_root(start_node):
    n = start_node(root_arg=False, start=False)
    n.env["GO_FASTDFS_DIR"] = n.root
    n.start()
    data = payload()
    name = token() + ".txt"
    r = upload(requests, n, data, name, {"output": "json"})
    assert r.status_code == 200, describe(r)
    on_disk = n.path("files", *r.json()["path"].split("/")[2:])
    assert os.path.isfile(on_disk), on_disk
    assert sorted(os.listdir(n.sandbox)) == ["root"], os.listdir(n.sandbox)


def test_sigterm_idle_exits_zero(node):
    t0 = time.monotonic()
    rc = node.stop()
    assert rc == 0, node.log()[-2000:]
    assert time.monotonic() - t0 < 10


def test_sigterm_drains_inflight_upload(node):
    size = 20 * 64 * 1024
    chunk_count = 20
    data = os.urandom(size)
    boundary = new_boundary()
    fields = [("output", "json")]
    name = token() + ".bin"
    started = threading.Event()
    result = {}

    def chunks():
        for i in range(chunk_count):
            if i == 3:
                started.set()
            yield data[i * 65536:(i + 1) * 65536]
            time.sleep(0.1)

    def run():
        try:
            result["r"] = stream_upload_cl(node.port, "/group1/upload", fields, name, chunks(),
                                           size, timeout=30, boundary=boundary)
        except Exception as e:       # noqa: BLE001
            result["e"] = e

    t = threading.Thread(target=run)
    t.start()
    assert started.wait(10), "upload did not start"
    node.proc.send_signal(signal.SIGTERM)
    node.stopped_by_us = True
    # while the upload drains, a new request is turned away with 503 and a closed connection
    def turned_away():
        try:
            g = requests.get(node.url + "/healthz", timeout=(1, 2))
        except requests.ConnectionError:
            return None
        return (g,) if g.status_code == 503 else None  # a Response of 503 is falsy
    (g,) = wait_for(turned_away, timeout=5, interval=0.02, what="503 during the drain")
    assert g.headers.get("Connection", "").lower() == "close", describe(g)
    t.join(30)
    assert not t.is_alive(), "upload hung after SIGTERM"
    assert "r" in result, f"upload failed during drain: {result.get('e')!r}"
    r = result["r"]
    assert r.status_code == 200, (r.status_code, r.content[:300])
    assert r.json()["md5"] == md5(data)
    try:
        rc = node.proc.wait(timeout=10)       # the drain bound
    except subprocess.TimeoutExpired:
        raise AssertionError("node still running 10 s after the drained upload finished")
    assert rc == 0, f"exit code {rc}"
    node._close_log()
    # acknowledged means durable: it is there after a restart
    node.start()
    g = requests.get(node.url + r.json()["path"], timeout=T)
    assert g.status_code == 200 and md5(g.content) == md5(data), describe(g)


def test_no_new_connections_after_sigterm(node):
    """After SIGTERM the node stops accepting quickly (within the 10 s drain bound)."""
    node.proc.send_signal(signal.SIGTERM)
    node.stopped_by_us = True
    rc = node.proc.wait(timeout=12)
    assert rc == 0
    node._close_log()

    def refused():
        try:
            requests.get(node.url + "/healthz", timeout=(1, 1))
            return False
        except requests.ConnectionError:
            return True
    wait_for(refused, timeout=3, what="connection refused after exit")
