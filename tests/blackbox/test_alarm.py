"""Alarms reach a local HTTP sink (alarm_url) and a local SMTP sink (mail to
alarm_receivers): a disk past its threshold, and a peer that stays unreachable."""
import http.server
import socket
import socketserver
import threading
import time
import urllib.parse

import pytest

T = 10


class _Sink(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        _Sink.got.append({k: v[0] for k, v in form.items()})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for libcurl: greets, accepts one message, remembers it."""
    mails = []

    def handle(self):
        w = self.wfile.write
        w(b"220 sink ESMTP\r\n")
        rcpt, data = [], []
        for _ in range(1000):
            line = self.rfile.readline(65536)
            if not line:
                return
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
                w(b"250 sink\r\n")
            elif cmd.startswith(b"MAIL FROM"):
                w(b"250 ok\r\n")
            elif cmd.startswith(b"RCPT TO"):
                rcpt.append(line.strip()[8:].decode())
                w(b"250 ok\r\n")
            elif cmd == b"DATA":
                w(b"354 go\r\n")
                for _ in range(100000):
                    l = self.rfile.readline(65536)
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    data.append(l)
                _Smtp.mails.append({"rcpt": rcpt, "data": b"".join(data).decode("utf-8", "replace")})
                w(b"250 queued\r\n")
            elif cmd == b"QUIT":
                w(b"221 bye\r\n")
                return
            else:
                w(b"250 ok\r\n")


@pytest.fixture
def sinks():
    _Sink.got.clear()
    _Smtp.mails.clear()
    h = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    m = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    m.daemon_threads = True
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (h, m)]
    for t in threads:
        t.start()
    yield f"http://127.0.0.1:{h.server_address[1]}/alarm", f"smtp://127.0.0.1:{m.server_address[1]}"
    for s in (h, m):
        s.shutdown()
        s.server_close()
    for t in threads:
        t.join(timeout=5)


def _wait(pred, what, timeout=15):
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.1) + 1):
        if pred():
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    raise AssertionError(what)


def test_disk_alarm_by_post_and_mail(start_node, sinks):
    url, smtp = sinks
    start_node(cfg_overrides={"alarm_url": url, "mail_host": smtp,
                              "alarm_receivers": ["ops@example.org", "dev@example.org"],
                              "alarm_disk_percent": 1, "alarm_interval": 1})
    _wait(lambda: any("disk" in g.get("subject", "") for g in _Sink.got), "the POST alarm")
    g = next(g for g in _Sink.got if "disk" in g["subject"])
    assert "used" in g["message"] and g["node"].startswith("http://127.0.0.1:")
    _wait(lambda: _Smtp.mails, "the alarm mail")
    m = _Smtp.mails[0]
    assert set(m["rcpt"]) == {"<ops@example.org>", "<dev@example.org>"}
    assert "Subject: fileserver" in m["data"] and "disk almost full" in m["data"]
    time.sleep(2.5)
    # the condition persists: no second alarm for it
    assert sum("disk" in g["subject"] for g in _Sink.got) == 1


def test_peer_down_alarm(start_node, sinks):
    url, _ = sinks
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    n = start_node(cfg_overrides={"alarm_url": url, "alarm_interval": 1, "alarm_peer_down": 1,
                                  "alarm_disk_percent": 100, "cluster_secret": "ab" * 16,
                                  "peers": [dead], "auto_repair": False})
    import requests
    requests.post(n.g + "/upload", files={"file": ("x.bin", b"alarm me")}, timeout=T)
    _wait(lambda: any("unreachable" in g.get("subject", "") for g in _Sink.got),
          "the peer-down alarm", timeout=20)
    g = next(g for g in _Sink.got if "unreachable" in g["subject"])
    assert dead in g["subject"]


def test_no_alarm_target_no_thread(start_node):
    n = start_node(cfg_overrides={"alarm_disk_percent": 1, "alarm_interval": 1})
    time.sleep(1.5)
    assert "alarm" not in n.log()
