"""Helpers shared by the black-box tests: multipart bodies built by hand (so file names and
field values reach the server byte for byte), a raw-socket HTTP client (so request paths are
never normalised), bounded waiting, and checks on what a node left on disk."""
import hashlib
import http.client
import json
import os
import random
import re
import socket
import time
import urllib.parse
import urllib.request

# Every requests call passes this: (connect, read) seconds.
T = (5, 30)

CRLF = b"\r\n"


def md5(data):
    return hashlib.md5(data).hexdigest()


def token():
    """A short random marker used in names so a test can find (or miss) its own files."""
    return "bbx" + os.urandom(5).hex()


def payload(n=None):
    """Random bytes; random content keeps dedupe between tests from interfering."""
    if n is None:
        n = random.randint(100, 5000)
    return os.urandom(n)


def seeded_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def _b(v):
    if isinstance(v, bytes):
        return v
    return str(v).encode("utf-8")


def new_boundary():
    return "----bbxBoundary" + os.urandom(12).hex()


def mp_part_header(name, filename=None, ctype=None):
    h = b'Content-Disposition: form-data; name="' + _b(name) + b'"'
    if filename is not None:
        h += b'; filename="' + _b(filename) + b'"'
    h += CRLF
    if ctype:
        h += b"Content-Type: " + _b(ctype) + CRLF
    return h + CRLF


def multipart(fields=(), file=None, boundary=None, close=True):
    """fields: iterable of (name, value); file: (filename, content) or (field, filename,
    content). Names and values may be str or bytes and are sent unescaped.
    Returns (body, content_type)."""
    boundary = boundary or new_boundary()
    bb = _b(boundary)
    out = []
    for name, value in fields:
        out.append(b"--" + bb + CRLF + mp_part_header(name) + _b(value) + CRLF)
    if file is not None:
        if len(file) == 2:
            field, (fname, content) = "file", file
        else:
            field, fname, content = file
        out.append(b"--" + bb + CRLF +
                   mp_part_header(field, fname, "application/octet-stream") + content + CRLF)
    if close:
        out.append(b"--" + bb + b"--" + CRLF)
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def multipart_stream(fields, filename, chunks, boundary):
    """Generator of a multipart body whose file content comes from the iterable chunks."""
    bb = _b(boundary)
    head = b""
    for name, value in fields:
        head += b"--" + bb + CRLF + mp_part_header(name) + _b(value) + CRLF
    head += b"--" + bb + CRLF + mp_part_header("file", filename, "application/octet-stream")
    yield head
    for c in chunks:
        yield c
    yield CRLF + b"--" + bb + b"--" + CRLF


def multipart_stream_len(fields, filename, size, boundary):
    """Exact byte length of multipart_stream() for a file of size bytes."""
    head = b"".join(multipart_stream(fields, filename, [], boundary))
    return len(head) + size


def upload(requests_mod, node, content, name="f.bin", fields=None, headers=None,
           timeout=T, **kw):
    """POST G/upload with a hand-built multipart body; fields is a dict or list of pairs."""
    if fields is None:
        fields = []
    elif isinstance(fields, dict):
        fields = list(fields.items())
    body, ctype = multipart(fields, (name, content))
    h = {"Content-Type": ctype}
    if headers:
        h.update(headers)
    return requests_mod.post(node.g + "/upload", data=body, headers=h, timeout=timeout, **kw)


def describe(resp):
    body = resp.content[:600]
    return f"HTTP {resp.status_code} {dict(resp.headers)!r} body={body!r}"


def assert_fail(resp, statuses):
    """An error reply: a real 4xx/5xx status and the {status:fail,message,data:null} body."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    assert resp.status_code in statuses, f"want {statuses}, got {describe(resp)}"
    try:
        j = resp.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {describe(resp)}")
    assert isinstance(j, dict), f"error body is not an object: {describe(resp)}"
    assert j.get("status") == "fail", f"status != fail: {describe(resp)}"
    assert isinstance(j.get("message"), str) and j["message"], \
        f"message missing/empty: {describe(resp)}"
    assert "data" in j and j["data"] is None, f"data must be null: {describe(resp)}"
    return j


def assert_ok_json(resp):
    assert resp.status_code == 200, describe(resp)
    try:
        j = resp.json()
    except ValueError:
        raise AssertionError(f"body is not JSON: {describe(resp)}")
    assert isinstance(j, dict) and j.get("status") == "ok", describe(resp)
    return j


def wait_for(pred, timeout=5.0, interval=0.05, what="condition"):
    """Polls pred() until truthy; bounded by a count and a deadline. Returns the value."""
    deadline = time.monotonic() + timeout
    count = int(timeout / interval) + 2
    last = None
    for _ in range(count):
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last={last!r})")


def files_under(d):
    """Every regular file (not symlink) under d, as absolute paths."""
    out = []
    for dirpath, _dirs, names in os.walk(d, followlinks=False):
        for n in names:
            p = os.path.join(dirpath, n)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return sorted(out)


def metric(node, name):
    """an unlabelled counter or gauge from /metrics"""
    with urllib.request.urlopen(node.url + "/metrics", timeout=T[1]) as r:
        m = r.read().decode()
    for line in m.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("no %s in /metrics:\n%s" % (name, m))


def disk_syncs(node):
    """fileserver_disk_syncs_total from /metrics"""
    return metric(node, "fileserver_disk_syncs_total")


def temp_files(node):
    """The node's upload temps: names in ROOT/data/tmp, and the anonymous (O_TMPFILE) ones
    it holds open there, which have no name and show in /proc as "#<inode> (deleted)"."""
    tmp = node.path("data", "tmp")
    out = os.listdir(tmp) if os.path.isdir(tmp) else []
    pid = node.pid
    fds = f"/proc/{pid}/fd"
    if pid and os.path.isdir(fds):
        for fd in os.listdir(fds):
            try:
                target = os.readlink(os.path.join(fds, fd))
            except OSError:
                continue   # closed meanwhile
            if os.path.dirname(target) == os.path.realpath(tmp) and target.endswith(" (deleted)"):
                out.append(os.path.basename(target)[:-len(" (deleted)")])
    return out


def file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for _ in range(1 << 20):
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def local_date_parts(ts):
    lt = time.localtime(ts)
    return (time.strftime("%Y%m%d", lt), time.strftime("%H", lt), time.strftime("%M", lt))


def date_path_re(group, scene, peer_id, name):
    return re.compile(r"^/%s/%s/(\d{8})/(\d{2})/(\d{2})/%s/%s$" % (
        re.escape(group), re.escape(scene), re.escape(peer_id), re.escape(name)))


def url_path(url):
    """The path of a returned URL (query dropped), still percent-encoded as returned."""
    return urllib.parse.urlsplit(url).path


# ---- raw HTTP ----------------------------------------------------------------------------

class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers      # dict, lower-case keys
        self.body = body

    def __repr__(self):
        return f"<Raw {self.status} {self.headers!r} {self.body[:300]!r}>"


def raw_path_request(port, method, path, headers=None, body=None, timeout=10):
    """Sends path exactly as given (http.client does not normalise it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read() if method != "HEAD" else b""
        return RawResponse(r.status, r.reason, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def parse_raw_response(buf):
    """Parses one HTTP/1.x response from bytes; returns RawResponse or None if no status line."""
    if not buf.startswith(b"HTTP/"):
        return None
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return None
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
    cl = headers.get("content-length")
    if cl is not None and cl.isdigit():
        rest = rest[:int(cl)]
    return RawResponse(status, parts[2].decode("latin-1") if len(parts) > 2 else "", headers,
                       rest)


def raw_exchange(port, data_parts, read_timeout=10, shutdown_write=False, pause=0.0):
    """Sends byte strings over a fresh socket (pause seconds between them), optionally
    half-closes, then reads until the peer closes, the response is complete, or the
    deadline passes. Returns (RawResponse or None, raw bytes, error string or None)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    err = None
    buf = b""
    try:
        try:
            for i, part in enumerate(data_parts):
                if i and pause:
                    time.sleep(pause)
                s.sendall(part)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:           # server may answer and close before we finish
            err = f"send: {e!r}"
        deadline = time.monotonic() + read_timeout
        for _ in range(100000):
            if time.monotonic() >= deadline:
                err = (err or "") + " read deadline"
                break
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                err = (err or "") + " read timeout"
                break
            except OSError as e:
                err = (err or "") + f" recv: {e!r}"
                break
            if not b:
                break
            buf += b
            r = parse_raw_response(buf)
            if r is not None and b"\r\n\r\n" in buf:
                cl = r.headers.get("content-length")
                head_len = buf.index(b"\r\n\r\n") + 4
                if cl is not None and cl.isdigit() and len(buf) - head_len >= int(cl):
                    break
    finally:
        s.close()
    return parse_raw_response(buf), buf, err


def json_or_none(body):
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


# ---- containment -------------------------------------------------------------------------

ALLOWED_ROOT_ENTRIES = {"conf", "files", "data", "log", "stderr.log", "static"}


def containment_problems(node, tok, conf_before=None):
    """Everything a client-named path may have created outside ROOT/files: entries named
    with tok anywhere outside files/, new top-level entries in the sandbox or ROOT, new
    entries in conf/, and tok-named entries in well-known absolute directories (removed if
    found, since the tests may run as root)."""
    problems = []
    files_dir = os.path.realpath(node.path("files"))
    sb = os.path.realpath(node.sandbox)
    extra_sb = set(os.listdir(sb)) - {"root"}
    if extra_sb:
        problems.append(f"unexpected entries next to ROOT: {sorted(extra_sb)}")
    base = node.baseline or set()
    extra_root = set(os.listdir(node.root)) - base - ALLOWED_ROOT_ENTRIES
    if extra_root:
        problems.append(f"unexpected entries in ROOT: {sorted(extra_root)}")
    if conf_before is not None:
        now = set(os.listdir(node.path("conf")))
        if now - conf_before:
            problems.append(f"new entries in ROOT/conf: {sorted(now - conf_before)}")
    for dirpath, dirs, names in os.walk(sb, followlinks=False):
        for n in dirs + names:
            p = os.path.join(dirpath, n)
            rp = os.path.realpath(p)
            inside = rp == files_dir or rp.startswith(files_dir + os.sep)
            if tok in n and not inside:
                problems.append(f"{p} created outside ROOT/files")
    for d in ("/", "/tmp", "/etc", os.path.dirname(sb), os.getcwd()):
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        for e in entries:
            if tok in e:
                p = os.path.join(d, e)
                problems.append(f"{p} created outside the sandbox")
                try:
                    if os.path.isdir(p) and not os.path.islink(p):
                        import shutil
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        os.unlink(p)
                except OSError:
                    pass
    return problems


# ---- streamed uploads ----------------------------------------------------------------------

class StreamResult:
    def __init__(self, status, body):
        self.status_code = status
        self.content = body

    def json(self):
        return json.loads(self.content)

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")


def stream_upload_cl(port, path, fields, name, chunks, size, timeout=60, boundary=None):
    """Multipart upload with an exact Content-Length, body written chunk by chunk through
    http.client (requests cannot stream a generator with a Content-Length)."""
    boundary = boundary or new_boundary()
    total = multipart_stream_len(fields, name, size, boundary)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        conn.putheader("Content-Type", "multipart/form-data; boundary=" + boundary)
        conn.putheader("Content-Length", str(total))
        conn.endheaders()
        for part in multipart_stream(fields, name, chunks, boundary):
            conn.send(part)
        r = conn.getresponse()
        return StreamResult(r.status, r.read())
    finally:
        conn.close()
