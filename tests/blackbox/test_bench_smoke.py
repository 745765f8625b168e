"""Smoke test of the benchmark harness: `bench/run --smoke` (1 s per case, tiny file counts)
against the binary under test must print its table with a figure for every case and leave
no process behind, also when it is interrupted. The figures themselves mean nothing here.
Skipped when wrk or nginx is missing (tools/install-deps.sh --bench installs them)."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import REPO, clean_env

RUN = REPO / "bench" / "run"
SMOKE_LIMIT = 60.0
TOOLS = ("wrk", "nginx", "curl", "openssl")
HEADER = "| measurement | unit | fileserver | nginx | fileserver/nginx |"
# rows that must carry a fileserver figure, and those that must also carry nginx's
BOTH = ("RSS idle after start", "GET 4 KiB, c1", "GET 4 KiB, c64", "GET 100 KiB, c64",
        "GET 10 MiB, c1", "GET 10 MiB, c64", "RSS peak, GET runs",
        "upload 4 KiB, c64, sync_mode group", "upload 100 KiB, c64, sync_mode group",
        "upload 4 KiB, c64, sync_mode none", "upload 100 KiB, c64, sync_mode none",
        "RSS peak, upload runs", "upload 16 MiB", "download 16 MiB")
FS_ONLY = ("single-core MD5", "replication of 20", "index rebuild of 2,000 files",
           "start-up with 2,000 files", "get_file_info by md5", "metadata on disk per file")


def _missing_tools():
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [t for t in TOOLS if not shutil.which(t, path=path)]


def _procs_mentioning(marker):
    """pids of processes whose command line contains marker (our temporary directory)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmd:
            out.append((int(pid), cmd))
    return out


def _argv(binary, tmp_path, *extra):
    return [str(RUN), "--smoke", "--bin", binary, "--cache", str(tmp_path / "cache"),
            "--work", str(tmp_path / "work"), *extra]


@pytest.fixture
def bench_tools():
    missing = _missing_tools()
    if missing:
        pytest.skip(f"benchmark tools missing: {' '.join(missing)} "
                    "(tools/install-deps.sh --bench)")


def _row(table_lines, label):
    for line in table_lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith(label):
            return cells
    return None


def _is_number(cell):
    try:
        float(cell.replace(",", ""))
        return True
    except ValueError:
        return False


def test_bench_smoke_prints_table(binary, tmp_path, bench_tools):
    res_json = tmp_path / "results.json"
    t0 = time.monotonic()
    p = subprocess.run(_argv(binary, tmp_path, "--json", str(res_json)), env=clean_env(),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=SMOKE_LIMIT + 30)
    elapsed = time.monotonic() - t0
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, f"bench/run --smoke exited {p.returncode}\n{err[-4000:]}"
    assert HEADER in out, out[-3000:]
    # each run's log line tells what it cost and whether it drew on the free memory
    assert "µs CPU per request" in err and "free memory" in err, err[-3000:]
    lines = [ln for ln in out.splitlines() if ln.startswith("| ")]
    for label in BOTH:
        cells = _row(lines, label)
        assert cells, f"no row {label!r} in\n{out}"
        assert _is_number(cells[2]) and _is_number(cells[3]), f"row {cells}"
        assert _is_number(cells[4]), f"no ratio in row {cells}"
    for label in FS_ONLY:
        cells = _row(lines, label)
        assert cells, f"no row {label!r} in\n{out}"
        assert _is_number(cells[2]), f"row {cells}"

    res = json.loads(res_json.read_text())
    assert res["complete"] is True
    for d in res["details"]:
        assert d["errors"] == 0, f"HTTP or socket errors in {d}"
        assert d["rps"] > 0, d
    assert not _procs_mentioning(str(tmp_path)), "processes left running"
    assert not os.listdir(tmp_path / "work"), "temporary roots left behind"
    assert elapsed < SMOKE_LIMIT, f"smoke run took {elapsed:.1f}s (limit {SMOKE_LIMIT}s)"


def test_bench_interrupt_stops_every_process(binary, tmp_path, bench_tools):
    """Ctrl-C while both servers run: the harness stops them and exits non-zero."""
    p = subprocess.Popen(_argv(binary, tmp_path, "--only", "get"), env=clean_env(),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline and p.poll() is None:
            seen = _procs_mentioning(str(tmp_path / "work"))
            # a fileserver (--root ...) and an nginx master (-p ...) are up
            if any("--root" in c for _, c in seen) and any(" -p " in c for _, c in seen):
                break
            time.sleep(0.05)
        assert p.poll() is None, "harness ended before both servers were up"
        assert seen, "servers never started"
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=40)
        err = p.stderr.read().decode("utf-8", "replace")
        assert rc != 0, err[-2000:]
        assert "interrupted" in err, err[-2000:]
        left = _procs_mentioning(str(tmp_path / "work"))
        assert not left, f"still running after the interrupt: {left}"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
        p.stderr.close()


def test_make_room_removes_measured_variants_when_disk_is_short(tmp_path, monkeypatch):
    """A full run writes more than many disks hold: before an upload variant the harness
    removes the files of the variants already measured, and only when space is short."""
    import sys
    import types
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    harness = __import__("harness")
    try:
        done_dir = tmp_path / "fs-none-root"
        (done_dir / "files").mkdir(parents=True)
        (done_dir / "files" / "a.bin").write_bytes(b"x" * 4096)
        keep = tmp_path / "fs-root"
        keep.mkdir()
        opts = types.SimpleNamespace(smoke=False, pairs=3, duration=5)
        done = [str(done_dir)]
        harness.make_room(opts, str(tmp_path), done, 0)  # plenty of room: keep all
        assert done_dir.exists() and done == [str(done_dir)]
        monkeypatch.setattr(harness, "ROOM_WAIT_S", 1)
        harness.make_room(opts, str(tmp_path), done, 10 ** 9)  # no disk is that big
        assert not done_dir.exists() and done == [] and keep.exists()
        # the creation probes it waited with leave nothing behind
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fs-root"]
    finally:
        sys.modules.pop("harness", None)


def test_spread_subdirs_sets_the_top_directory_flag(tmp_path, monkeypatch):
    """The roots of a run go to block groups of their own (ext4's +T flag on the directory
    above them), away from the inodes an earlier run's delete left "recently deleted"; on a
    filesystem without the flag the call says so and changes nothing."""
    import fcntl
    import struct
    import sys
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    harness = __import__("harness")
    try:
        d = tmp_path / "work"
        d.mkdir()

        def flags():
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                buf = bytearray(struct.pack("i", 0))
                fcntl.ioctl(fd, harness.FS_IOC_GETFLAGS, buf, True)
                return struct.unpack("i", buf)[0]
            finally:
                os.close(fd)

        assert harness.spread_subdirs(str(tmp_path / "missing")) is False
        fstype = subprocess.run(["stat", "-f", "-c", "%T", str(d)], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if not fstype.startswith("ext"):  # ext4 reports "ext2/ext3": one magic for all
            pytest.skip(f"the test's temp directory is on {fstype}, not ext4")
        before = flags()
        assert harness.spread_subdirs(str(d)) is True
        after = flags()
        assert after & harness.FS_TOPDIR_FL
        assert after & ~harness.FS_TOPDIR_FL == before & ~harness.FS_TOPDIR_FL
        assert harness.spread_subdirs(str(d)) is True  # already set: still true, no change
        assert flags() == after
    finally:
        sys.modules.pop("harness", None)


def test_healthy_root_keeps_the_first_fast_directory(tmp_path, monkeypatch):
    """A server's root goes where files are created at a healthy rate: slow tries are kept
    aside (not deleted: a delete is what makes a block group slow), the probe's files stay,
    and after ROOT_TRIES slow tries the fastest one is used."""
    import sys
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    harness = __import__("harness")
    try:
        rates = iter([100.0, 900.0, harness.PROBE_HEALTHY + 1.0, 5.0])
        probed = []

        def fake_rate(d, remove=False):
            assert not remove
            probed.append(d)
            os.mkdir(os.path.join(d, "creation-probe-x"))
            return next(rates)

        monkeypatch.setattr(harness, "creation_rate", fake_rate)
        root = harness.healthy_root(str(tmp_path), "fs-root")
        assert len(probed) == 3 and root == probed[2]
        assert os.path.basename(root).startswith("fs-root-")
        assert all(os.path.isdir(os.path.join(d, "creation-probe-x")) for d in probed)

        slow = iter([float(r) for r in range(harness.ROOT_TRIES, 0, -1)])
        probed.clear()
        monkeypatch.setattr(harness, "creation_rate",
                            lambda d, remove=False: probed.append(d) or next(slow))
        root = harness.healthy_root(str(tmp_path), "nginx-up")
        assert len(probed) == harness.ROOT_TRIES and root == probed[0]  # the fastest
    finally:
        sys.modules.pop("harness", None)


def test_fill_page_cache_reads_the_sparse_filler(tmp_path, monkeypatch):
    """Before each run the harness reads a sparse file into the page cache (no disk block
    is written) until free memory is low, a whole pass is done or time is up, resuming
    where the last call stopped; with free memory already low it reads nothing."""
    import sys
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    harness = __import__("harness")
    try:
        big = harness.make_filler(str(tmp_path))
        st = os.stat(big)
        assert st.st_size == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        assert st.st_blocks == 0
        path = tmp_path / "small"
        with open(path, "wb") as f:
            f.truncate(96 << 20)
        frees = iter([4096] + [4096] * 10)
        monkeypatch.setattr(harness, "free_mib", lambda: next(frees))
        mib, before, after = harness.fill_page_cache(str(path), reserve_mib=0)
        assert (mib, before, after) == (128, 4096, 4096)  # two checks of 64 MiB, one pass
        assert harness.fill_page_cache.pos == 32 << 20    # wrapped after 96 MiB
        assert os.stat(path).st_blocks == 0
        frees = iter([4096, 100, 100])                    # low after the first 64 MiB
        mib, before, after = harness.fill_page_cache(str(path), reserve_mib=256)
        assert (mib, after) == (64, 100) and harness.fill_page_cache.pos == 0
        frees = iter([300, 300])                          # already low: nothing read
        assert harness.fill_page_cache(str(path), reserve_mib=256)[0] == 0
        frees = iter([4096] * 3)
        assert harness.fill_page_cache(str(path), reserve_mib=0, limit_s=0)[0] == 0
    finally:
        sys.modules.pop("harness", None)


def test_ratio_never_rounds_onto_its_target(monkeypatch):
    """A ratio of 0.996 against a target of 1.0x was printed as 1.00 beside "missed": near its
    bound a ratio gets a third decimal, elsewhere two."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    harness = __import__("harness")
    assert harness.fmt_ratio(0.996, 1.0) == "0.996"
    assert harness.fmt_ratio(1.004, 1.0) == "1.004"
    assert harness.fmt_ratio(0.9451, 0.95) == "0.945"
    assert harness.fmt_ratio(0.9449, 0.95) == "0.94"   # already reads as below
    assert harness.fmt_ratio(1.0, 1.0) == "1.00"
    assert harness.fmt_ratio(0.93, 0.95) == "0.93"
    assert harness.fmt_ratio(0.996, None) == "1.00"   # no target: as before
    assert harness.fmt_ratio(None, 1.0) == "–"
    res = harness.Results()
    res.row("upload", "req/s", 9960.0, 10000.0, pair_ratios=[0.996, 0.99, 1.2],
            target=("ratio>=", 1.0, "≥ 1.0× nginx"))
    import io
    import types
    out = io.StringIO()
    harness.print_report(res, types.SimpleNamespace(smoke=False), out)
    assert "| 0.996 |" in out.getvalue() and "**no**" in out.getvalue()
