"""Small HTTP helpers for the parts of the benchmark that wrk cannot do: uploading the
corpus through the API, replication checks and metadata lookups, all over persistent
connections on 127.0.0.1 with timeouts."""
import hashlib
import http.client
import json
import os
import threading
import time

TIMEOUT = 30.0


class Conn:
    """One keep-alive connection that reconnects once when the server closed it."""

    def __init__(self, port, timeout=TIMEOUT):
        self.port = port
        self.timeout = timeout
        self.c = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, body bytes)."""
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port,
                                                    timeout=self.timeout)
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, data
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def multipart(content, filename, fields=()):
    boundary = "----benchBoundary" + os.urandom(8).hex()
    parts = []
    for k, v in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
                     f'{v}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode())
    parts.append(content)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), "multipart/form-data; boundary=" + boundary


def upload(conn, content, filename):
    """POST /group1/upload with output=json; returns the FileResult dict."""
    body, ctype = multipart(content, filename, [("output", "json")])
    st, data = conn.request("POST", "/group1/upload", body, {"Content-Type": ctype})
    if st != 200:
        raise RuntimeError(f"upload of {filename} failed: HTTP {st} {data[:200]!r}")
    return json.loads(data)


def upload_many(port, paths, threads=4, deadline_s=600.0):
    """Uploads every file in paths (threads in parallel). Returns a list, in the order of
    paths, of (FileResult, monotonic time of the reply)."""
    out = [None] * len(paths)
    errors = []
    lock = threading.Lock()
    next_i = [0]
    deadline = time.monotonic() + deadline_s

    def work():
        conn = Conn(port)
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next_i[0]
                    next_i[0] += 1
                if i >= len(paths):
                    return
                with open(paths[i], "rb") as f:
                    content = f.read()
                res = upload(conn, content, os.path.basename(paths[i]))
                out[i] = (res, time.monotonic())
        except Exception as e:      # reported by the caller
            with lock:
                errors.append(repr(e))
        finally:
            conn.close()

    ts = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(1.0, deadline - time.monotonic()))
    if errors:
        raise RuntimeError("upload failed: " + errors[0])
    if any(o is None for o in out):
        raise RuntimeError(f"uploads not finished within {deadline_s}s")
    return out


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def percentile(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]
