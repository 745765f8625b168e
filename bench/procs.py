"""Processes the benchmark starts (fileserver nodes, nginx) and what /proc says about them.
Every process is registered when spawned so that stop_all() can end it on any exit path
(normal end, exception, Ctrl-C, SIGTERM); each also gets PR_SET_PDEATHSIG so it dies with
the harness even if the harness is SIGKILLed."""
import ctypes
import json
import os
import signal
import socket
import subprocess
import time

_live = []          # Popen objects still to be stopped
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def spawn(argv, log_path, env=None, cwd=None):
    """Starts argv in its own session (a Ctrl-C reaches only the harness, which then stops
    the servers in order), output appended to log_path."""
    logf = open(log_path, "ab")
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                             stderr=subprocess.STDOUT, env=env, cwd=cwd,
                             start_new_session=True, preexec_fn=_die_with_parent)
    finally:
        logf.close()
    _live.append(p)
    return p


def stop(p, sig=signal.SIGTERM, grace=15.0):
    """Signals p, waits up to grace seconds, then SIGKILLs it. Returns the exit code."""
    if p is None:
        return None
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
    if p in _live:
        _live.remove(p)
    return p.returncode


def stop_all():
    for p in list(reversed(_live)):
        stop(p, grace=10.0)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


# ---- /proc ---------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def status_kib(pid, key):
    """A 'kB' field of /proc/<pid>/status (VmRSS, VmHWM), or 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """utime + stime of every thread of pid, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def reset_hwm(pid):
    """Writing 5 to clear_refs resets VmHWM to the current RSS (root or the owner only)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def machine_busy_seconds():
    """CPU-seconds all CPUs spent busy (not idle or iowait) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


def machine_busy_fraction(interval=0.25):
    """Share of all CPUs that was busy (not idle or iowait) over interval seconds."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v), idle
    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    if t1 == t0:
        return 0.0
    return 1.0 - (i1 - i0) / (t1 - t0)


def wait_idle(max_seconds, threshold=0.15, need=1.0):
    """Waits until the machine was below threshold busy for `need` seconds in a row, at most
    max_seconds. Returns True when it got quiet."""
    deadline = time.monotonic() + max_seconds
    quiet = 0.0
    while time.monotonic() < deadline:
        if machine_busy_fraction(0.25) < threshold:
            quiet += 0.25
            if quiet >= need:
                return True
        else:
            quiet = 0.0
    return False


# ---- servers --------------------------------------------------------------------------------

def _http_status(port, path, timeout=1.0):
    """Status code of one GET on 127.0.0.1:port, or None when nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                      .encode())
            head = s.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    if len(parts) >= 2 and parts[1].isdigit():
        return int(parts[1])
    return None


class Server:
    """Common part of the two servers: the pids whose memory and CPU are counted."""

    name = "?"

    def pids(self):
        raise NotImplementedError

    def rss_kib(self):
        return sum(status_kib(p, "VmRSS") for p in self.pids())

    def anon_kib(self):
        """RssAnon: VmRSS less file-backed pages (shared libraries, LevelDB's mmapped tables)."""
        return sum(status_kib(p, "RssAnon") for p in self.pids())

    def hwm_kib(self):
        return sum(status_kib(p, "VmHWM") for p in self.pids())

    def reset_hwm(self):
        for p in self.pids():
            reset_hwm(p)

    def cpu_seconds(self):
        return sum(cpu_seconds(p) for p in self.pids())


class Fileserver(Server):
    """One fileserver node in its own root; cfg is written before each start."""

    name = "fileserver"

    def __init__(self, binary, root, cfg=None, port=None):
        self.binary = binary
        self.root = root
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.g = self.url + "/group1"
        self.cfg = {"addr": f"127.0.0.1:{self.port}", "host": self.url, "peers": [],
                    "peer_id": "7", "log_level": "warn", "sync_mode": "group",
                    "auto_repair": False}
        self.cfg.update(cfg or {})
        self.proc = None
        os.makedirs(os.path.join(root, "conf"), exist_ok=True)
        self.log_path = os.path.join(root, "bench-stderr.log")

    def write_cfg(self):
        p = os.path.join(self.root, "conf", "cfg.json")
        with open(p, "w") as f:
            json.dump(self.cfg, f, indent=2)
        os.chmod(p, 0o600)

    def env(self):
        return {k: v for k, v in os.environ.items()
                if not k.startswith(("FILESERVER_", "GO_FASTDFS_"))}

    def start(self, ready_timeout=60.0):
        """Starts the node; returns the seconds from spawn to the first /healthz 200."""
        self.write_cfg()
        t0 = time.perf_counter()
        self.proc = spawn([self.binary, "--root", self.root], self.log_path, env=self.env())
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if _http_status(self.port, "/healthz") == 200:
                return time.perf_counter() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"fileserver exited with {self.proc.returncode} at start; "
                                   f"see {self.log_path}")
            time.sleep(0.001)
        raise RuntimeError(f"fileserver not ready after {ready_timeout}s; see {self.log_path}")

    def run_cli(self, args, timeout):
        self.write_cfg()
        return subprocess.run([self.binary, "--root", self.root] + list(args),
                              stdin=subprocess.DEVNULL, capture_output=True, env=self.env(),
                              timeout=timeout, preexec_fn=_die_with_parent)

    def stop(self):
        rc = stop(self.proc)
        self.proc = None
        return rc

    def pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def disk_path(self, url_path):
        """files/... on disk for a download path /group1/<scene>/..."""
        rel = url_path.split("/", 2)[2]
        return os.path.join(self.root, "files", rel)


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 2;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
    client_body_temp_path {upload_root}/.tmp;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        location /get/ {{
            alias {get_root}/;
        }}
        location /up/ {{
            alias {upload_root}/;
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
    }}
}}
"""


class Nginx(Server):
    """nginx with a private prefix: GET /get/... serves get_root, PUT /up/... writes below
    upload_root (the dav module, no fsync: nginx's uploads are not durable)."""

    name = "nginx"

    def __init__(self, binary, prefix, get_root, upload_root):
        self.binary = binary
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.get_root = get_root
        self.upload_root = upload_root
        self.proc = None
        self._pids = []
        os.makedirs(prefix, exist_ok=True)
        os.makedirs(os.path.join(upload_root, ".tmp"), exist_ok=True)
        self.conf = os.path.join(prefix, "nginx.conf")
        user = "user root;" if os.geteuid() == 0 else ""
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(user=user, prefix=prefix, port=self.port,
                                      get_root=get_root, upload_root=upload_root))
        self.log_path = os.path.join(prefix, "stderr.log")

    def start(self, ready_timeout=20.0):
        self.proc = spawn([self.binary, "-p", self.prefix, "-c", self.conf, "-e",
                           os.path.join(self.prefix, "error.log")], self.log_path)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}; see "
                                   f"{self.log_path} and {self.prefix}/error.log")
            kids = children(self.proc.pid)
            if len(kids) >= 2 and _http_status(self.port, "/get/") is not None:
                self._pids = [self.proc.pid] + kids
                return
            time.sleep(0.01)
        raise RuntimeError(f"nginx not ready after {ready_timeout}s")

    def stop(self):
        # SIGQUIT: graceful shutdown of master and workers
        rc = stop(self.proc, sig=signal.SIGQUIT)
        self.proc = None
        self._pids = []
        return rc

    def pids(self):
        if not self.proc or self.proc.poll() is not None:
            return []
        return [self.proc.pid] + children(self.proc.pid)
