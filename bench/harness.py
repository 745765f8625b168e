"""fileserver benchmark harness (started by bench/run; see docs/BENCHMARKS.md).

Builds a release binary, generates the input files once into a cache directory, starts a
fileserver node and an nginx serving the same files on 127.0.0.1, runs every case against
both in alternation (A B A B ..., the median of the per-pair ratios is reported), then the
replication and metadata-scale measurements, and prints one table. Every process it starts
is stopped on every exit path; every run is bounded in time."""
import argparse
import fcntl
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import client  # noqa: E402
import corpus  # noqa: E402
import procs  # noqa: E402

MB = 1e6            # throughput is reported in decimal MB/s, as wrk and curl do
MIB = 1024 * 1024
SECTIONS = ("get", "upload", "big", "repl", "meta")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Interrupted(Exception):
    pass


def _on_sigterm(signum, frame):
    raise Interrupted(f"signal {signum}")


# ---- results ---------------------------------------------------------------------------------

class Results:
    """Rows of the main table: one figure for each server, their ratio and the target."""

    def __init__(self):
        self.rows = []
        self.details = []
        self.notes = []
        self.info = {}

    def row(self, name, unit, fs, ngx=None, pair_ratios=None, target=None, note=""):
        """target: (kind, value, text) with kind 'ratio>=', 'ratio<=', 'fs<=', 'fs<' or
        'fs>='. The ratio is the median of the per-pair ratios when there are pairs, else
        fs / nginx."""
        ratio = None
        if pair_ratios:
            ratio = statistics.median(pair_ratios)
        elif fs is not None and ngx:
            ratio = fs / ngx
        met = None
        if target is not None:
            kind, val = target[0], target[1]
            x = ratio if kind.startswith("ratio") else fs
            if x is not None:
                met = {"ratio>=": x >= val, "ratio<=": x <= val, "fs<=": x <= val,
                       "fs<": x < val, "fs>=": x >= val}[kind]
        bound = target[1] if target and target[0].startswith("ratio") else None
        self.rows.append({"name": name, "unit": unit, "fileserver": fs, "nginx": ngx,
                          "ratio": ratio, "pair_ratios": pair_ratios or [],
                          "target": target[2] if target else "", "met": met, "note": note,
                          "bound": bound})
        log(f"{name}: fileserver {fmt(fs)} {unit}, nginx {fmt(ngx)}, "
            f"ratio {fmt_ratio(ratio, bound)}"
            + (f" (target {target[2]}: {'met' if met else 'MISSED'})" if target else ""))

    def detail(self, case, srv, r):
        self.details.append(dict(case=case, server=srv, **r))


def fmt(v, digits=None):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if digits is not None:
        return f"{v:.{digits}f}"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_ratio(v, bound=None):
    """A ratio with two decimals, or three when two would round it onto its target's bound
    (0.996 is not 1.00 against a target of 1.0x)."""
    if v is None or bound is None or v == bound or f"{v:.2f}" != f"{bound:.2f}":
        return fmt(v, 2)
    return fmt(v, 3)


def print_report(res, opts, out=sys.stdout):
    w = out.write
    w(f"\n## fileserver vs nginx, {res.info.get('date', '')}"
      f"{' (SMOKE: 1 s runs, tiny counts; figures are meaningless)' if opts.smoke else ''}\n\n")
    for k in ("machine", "disk", "fileserver", "nginx", "wrk", "settings"):
        if k in res.info:
            w(f"- {k}: {res.info[k]}\n")
    w("\n| measurement | unit | fileserver | nginx | fileserver/nginx | per pair | target | met |\n")
    w("|---|---|---|---|---|---|---|---|\n")
    for r in res.rows:
        pr = " ".join(f"{x:.2f}" for x in r["pair_ratios"])
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        name = (r["name"] + (f" ({r['note']})" if r["note"] else "")).replace("|", "/")
        w(f"| {name} | {r['unit']} | {fmt(r['fileserver'])} | {fmt(r['nginx'])} | "
          f"{fmt_ratio(r['ratio'], r.get('bound'))} | {pr} | {r['target']} | {met} |\n")
    if res.details:
        w("\nPer run (median over the runs of each server): server CPU per request "
          "(utime+stime from /proc; nginx = master + workers), wrk latency, VmHWM, errors, "
          "the cores wrk used (median), and the most cores used by anything else during a "
          "run (busy CPU from /proc/stat minus server and wrk; includes softirq work not "
          "charged to either) with the number of runs repeated because of it.\n\n")
        w("| case | server | runs | req/s | MB/s | CPU µs/req | p50 ms | p99 ms | "
          "VmHWM MiB | errors | wrk cores | other cores (repeats) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        for d in res.details:
            w(f"| {d['case']} | {d['server']} | {d['runs']} | {fmt(d['rps'])} | "
              f"{fmt(d['mbps'])} | {fmt(d['cpu_us'])} | {fmt(d['p50_ms'])} | "
              f"{fmt(d['p99_ms'])} | {fmt(d['hwm_mib'])} | {d['errors']} | "
              f"{d['client']:.2f} | {d['other']:.2f} ({d['retried']}) |\n")
    if res.notes:
        w("\nNotes:\n")
        for n in res.notes:
            w(f"- {n}\n")
    out.flush()


# ---- helpers ---------------------------------------------------------------------------------

def run_cmd(argv, timeout, **kw):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, **kw)


def find_tool(name):
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def build(repo, log_path):
    """Release build of the fileserver target only (no tests) into <repo>/build-bench."""
    bdir = os.path.join(repo, "build-bench")
    log(f"building a release binary in {bdir}")
    with open(log_path, "ab") as lf:
        for argv in (["cmake", "-S", repo, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release",
                      "-DENABLE_TESTS=OFF"],
                     ["cmake", "--build", bdir, "--target", "fileserver", "-j",
                      str(os.cpu_count() or 2)]):
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=lf,
                               stderr=subprocess.STDOUT, timeout=1800)
            if r.returncode != 0:
                raise RuntimeError(f"build failed ({' '.join(argv)}); see {log_path}")
    return os.path.join(bdir, "src", "fileserver")


WRK_MARK = "WRKJSON "


def wrk(url, script, args, conns, duration, timeout_s=10):
    threads = 1 if conns == 1 else 2
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout",
            f"{timeout_s}s", "-s", script, url, "--"] + [str(a) for a in args]
    r = run_cmd(argv, timeout=duration + 120)
    for line in r.stdout.splitlines():
        if line.startswith(WRK_MARK):
            return json.loads(line[len(WRK_MARK):])
    raise RuntimeError(f"wrk gave no result (rc {r.returncode}): {r.stdout[-500:]} "
                       f"{r.stderr[-500:]}")


def wrk_errors(w):
    return sum(w[k] for k in ("connect", "read", "write", "status", "timeout"))


def free_mib():
    """MemFree in MiB: on this VM the memory a run takes from it (not from reclaimed page
    cache) costs a fault in the host on first touch (see BENCHMARKS.md, "Method")."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemFree:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return -1


FILL_RESERVE_MIB = 256  # left free; the kernel keeps about that much free anyway
FILL_LIMIT_S = 150      # a first fill of 20 GB took 72 s on this VM
FILL_CHECK = 64         # MiB read between looks at MemFree


def make_filler(work):
    """A sparse file as large as the machine's memory, below work: reading it fills the
    page cache without a disk block or a byte written."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    path = os.path.join(work, "page-cache-filler")
    with open(path, "wb") as f:
        f.truncate(total)
    return path


def fill_page_cache(path, reserve_mib=FILL_RESERVE_MIB, limit_s=FILL_LIMIT_S):
    """Reads the filler, from where the last call stopped and round, until free memory is
    down to reserve_mib, the whole file has been read once, or limit_s has passed; returns
    (MiB read, MemFree before, MemFree after). Before a run, so that the page cache the run
    allocates comes from reclaimed page cache, as on a file server that has been up for a
    while, and not from the free pool: on this VM that pool is mostly memory the host took
    back, and a run drawing on it costs either server 2-5 times its CPU per upload (see
    BENCHMARKS.md, "Method")."""
    before = free_mib()
    if before < 0 or before <= reserve_mib + FILL_CHECK:
        return 0, before, before
    size = os.path.getsize(path)
    chunk = 1 << 20
    pos = fill_page_cache.pos % size if size else 0
    read = 0
    deadline = time.monotonic() + limit_s
    fd = os.open(path, os.O_RDONLY)
    try:
        while read < size and time.monotonic() < deadline:
            for _ in range(FILL_CHECK):
                n = len(os.pread(fd, chunk, pos))
                read += n
                pos = pos + n if n == chunk and pos + n < size else 0
            if free_mib() <= reserve_mib:
                break
    finally:
        os.close(fd)
    fill_page_cache.pos = pos
    return read >> 20, before, free_mib()


fill_page_cache.pos = 0


class Runner:
    def __init__(self, opts, res):
        self.opts = opts
        self.res = res

    def settle(self):
        """Before each measured run: wait (bounded) for the machine to be quiet."""
        if self.opts.idle_max > 0 and not procs.wait_idle(self.opts.idle_max):
            log(f"machine still busy after {self.opts.idle_max}s; measuring anyway")

    def measure(self, srv, warm_paths, fn, retry=True):
        """Runs fn() against srv with its CPU time and VmHWM recorded, and the CPU that
        neither the server nor the load generator used ("other", in cores). A run with more
        than opts.other_max cores of other load is repeated (at most opts.retries times):
        on a shared machine, load that hits one run of a pair and not the other skews the
        pair's ratio."""
        retries = self.opts.retries if retry else 0
        for attempt in range(retries + 1):
            # write back what earlier runs left dirty (nginx's unsynced uploads), or the
            # fileserver's syncfs would pay for it
            os.sync()
            if warm_paths:
                corpus.read_all(warm_paths)
            if getattr(self.opts, "fill_path", None):
                t = time.monotonic()
                mib, m0, m1 = fill_page_cache(self.opts.fill_path)
                if mib >= 512:
                    log(f"    read {mib:,} MiB of the page cache filler in "
                        f"{time.monotonic() - t:.0f}s (free memory {m0:,} → {m1:,} MiB)")
            self.settle()
            srv.reset_hwm()
            m0 = free_mib()
            c0 = srv.cpu_seconds()
            b0 = procs.machine_busy_seconds()
            k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            out = fn()
            wall = time.monotonic() - t0
            k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            busy = procs.machine_busy_seconds() - b0
            out["cpu_s"] = srv.cpu_seconds() - c0
            out["free_mib"] = (m0, free_mib())
            out["hwm_kib"] = srv.hwm_kib()
            client_s = (k1.ru_utime + k1.ru_stime) - (k0.ru_utime + k0.ru_stime)
            out["client_cores"] = client_s / wall
            out["other_cores"] = max(0.0, busy - out["cpu_s"] - client_s) / wall
            out["retries"] = attempt
            if out["other_cores"] <= self.opts.other_max:
                break
            if attempt < retries:
                log(f"    {srv.name}: {out['other_cores']:.2f} cores of other load during "
                    "the run; repeating it")
        return out

    def pairs(self, case, servers, runs_for, metric, unit, target=None, note=""):
        """A B, B A, A B ...: runs_for(server) -> result dict per run; records the row and
        the per-server details; returns {server name: [results]}. The first run of a pair
        alternates, so that a drift within a case (the page cache's writeback, a directory
        that grows) does not always fall on the same server."""
        per = {s.name: [] for s in servers}
        for i in range(self.opts.pairs):
            for s in (servers if i % 2 == 0 else servers[::-1]):
                r = runs_for(s)
                per[s.name].append(r)
                extra = []
                if r.get("requests") and "cpu_s" in r:
                    extra.append(f"{r['cpu_s'] / r['requests'] * 1e6:,.0f} µs CPU per request")
                fm = r.get("free_mib", (-1, -1))
                if fm[0] >= 0:
                    extra.append(f"free memory {fm[0]:,} → {fm[1]:,} MiB")
                log(f"  {case} {s.name} pair {i + 1}: {metric(r):,.1f} {unit}"
                    + (f", {r['errors']} errors" if r.get("errors") else "")
                    + (f" ({', '.join(extra)})" if extra else ""))
        a, b = servers
        ratios = [metric(x) / metric(y) if metric(y) else 0.0
                  for x, y in zip(per[a.name], per[b.name])]
        self.res.row(case, unit, statistics.median(metric(x) for x in per[a.name]),
                     statistics.median(metric(x) for x in per[b.name]), ratios, target, note)
        for s in servers:
            rs = per[s.name]
            self.res.detail(case, s.name, {
                "runs": len(rs),
                "rps": statistics.median(x["rps"] for x in rs),
                "mbps": statistics.median(x["mbps"] for x in rs),
                "cpu_us": statistics.median(x["cpu_s"] / max(1, x["requests"]) * 1e6
                                            for x in rs),
                "p50_ms": statistics.median(x["p50_us"] for x in rs) / 1000,
                "p99_ms": statistics.median(x["p99_us"] for x in rs) / 1000,
                "hwm_mib": max(x["hwm_kib"] for x in rs) / 1024,
                "errors": sum(x["errors"] for x in rs),
                "client": statistics.median(x["client_cores"] for x in rs),
                "other": max(x["other_cores"] for x in rs),
                "retried": sum(x["retries"] for x in rs)})
        return per


def wrk_run(srv_url, script, args, conns, duration, payload_size=None):
    w = wrk(srv_url, script, args, conns, duration)
    secs = w["duration_us"] / 1e6
    w["rps"] = w["requests"] / secs
    # GET: bytes read off the wire (headers included); uploads: payload bytes sent
    nbytes = w["bytes"] if payload_size is None else w["requests"] * payload_size
    w["mbps"] = nbytes / secs / MB
    w["errors"] = wrk_errors(w)
    return w


# ---- phases ----------------------------------------------------------------------------------

GET_CASES = (("4k", 1), ("4k", 64), ("100k", 1), ("100k", 64), ("10m", 1), ("10m", 64))
GET_LABEL = {"4k": "4 KiB", "100k": "100 KiB", "10m": "10 MiB"}


def get_target(cls, conns):
    if cls == "4k" and conns == 64:
        return ("ratio>=", 0.9, "≥ 0.9× nginx")
    if cls == "10m":
        return ("ratio>=", 0.95, "≥ 0.95× nginx")
    return None


def phase_http(opts, res, binary, work, cache, files, big_path):
    """GET, upload and 1 GiB cases against one fileserver node and one nginx."""
    run = Runner(opts, res)
    fs = procs.Fileserver(binary, healthy_root(work, "fs-root"))
    ngx_upload_root = healthy_root(work, "nginx-up")
    # nginx makes a directory per run below it (/up/<nonce>/...); when make_room has
    # removed earlier runs' directories there, new ones beside them would be slow
    spread_subdirs(ngx_upload_root)
    ngx = procs.Nginx(opts.nginx, os.path.join(work, "nginx"), os.path.join(cache, "get"),
                      ngx_upload_root)
    fs.start()
    ngx.start()
    time.sleep(1.0)
    res.row("RSS idle after start (VmRSS)", "MiB", fs.rss_kib() / 1024, ngx.rss_kib() / 1024,
            target=("fs<=", 8.0, "≤ 8 MiB"), note=anon_note(fs, ngx))

    # the fileserver gets its files through its API; nginx serves the cache directly
    fs_paths, ngx_paths, fs_disk = {}, {}, {}
    for cls, paths in files.items():
        t0 = time.monotonic()
        done = client.upload_many(fs.port, paths, threads=4)
        fs_paths[cls] = [d[0]["path"] for d in done]
        fs_disk[cls] = [fs.disk_path(p) for p in fs_paths[cls]]
        ngx_paths[cls] = [f"/get/{cls}/{os.path.basename(p)}" for p in paths]
        log(f"uploaded {len(paths)} {cls} files to fileserver in "
            f"{time.monotonic() - t0:.1f}s")
    lists = {}
    for cls in files:
        for name, paths in (("fs", fs_paths[cls]), ("nginx", ngx_paths[cls])):
            p = os.path.join(work, f"paths-{name}-{cls}.txt")
            with open(p, "w") as f:
                f.write("\n".join(paths) + "\n")
            lists[(name, cls)] = p
    get_lua = os.path.join(HERE, "get.lua")
    up_lua = os.path.join(HERE, "upload.lua")
    hwm_get64 = {fs.name: 0, ngx.name: 0}
    hwm_up64 = {fs.name: 0, ngx.name: 0}

    if "get" in opts.sections:
        for cls, conns in GET_CASES:
            if cls not in files:
                continue
            big = cls == "10m"
            unit = "MB/s" if big else "req/s"

            def one(s, cls=cls, conns=conns):
                key = "fs" if s is fs else "nginx"
                warm = fs_disk[cls] if s is fs else files[cls]
                threads = 1 if conns == 1 else 2
                return run.measure(s, warm, lambda: wrk_run(
                    s.url, get_lua, [lists[(key, cls)], threads], conns, opts.duration))
            per = run.pairs(f"GET {GET_LABEL[cls]}, c{conns}", [fs, ngx], one,
                            (lambda r: r["mbps"]) if big else (lambda r: r["rps"]), unit,
                            get_target(cls, conns))
            if conns == 64:
                for name, rs in per.items():
                    hwm_get64[name] = max([hwm_get64[name]] + [r["hwm_kib"] for r in rs])
        res.row("RSS peak, GET runs at 64 connections (VmHWM)", "MiB",
                hwm_get64[fs.name] / 1024, hwm_get64[ngx.name] / 1024,
                target=("ratio<=", 1.0, "≤ nginx"))

    # before the small uploads: right after a few hundred thousand new files the 1 GiB
    # upload measured at half its speed (2026-12-03), for reasons not established
    if "big" in opts.sections:
        phase_big(opts, res, run, fs, ngx, big_path)

    if "upload" in opts.sections:
        up_cases = (("4k", 4096, "req/s"), ("100k", 100 * 1024, "MB/s"))
        # issue 8's targets: durable 4 KiB ≥ 0.5× nginx; with durability off 4 KiB ≥ 1.0×;
        # 100 KiB ≥ 1.0× with MD5 computed, which nginx's unsynced PUT is compared to alike
        targets = {("group", "4k"): ("ratio>=", 0.5, "≥ 0.5× nginx PUT"),
                   ("none", "4k"): ("ratio>=", 1.0, "≥ 1.0× nginx PUT"),
                   ("none", "100k"): ("ratio>=", 1.0, "≥ 1.0× nginx PUT")}
        variants = [("group", fs)]
        extra = [("none", procs.Fileserver(binary, healthy_root(work, "fs-none-root"),
                                           cfg={"sync_mode": "none"}))]
        if not opts.no_file_mode:
            extra.append(("file", procs.Fileserver(binary, healthy_root(work, "fs-file-root"),
                                                   cfg={"sync_mode": "file"})))
        # small files merged into volumes: one write and one (group) sync per upload
        if not opts.smoke:
            extra.append(("group, merged", procs.Fileserver(
                binary, healthy_root(work, "fs-merge-root"),
                cfg={"enable_merge_small_file": True})))
            extra.append(("none, merged", procs.Fileserver(
                binary, healthy_root(work, "fs-none-merge-root"),
                cfg={"enable_merge_small_file": True, "sync_mode": "none"})))
        variants += extra
        others = [s for _m, s in extra]
        done = []  # roots of measured variants that nothing reads again
        for mode, srv in variants:
            if srv in others:
                make_room(opts, work, done,
                          GB_PER_UPLOAD_PAIR * opts.pairs * opts.duration / 5 + 2)
                srv.start()
            for cls, size, unit in up_cases:
                def one(s, size=size):
                    # a fresh nonce per attempt: repeated content would hit dedupe
                    def go():
                        argv = ["put" if s is ngx else "post", size, os.urandom(6).hex()]
                        return wrk_run(s.url, up_lua, argv, 64, opts.duration,
                                       payload_size=size)
                    # no repeats: the kernel's writeback threads doing the run's own
                    # I/O count as "other" load (0.3-0.9 cores at c64)
                    return run.measure(s, None, go, retry=False)
                target = targets.get((mode, cls))
                per = run.pairs(f"upload {GET_LABEL[cls]}, c64, sync_mode {mode}",
                                [srv, ngx], one,
                                (lambda r: r["mbps"]) if unit == "MB/s" else
                                (lambda r: r["rps"]), unit,
                                target, "" if target else "informational")
                if mode == "group":
                    for name, rs in per.items():
                        hwm_up64[name] = max([hwm_up64[name]] + [r["hwm_kib"] for r in rs])
            if srv in others:
                srv.stop()
                done.append(srv.root)
            done += [e.path for e in os.scandir(ngx_upload_root)
                     if e.is_dir() and e.name != ".tmp" and e.path not in done]
        res.row("RSS peak, upload runs at 64 connections, sync_mode group (VmHWM)", "MiB",
                hwm_up64[fs.name] / 1024, hwm_up64[ngx.name] / 1024,
                target=("ratio<=", 1.0, "≤ nginx"))
        if opts.sections & {"repl", "meta"}:
            make_room(opts, work, done, GB_AFTER_UPLOADS)
        res.notes.append("Uploads: with sync_mode group (batched syncfs) or file (fsync per "
                         "file) the fileserver answers only after the file and its index "
                         "record are on disk; with sync_mode none it syncs nothing, like "
                         "nginx's PUT (dav module), which never fsyncs.")

    time.sleep(2.0)
    res.row("RSS idle after the load (VmRSS)", "MiB", fs.rss_kib() / 1024,
            ngx.rss_kib() / 1024, note="informational; " + anon_note(fs, ngx))
    fs.stop()
    ngx.stop()


def make_room(opts, work, done, need):
    """Before an upload variant (and after the last): when the disk may not hold what comes
    next (need GB), removes the files of the variants already measured (paths in done,
    emptied), then waits, bounded, until file creation is back to a healthy rate (see
    creation_rate). A full run writes more than many disks hold; an ENOSPC would fail the
    rows after it."""
    free = shutil.disk_usage(work).free / 1e9
    if opts.smoke or free >= need or not done:
        return
    log(f"{free:.0f} GB free, what comes next needs about {need:.0f}: removing the files of "
        "the upload variants measured")
    for d in done:
        shutil.rmtree(d, ignore_errors=True)
    done.clear()
    deadline = time.monotonic() + ROOM_WAIT_S
    for _ in range(ROOM_WAIT_S // 10 + 1):
        rate = creation_rate(work, remove=True)
        if rate >= PROBE_HEALTHY or time.monotonic() >= deadline:
            break
        time.sleep(10)
    log(f"{shutil.disk_usage(work).free / 1e9:.0f} GB free; file creation at {rate:,.0f}/s")


def anon_note(fs, ngx):
    return (f"RssAnon {fs.anon_kib() / 1024:.1f} / {ngx.anon_kib() / 1024:.1f} MiB, the rest "
            "is file-backed")


def curl_time(argv, timeout):
    """Runs curl with -w; returns (http code, seconds, bytes up, bytes down, body)."""
    r = run_cmd(["curl", "-sS", "-o", "-", "-w",
                 "\nCURLW %{http_code} %{time_total} %{size_upload} %{size_download}"]
                + argv, timeout=timeout)
    out = r.stdout
    i = out.rfind("\nCURLW ")
    if r.returncode != 0 or i < 0:
        raise RuntimeError(f"curl failed (rc {r.returncode}): {r.stderr[-300:]}")
    code, t, up, down = out[i + 7:].split()
    return int(code), float(t), float(up), float(down), out[:i]


def curl_download(url, timeout):
    r = run_cmd(["curl", "-sS", "-o", "/dev/null", "-w",
                 "%{http_code} %{time_total} %{size_download}", url], timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"curl failed: {r.stderr[-300:]}")
    code, t, n = r.stdout.split()
    return int(code), float(t), float(n)


def md5_speed(path, size):
    """Single-core MD5 speed over the (cached) file: openssl md5 and Python's hashlib."""
    t0 = time.perf_counter()
    r = run_cmd(["openssl", "md5", path], timeout=600)
    t_ssl = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("openssl md5 failed: " + r.stderr[-300:])
    h = hashlib.md5()
    buf = bytearray(1 << 20)
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(memoryview(buf)[:n])
    t_py = time.perf_counter() - t0
    return size / t_ssl / MB, size / t_py / MB, h.hexdigest()


def phase_big(opts, res, run, fs, ngx, big_path):
    size = os.path.getsize(big_path)
    label = f"{size // MIB} MiB" if size < 1 << 30 else f"{size // (1 << 30)} GiB"
    corpus.read_all([big_path])
    ssl_mbps, py_mbps, digest = md5_speed(big_path, size)
    md5_ref = max(ssl_mbps, py_mbps)
    tmo = max(120, size // (20 * MIB))

    # alternating rounds; the same bytes again would be answered by dedupe, so each
    # round but the last deletes its upload (one file: not a mass delete)
    rounds = 1 if opts.smoke else max(2, opts.big_pairs + 1)
    fs_ups, ngx_ups, ratios_up = [], [], []
    fs_grow = ngx_grow = 0.0
    fr = nname = None
    for rnd in range(rounds):
        os.sync()
        corpus.read_all([big_path])
        run.settle()
        rss0 = fs.rss_kib()
        fs.reset_hwm()
        code, t, _, _, body = curl_time(["-F", f"file=@{big_path};type=application/octet-stream",
                                         "-F", "output=json", fs.g + "/upload"], tmo)
        if code != 200:
            raise RuntimeError(f"big upload failed: HTTP {code} {body[:300]}")
        fr = json.loads(body)
        if fr.get("md5") != digest:
            raise RuntimeError(f"big upload digest {fr.get('md5')} != {digest}")
        fs_grow = max(fs_grow, (fs.hwm_kib() - rss0) / 1024)
        fs_ups.append(size / t / MB)

        os.sync()
        corpus.read_all([big_path])
        run.settle()
        nrss0 = ngx.rss_kib()
        ngx.reset_hwm()
        if nname and rnd > 0:
            os.unlink(os.path.join(ngx.upload_root, nname))
        nname = f"big-{os.urandom(4).hex()}.bin"
        code, nt, _, _, body = curl_time(["-T", big_path, f"{ngx.url}/up/{nname}"], tmo)
        if code not in (200, 201, 204):
            raise RuntimeError(f"nginx big PUT failed: HTTP {code} {body[:300]}")
        ngx_grow = max(ngx_grow, (ngx.hwm_kib() - nrss0) / 1024)
        ngx_ups.append(size / nt / MB)
        ratios_up.append(fs_ups[-1] / ngx_ups[-1])
        if rnd < rounds - 1:
            d = urllib.request.urlopen(urllib.request.Request(
                fs.g + "/delete", data=f"md5={digest}".encode(), method="POST"), timeout=60)
            if d.status != 200:
                raise RuntimeError(f"deleting the big upload: HTTP {d.status}")
    res.row(f"upload {label} (curl -F / curl -T), durable vs not", "MB/s",
            statistics.median(fs_ups), statistics.median(ngx_ups), ratios_up,
            target=("fs>=", 0.9 * md5_ref, f"≥ 0.9× MD5 = {0.9 * md5_ref:,.0f}"))
    res.row(f"single-core MD5 of the same {label} (the faster of openssl md5 and hashlib)",
            "MB/s",
            md5_ref, note=f"openssl {ssl_mbps:,.0f}, hashlib {py_mbps:,.0f}")
    res.row(f"RSS growth during the {label} upload (VmHWM − VmRSS before)", "MiB",
            fs_grow, ngx_grow, target=("fs<", 16.0, "< 16 MiB (flat)"))

    fs_url = fs.url + fr["path"]
    ngx_url = f"{ngx.url}/up/{nname}"
    downs = {fs.name: [], ngx.name: []}
    ratios = []
    for _ in range(max(1, opts.big_pairs)):
        for s, url in ((fs, fs_url), (ngx, ngx_url)):
            corpus.read_all([fs.disk_path(fr["path"]) if s is fs
                             else os.path.join(ngx.upload_root, nname)])
            run.settle()
            code, dt, n = curl_download(url, tmo)
            if code != 200 or int(n) != size:
                raise RuntimeError(f"{s.name} big download: HTTP {code}, {n} bytes")
            downs[s.name].append(size / dt / MB)
        ratios.append(downs[fs.name][-1] / downs[ngx.name][-1])
    res.row(f"download {label} (curl, 1 connection)", "MB/s",
            statistics.median(downs[fs.name]), statistics.median(downs[ngx.name]), ratios)


def phase_repl(opts, res, binary, work, files):
    """3 nodes; files['4k'] uploaded to node 1; time from the last reply until node 1's
    queues for both peers are empty, then every copy checked by md5 via GET on the peers."""
    paths = files["4k"][:opts.repl_files]
    ports = [procs.free_port() for _ in range(3)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    secret = os.urandom(16).hex()
    nodes = []
    for i, port in enumerate(ports):
        nodes.append(procs.Fileserver(binary, healthy_root(work, f"repl-{i + 1}"), port=port,
                                      cfg={"peers": urls, "peer_id": str(i + 1),
                                           "cluster_secret": secret, "auto_repair": False}))
    for n in nodes:
        n.start()
    origin, peers = nodes[0], nodes[1:]
    contents = {}
    for p in paths:
        with open(p, "rb") as f:
            contents[p] = client.md5_hex(f.read())
    run = Runner(opts, res)
    run.settle()
    t0 = time.monotonic()
    done = client.upload_many(origin.port, paths, threads=8)
    t_last = max(d[1] for d in done)
    log(f"replication: {len(paths)} uploads to node 1 in {t_last - t0:.2f}s")

    conn = client.Conn(origin.port)
    deadline = t_last + opts.repl_timeout
    t_q0 = None
    last_q = None
    while time.monotonic() < deadline:
        st, body = conn.request("GET", "/group1/status")
        if st == 200:
            ps = json.loads(body)["data"].get("Fs.PeerStatus", [])
            last_q = [p.get("queue") for p in ps]
            if len(ps) == 2 and all(q == 0 for q in last_q):
                t_q0 = time.monotonic()
                break
        time.sleep(0.005)
    conn.close()
    # without side effects first: which copies are on the peers' disks now
    on_disk = 0
    for n in peers:
        for d in done:
            if os.path.isfile(n.disk_path(d[0]["path"])):
                on_disk += 1
    # then by GET and md5, re-polling copies not there yet, until the deadline
    missing = [(n, d[0]["path"], d[0]["md5"]) for n in peers for d in done]
    conns = {n.port: client.Conn(n.port) for n in peers}
    while missing and time.monotonic() < deadline:
        left = []
        for n, path, md5 in missing:
            st, body = conns[n.port].request("GET", path)
            if st != 200 or client.md5_hex(body) != md5:
                left.append((n, path, md5))
        missing = left
        if missing:
            time.sleep(0.05)
    t_ver = time.monotonic()
    for c in conns.values():
        c.close()
    total = len(done) * len(peers)
    label = f"{len(paths)} × 4 KiB"
    res.row(f"replication of {label} to 2 peers: last reply → origin's queues empty", "s",
            (t_q0 - t_last) if t_q0 else None, target=("fs<=", 3.0, "≤ 3 s"),
            note=None if t_q0 else f"queues not empty after {opts.repl_timeout}s: {last_q}")
    res.row(f"replication of {label}: last reply → every copy verified by GET + md5", "s",
            (t_ver - t_last) if not missing else None,
            note=f"{on_disk}/{total} copies on the peers' disks when the queues emptied"
            + (f"; {len(missing)} copies missing at the deadline" if missing else ""))
    for n in nodes:
        n.stop()


def dir_bytes(d):
    """(allocated bytes, apparent bytes) of the regular files below d."""
    alloc = app = 0
    for dp, _dn, fns in os.walk(d):
        for fn in fns:
            try:
                st = os.lstat(os.path.join(dp, fn))
            except OSError:
                continue
            alloc += st.st_blocks * 512
            app += st.st_size
    return alloc, app


def evict(d):
    """Drops d's files from the page cache (only these files: no global drop_caches)."""
    for dp, _dn, fns in os.walk(d):
        for fn in fns:
            try:
                fd = os.open(os.path.join(dp, fn), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def rebuild(node, n, timeout):
    """Runs --rebuild-meta on node's root; returns the seconds it took."""
    t0 = time.monotonic()
    r = node.run_cli(["--rebuild-meta"], timeout=timeout)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"--rebuild-meta failed ({r.returncode}): {r.stderr[-500:]!r}")
    got = r.stdout.decode().split()
    nrec = int(got[1]) if len(got) > 1 and got[1].isdigit() else -1
    if nrec != n:
        raise RuntimeError(f"--rebuild-meta indexed {nrec} records, want {n}")
    return dt


def copy_synced(src, dst):
    shutil.copytree(src, dst)
    for fn in os.listdir(dst):
        fd = os.open(os.path.join(dst, fn), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def phase_meta(opts, res, binary, cache, work, scratch):
    """Metadata at scale. The index is built by the server itself (--rebuild-meta over a
    cached tree of small files). Its one synced LevelDB write per file makes a 1M-file
    rebuild on this disk take 7-25 minutes, so by default the rebuild writes the index to
    tmpfs (data/meta is a symlink there while it runs) and the finished LevelDB directory is
    then copied to disk, where every measurement runs; the on-disk rebuild rate is measured
    on a smaller tree of its own."""
    n = opts.meta_files
    root = corpus.ensure_meta_tree(cache, n, log)
    meta_dir = os.path.join(root, "data", "meta")
    # the index of the previous run: one LevelDB directory (a few hundred files at 1M)
    if os.path.islink(meta_dir):
        os.unlink(meta_dir)
    elif os.path.isdir(meta_dir):
        shutil.rmtree(meta_dir)
    os.makedirs(os.path.dirname(meta_dir), exist_ok=True)
    node = procs.Fileserver(binary, root)
    label = f"{n:,} files"

    disk_n = min(n, opts.meta_disk_files)
    if opts.meta_tmpfs and disk_n < n:
        droot = os.path.join(work, "meta-disk")
        for k in range(disk_n):
            if k % corpus.META_PER_DIR == 0:
                d = os.path.join(droot, "files", corpus.meta_rel_dir(k))
                os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, corpus.meta_name(k)), "wb") as f:
                f.write(corpus.meta_content(k))
        os.sync()
        dnode = procs.Fileserver(binary, droot)
        log(f"metadata: --rebuild-meta over {disk_n} files, index on disk")
        t = rebuild(dnode, disk_n, opts.meta_timeout)
        res.row(f"index rebuild, on disk, {disk_n:,} files (--rebuild-meta)", "files/s",
                disk_n / t, note=f"{t:.1f} s; {n:,} files would take about "
                                 f"{n / (disk_n / t) / 60:.0f} min")

    shm = None
    if opts.meta_tmpfs and os.path.isdir("/dev/shm"):
        shm = tempfile.mkdtemp(prefix="fsbench-meta-", dir="/dev/shm")
        scratch.append(shm)
        os.symlink(shm, meta_dir)
    where = "index on tmpfs, then copied to disk" if shm else "index on disk"
    log(f"metadata: --rebuild-meta over {n} files, {where}")
    t_rebuild = rebuild(node, n, opts.meta_timeout)
    if shm:
        os.unlink(meta_dir)
        copy_synced(shm, meta_dir)
        shutil.rmtree(shm)
    alloc0, _ = dir_bytes(meta_dir)
    res.row(f"index rebuild of {label} (--rebuild-meta, {where})", "s", t_rebuild,
            note=f"{n / t_rebuild:,.0f} files/s")

    def start_once(cold):
        if cold:
            evict(meta_dir)
        t = node.start(ready_timeout=120)
        node.stop()
        return t
    first = start_once(False)   # replays the rebuild's LevelDB log
    warm = [start_once(False) for _ in range(opts.starts)]
    cold = [start_once(True) for _ in range(opts.starts)]
    tgt = ("fs<", 1000.0, "< 1000 ms")
    res.row(f"start-up with {label}, first start after the rebuild (spawn → /healthz 200)",
            "ms", first * 1000, target=tgt)
    res.row(f"start-up with {label}, warm (median of {opts.starts})", "ms",
            statistics.median(warm) * 1000, target=tgt)
    res.row(f"start-up with {label}, index evicted from the page cache "
            f"(median of {opts.starts})", "ms", statistics.median(cold) * 1000, target=tgt)

    # get_file_info over one keep-alive connection: first with the index evicted from the
    # page cache (as after a restart, or after this VM's DAMON paged it out), then with the
    # index files read into the page cache; /healthz gives the client's own floor
    rnd = random.Random(1234)
    evict(meta_dir)
    node.start(ready_timeout=120)
    conn = client.Conn(node.port)

    def lookups():
        lat = []
        for _ in range(opts.lookups):
            k = rnd.randrange(n)
            md5 = client.md5_hex(corpus.meta_content(k))
            t = time.perf_counter()
            st, body = conn.request("GET", "/group1/get_file_info?md5=" + md5)
            lat.append(time.perf_counter() - t)
            if st != 200 or json.loads(body)["data"]["md5"] != md5:
                raise RuntimeError(f"get_file_info {md5}: HTTP {st} {body[:200]!r}")
        return sorted(lat)
    cold = lookups()
    corpus.read_all(os.path.join(meta_dir, f) for f in os.listdir(meta_dir))
    warm = lookups()
    floor = []
    for _ in range(min(2000, opts.lookups)):
        t = time.perf_counter()
        conn.request("GET", "/healthz")
        floor.append(time.perf_counter() - t)
    conn.close()
    node.stop()
    floor.sort()
    fl = (f"/healthz on the same connection: p50 {client.percentile(floor, 50) * 1e6:.0f}, "
          f"p99 {client.percentile(floor, 99) * 1e6:.0f} µs")
    for name, lat, tgt in (("index in the page cache", warm, ("fs<", 1000.0, "< 1000 µs")),
                           ("index evicted before the start", cold, None)):
        res.row(f"get_file_info by md5, {len(lat):,} random lookups, {name}, p50", "µs",
                client.percentile(lat, 50) * 1e6, note=fl if tgt else "")
        res.row(f"get_file_info by md5, {len(lat):,} random lookups, {name}, p99", "µs",
                client.percentile(lat, 99) * 1e6, target=tgt,
                note="" if tgt else f"max {lat[-1] * 1e6:,.0f} µs")
    alloc, app = dir_bytes(meta_dir)
    res.row(f"metadata on disk per file (du data/meta / {n:,})", "B", alloc / n,
            target=("fs<=", 300.0, "≤ 300 B"),
            note=f"{alloc / MIB:.1f} MiB after the starts; {alloc0 / n:.0f} B right after "
                 f"the rebuild; apparent {app / n:.0f} B")


# ---- main ------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true",
                    help="1 s per case, 1 pair, tiny file counts (what the smoke test runs)")
    ap.add_argument("--bin", help="use this fileserver binary instead of building one")
    ap.add_argument("--cache", help="input files (default <repo>/build-bench/cache)")
    ap.add_argument("--work", help="temporary roots (default <repo>/build-bench/work)")
    ap.add_argument("--duration", type=int, help="seconds per wrk run (default 5)")
    ap.add_argument("--pairs", type=int, help="A/B pairs per case (default 3)")
    ap.add_argument("--meta-files", type=int, help="files for the metadata scale "
                    "(default 1000000)")
    ap.add_argument("--meta-on-disk", action="store_true",
                    help="rebuild the whole metadata-scale index on disk (slow: one synced "
                    "write per file) instead of on tmpfs")
    ap.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--no-file-mode", action="store_true",
                    help="skip the informational sync_mode=file upload rows")
    ap.add_argument("--keep", action="store_true", help="keep the temporary roots")
    ap.add_argument("--no-fill", action="store_true",
                    help="do not fill free memory with page cache before each run")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    o = ap.parse_args(argv)
    o.sections = set(SECTIONS if not o.only else o.only.split(","))
    bad = o.sections - set(SECTIONS)
    if bad:
        ap.error(f"unknown section(s): {', '.join(sorted(bad))}")
    o.duration = o.duration or (1 if o.smoke else 5)
    o.pairs = o.pairs or (1 if o.smoke else 3)
    o.big_pairs = 1 if o.smoke else 2
    o.meta_files = o.meta_files or (2000 if o.smoke else 1000000)
    o.idle_max = 0 if o.smoke else 8.0
    o.retries = 0 if o.smoke else 2
    o.other_max = 0.25
    o.repl_files = 20 if o.smoke else 1000
    o.repl_timeout = 30 if o.smoke else 120
    o.meta_timeout = 7200
    o.meta_tmpfs = not o.meta_on_disk
    o.meta_disk_files = 500 if o.smoke else 20000
    o.starts = 1 if o.smoke else 3
    o.lookups = 300 if o.smoke else 10000
    o.fill_path = None  # set once the run's directory exists, unless --no-fill or --smoke
    if o.smoke:
        o.no_file_mode = True
    if o.pairs < 1 or o.duration < 1 or o.meta_files < 1:
        ap.error("--pairs, --duration and --meta-files must be positive")
    return o


def tool_versions(opts, binary):
    def first_line(argv):
        try:
            r = run_cmd(argv, timeout=20)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"
    return {"fileserver": first_line([binary, "--version"]),
            "nginx": first_line([opts.nginx, "-v"]),
            "wrk": first_line(["wrk", "-v"])}


FREE_GB_NEEDED = 40
# One pair of an upload variant with 5 s runs, both sizes and both servers: up to about
# 6 GB at the highest rates seen (nginx 650 MB/s and the fileserver 450 at 100 KiB), and
# runs repeated for other load add to it. 2026-12-06 08:04: ENOSPC with 3 GB assumed.
GB_PER_UPLOAD_PAIR = 7
GB_AFTER_UPLOADS = 10  # replication and metadata sections
ROOM_WAIT_S = 240
PROBE_FILES = 2000
PROBE_HEALTHY = 15000  # creates/s; this VM's ext4 does 30-45k in a healthy region


FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000


def spread_subdirs(path):
    """Gives path ext4's top-of-hierarchy flag (`chattr +T`): its Orlov allocator then puts
    each new directory below it in a block group of its own choosing instead of its
    parent's. A mass delete leaves the inodes it freed "recently deleted" for 60 s, and for
    300 s more while their inode table block is dirty; on this disk's journal-less ext4 the
    inode allocator skips them one by one (ext4's recently_deleted()), and each new file
    takes it past hundreds of them: 350-850 µs per create instead of 30 for minutes. The
    emptied groups have the most free inodes, so a new directory near them lands in them.
    Returns whether the flag is set (False on other filesystems: nothing to spread)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        buf = bytearray(struct.pack("i", 0))
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
        flags = struct.unpack("i", buf)[0]
        if not flags & FS_TOPDIR_FL:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags | FS_TOPDIR_FL))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def creation_rate(work, remove=False):
    """Creates PROBE_FILES 4 KiB files in a new directory below work and returns the rate;
    the directory goes with work unless remove (a delete, however small, right before a
    measurement is what the harness avoids). Both servers create a file per upload, and
    ext4 can be several times slower in the block groups a mass delete emptied, for longer
    than a minute (its recently_deleted() check in the inode allocator): a slow figure
    here explains slow upload rows for both servers."""
    d = tempfile.mkdtemp(prefix="creation-probe-", dir=work)
    data = b"p" * 4096
    t0 = time.monotonic()
    for i in range(PROBE_FILES):
        fd = os.open(os.path.join(d, f"{i}.bin"), os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    rate = PROBE_FILES / max(time.monotonic() - t0, 1e-6)
    if remove:
        shutil.rmtree(d, ignore_errors=True)
    return rate


ROOT_TRIES = 6


def healthy_root(work, name):
    """A new directory work/<name>-<random> for a server to write into, in a block group
    where files are created at a healthy rate. work has the +T flag (spread_subdirs), so each
    try lands where ext4 puts a new top directory: right after a mass delete that is one of
    the emptied groups about one time in four. Up to ROOT_TRIES directories are probed and
    the fastest is kept; the others stay, unused, until the run's cleanup. The probe's files
    stay in the root as well: removed, their inodes would stand in the way of the server's
    files for the next minutes."""
    best = None
    for _ in range(ROOT_TRIES):
        d = tempfile.mkdtemp(prefix=f"{name}-", dir=work)
        rate = creation_rate(d)
        if best is None or rate > best[1]:
            best = (d, rate)
        if rate >= PROBE_HEALTHY:
            break
    log(f"root {os.path.basename(best[0])}: {best[1]:,.0f} file creates/s"
        + ("" if best[1] >= PROBE_HEALTHY else f"; SLOW after {ROOT_TRIES} tries"))
    return best[0]


def creation_probe(work):
    rate = creation_rate(work)
    text = f"{rate:,.0f} file creates/s (4 KiB, one directory, unsynced)"
    if rate < PROBE_HEALTHY:
        text += (f"; SLOW (below {PROBE_HEALTHY:,}/s): upload rows are held back by the "
                 "filesystem; a --work directory elsewhere on the disk may do better")
    return text


def main(argv):
    opts = parse_args(argv)
    # a shell starting us in the background sets SIGINT to ignored; Ctrl-C must still work
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)
    res = Results()
    started = time.monotonic()
    build_root = os.path.join(REPO, "build-bench")
    cache = os.path.abspath(opts.cache or os.path.join(build_root, "cache"))
    work_parent = os.path.abspath(opts.work or os.path.join(build_root, "work"))
    os.makedirs(cache, exist_ok=True)
    os.makedirs(work_parent, exist_ok=True)
    work = None
    scratch = []        # directories outside work/ to remove at the end (tmpfs)
    ok = False
    try:
        missing = [t for t in ("wrk", "nginx", "curl", "openssl", "cmake") if not find_tool(t)]
        if opts.bin:
            missing = [t for t in missing if t != "cmake"]
        if missing:
            raise RuntimeError(f"missing tools: {' '.join(missing)} "
                               "(tools/install-deps.sh --bench installs them)")
        opts.nginx = find_tool("nginx")
        stamp = os.path.join(cache, ".last-cleanup")
        if not opts.smoke and os.path.exists(stamp):
            # file creation near a mass delete, such as the previous run's cleanup, is slow
            # for a minute or more (spread_subdirs); the wait covers the first minute also
            # where the +T flag cannot be set
            wait = 60 - (time.time() - os.path.getmtime(stamp))
            if wait > 0:
                log(f"previous run deleted its roots {60 - wait:.0f}s ago; waiting {wait:.0f}s")
                time.sleep(wait)
        spread = spread_subdirs(work_parent)
        work = tempfile.mkdtemp(prefix="run-", dir=work_parent)
        # each server's root below it gets a block group away from earlier runs' deletes
        spread = spread_subdirs(work) and spread
        binary = os.path.abspath(opts.bin) if opts.bin else build(
            REPO, os.path.join(work, "build.log"))
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"no executable fileserver at {binary}")
        res.info["date"] = time.strftime("%Y-%m-%d %H:%M %Z")
        res.info["machine"] = (f"{os.cpu_count()} CPUs, {platform.platform()}; server and "
                               "wrk share the CPUs")
        res.info.update(tool_versions(opts, binary))
        free_gb = shutil.disk_usage(work).free / 1e9
        if free_gb < FREE_GB_NEEDED and not opts.smoke:
            log(f"warning: {free_gb:.0f} GB free where the roots live; a full run writes up to "
                f"about {FREE_GB_NEEDED} GB and a full disk fails the cases after it")
        if not (opts.smoke or opts.no_fill):
            opts.fill_path = make_filler(work)
        res.info["disk"] = creation_probe(work) + (
            "; new roots spread over ext4's block groups (chattr +T)" if spread else "")
        log(f"file creation where the roots live: {res.info['disk']}")
        res.info["settings"] = (f"wrk {opts.duration} s per run, {opts.pairs} A/B pair(s) per "
                                "case, -t1 at 1 connection and -t2 at 64; fileserver "
                                "log_level warn, sync_mode group; nginx 2 workers, sendfile, "
                                "access_log off" + ("; free memory filled with page cache "
                                                    "before each run" if opts.fill_path else ""))

        specs = corpus.SMOKE_GET if opts.smoke else corpus.FULL_GET
        files = corpus.ensure_get(cache, specs, log)
        big_size = corpus.SMOKE_BIG if opts.smoke else corpus.FULL_BIG
        big_path = corpus.ensure_big(cache, big_size, log) if "big" in opts.sections else None
        if opts.sections & {"get", "upload", "big"}:
            phase_http(opts, res, binary, work, cache, files, big_path)
        if "repl" in opts.sections:
            phase_repl(opts, res, binary, work, files)
        if "meta" in opts.sections:
            phase_meta(opts, res, binary, cache, work, scratch)
        ok = True
    except (KeyboardInterrupt, Interrupted) as e:
        log(f"interrupted ({e or 'Ctrl-C'}); stopping every process started")
    except Exception as e:
        log(f"error: {e}")
        if os.environ.get("BENCH_TRACE"):
            raise
    finally:
        procs.stop_all()
        for d in scratch:
            shutil.rmtree(d, ignore_errors=True)
        if work and not opts.keep:
            log("removing the temporary roots")
            shutil.rmtree(work, ignore_errors=True)
            with open(os.path.join(cache, ".last-cleanup"), "w"):
                pass
    if res.rows:
        print_report(res, opts)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"info": res.info, "rows": res.rows, "details": res.details,
                       "notes": res.notes, "complete": ok}, f, indent=2)
    log(f"{'done' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
