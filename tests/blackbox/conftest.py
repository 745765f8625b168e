"""Black-box harness: starts real fileserver processes, each in its own temporary root on a
free loopback port, and guarantees they are stopped (SIGTERM, then SIGKILL) and checked
(exit code 0, no sanitizer report) when the test ends, whatever happened. The node's
stderr log is attached to the report of every failing test."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
BIN_CANDIDATES = (REPO / "build" / "src" / "fileserver",)

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")
STOP_GRACE = 10.0
READY_TIMEOUT = 10.0


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (still run by default)")


def find_binary():
    env = os.environ.get("FILESERVER_BIN")
    if env:
        return env
    for c in BIN_CANDIDATES:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return None


@pytest.fixture(scope="session")
def binary():
    """A private copy of the binary, so a rebuild during the run cannot swap it mid-suite."""
    b = find_binary()
    if not b or not os.access(b, os.X_OK):
        pytest.fail("fileserver binary not found (FILESERVER_BIN="
                    f"{os.environ.get('FILESERVER_BIN')!r}, candidates "
                    f"{[str(c) for c in BIN_CANDIDATES]})", pytrace=False)
    d = tempfile.mkdtemp(prefix="fsbb-bin-")
    copy = os.path.join(d, "fileserver")
    shutil.copy2(b, copy)
    yield copy
    shutil.rmtree(d, ignore_errors=True)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def clean_env(extra=None):
    """The runner's environment minus anything the server would read as configuration."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FILESERVER_") and not k.startswith("GO_FASTDFS_")}
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if extra:
        env.update(extra)
    return env


def base_cfg(port):
    return {"addr": f"127.0.0.1:{port}", "host": f"http://127.0.0.1:{port}",
            "peers": [], "peer_id": "7"}


class Node:
    """One fileserver process and its private root (sandbox/root)."""

    def __init__(self, binary, cfg_overrides=None, env=None, write_cfg=True, root_arg=True,
                 extra_args=(), check_exit=True):
        self.binary = binary
        self.sandbox = tempfile.mkdtemp(prefix="fsbb-")
        self.root = os.path.join(self.sandbox, "root")
        os.makedirs(self.root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.group = "group1"
        self.g = f"{self.url}/{self.group}"
        self.cfg_path = os.path.join(self.root, "conf", "cfg.json")
        self.cfg = None
        if write_cfg:
            cfg = base_cfg(self.port)
            for k, v in (cfg_overrides or {}).items():
                if v is None:
                    cfg.pop(k, None)
                else:
                    cfg[k] = v
            self.cfg = cfg
            self.write_cfg(cfg)
            if isinstance(cfg.get("group"), str):
                self.group = cfg["group"]
                self.g = f"{self.url}/{self.group}"
        self.env = dict(env or {})
        if not write_cfg:
            self.env.setdefault("FILESERVER_ADDR", f"127.0.0.1:{self.port}")
        self.root_arg = root_arg
        self.extra_args = list(extra_args)
        self.check_exit = check_exit
        self.proc = None
        self.logf = None
        self.log_path = os.path.join(self.root, "stderr.log")
        self.problems = []          # unexpected exits found at stop time
        self.stopped_by_us = False
        self.killed = False
        self._final_log = None
        self.baseline = None

    # -- files ------------------------------------------------------------------------------
    def write_cfg(self, cfg):
        os.makedirs(os.path.dirname(self.cfg_path), exist_ok=True)
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def log(self):
        if self._final_log is not None:
            return self._final_log
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- process ----------------------------------------------------------------------------
    def argv(self, extra=()):
        a = [self.binary]
        if self.root_arg:
            a += ["--root", self.root]
        return a + self.extra_args + list(extra)

    def process_env(self):
        return clean_env(self.env)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=True, extra=()):
        assert not self.running(), "node already running"
        self.logf = open(self.log_path, "ab")
        self.stopped_by_us = False
        self.killed = False
        self.proc = subprocess.Popen(self.argv(extra), cwd=self.sandbox, env=self.process_env(),
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        for _ in range(int(timeout / 0.1) + 2):
            if self.proc.poll() is not None:
                raise AssertionError(f"fileserver exited with {self.proc.returncode} during "
                                     f"start-up; log:\n{self.log()[-4000:]}")
            try:
                r = requests.get(self.url + "/healthz", timeout=(1, 2))
                if r.status_code == 200:
                    if self.baseline is None:
                        self.baseline = set(os.listdir(self.root))
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:
                last = repr(e)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        raise AssertionError(f"node not ready after {timeout}s (last: {last}); "
                             f"log:\n{self.log()[-4000:]}")

    def _note_exit(self, rc, how):
        if rc != 0 and self.check_exit:
            self.problems.append(f"{how}: exit code {rc} (want 0)")

    def stop(self, grace=STOP_GRACE):
        """SIGTERM, wait grace seconds, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            rc = self.proc.returncode
        else:
            self.stopped_by_us = True
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                rc = self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.problems.append(f"did not exit within {grace}s of SIGTERM; SIGKILLed")
                rc = self.proc.returncode
            else:
                self._note_exit(rc, "after SIGTERM")
        self._close_log()
        return rc

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.killed = True
            self.stopped_by_us = True
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close_log()

    def restart(self, wait=True, extra=()):
        if self.running():
            self.stop()
        return self.start(wait=wait, extra=extra)

    def run_cli(self, args, timeout=60, env=None):
        """Runs the binary once (not as the node) with this node's root and environment."""
        e = self.process_env()
        if env:
            e.update(env)
        return subprocess.run(self.argv(args), cwd=self.sandbox, env=e, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)

    def vm_hwm_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")

    def mapped_files(self):
        """Base names of the files the process has mapped (its libraries among them)."""
        names = set()
        with open(f"/proc/{self.pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    names.add(os.path.basename(parts[5].strip()))
        return names

    def _close_log(self):
        if self.logf is not None:
            self.logf.close()
            self.logf = None

    # -- teardown ---------------------------------------------------------------------------
    def finish(self):
        """Stops the process if needed; returns a list of problems found."""
        if self.proc is not None and self.proc.poll() is not None and not self.stopped_by_us:
            self.problems.append(f"process died on its own with exit code {self.proc.returncode}")
            self.stopped_by_us = True
        if self.running():
            self.stop()
        self._close_log()
        log = self.log()
        for m in SANITIZER_MARKERS:
            if m in log:
                self.problems.append(f"log contains {m!r}")
        self._final_log = log
        return list(self.problems)

    def cleanup(self):
        if self._final_log is None:
            self._final_log = self.log()
        shutil.rmtree(self.sandbox, ignore_errors=True)


@pytest.fixture
def start_node(request, binary):
    """Factory: start_node(cfg_overrides=None, env=None, **opts) -> running Node.
    opts: write_cfg (False: let the server generate cfg.json), root_arg (False: no --root),
    extra_args, check_exit (False: do not require exit code 0), wait (False: no readiness),
    start (False: only prepare the root; call .start() or .run_cli() later)."""
    nodes = []
    request.node._fs_nodes = nodes

    def factory(cfg_overrides=None, env=None, wait=True, start=True, **opts):
        n = Node(binary, cfg_overrides=cfg_overrides, env=env, **opts)
        nodes.append(n)
        if start:
            n.start(wait=wait)
        return n

    yield factory
    problems = []
    for n in nodes:
        for p in n.finish():
            problems.append(f"node {n.url}: {p}")
    for n in nodes:
        n.cleanup()
    if problems:
        pytest.fail("fileserver teardown problems:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def node(start_node):
    """A node with the default configuration."""
    return start_node()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for i, n in enumerate(getattr(item, "_fs_nodes", [])):
            log = n.log()
            if len(log) > 12000:
                log = "...[truncated]...\n" + log[-12000:]
            rep.sections.append((f"fileserver node {i} ({n.url}) log [{rep.when}]",
                                 log or "(empty)"))
