"""Downloads with width/height: real JPEG, PNG and GIF files scaled down (never up), cached
on disk and invalidated with the original, hostile images refused with a clear error."""
import struct
from pathlib import Path

import requests

T = 10
IMAGES = Path(__file__).resolve().parents[1] / "unit" / "data" / "images"


def _dims(b):
    """(width, height) of PNG, GIF or baseline/progressive JPEG bytes."""
    if b[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", b[16:24])
    if b[:4] == b"GIF8":
        return struct.unpack("<HH", b[6:10])
    assert b[:2] == b"\xff\xd8", b[:4]
    i = 2
    while i < len(b):
        marker, ln = b[i + 1], struct.unpack(">H", b[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", b[i + 5:i + 9])
            return w, h
        i += 2 + ln
    raise AssertionError("no SOF marker")


def _up(node, name):
    data = (IMAGES / name).read_bytes()
    r = requests.post(node.g + "/upload", files={"file": (name, data)}, data={"output": "json"},
                      timeout=T)
    assert r.status_code == 200, r.text
    return r.json()["path"], data


def test_resize_each_format(node):
    for name, w, want in (("photo_300x200.jpg", 150, (150, 100)),
                          ("rgba_50x40.png", 25, (25, 20)),
                          ("trans_30x20.gif", 15, (15, 10))):
        path, _ = _up(node, name)
        r = requests.get(node.url + path, params={"width": w}, timeout=T)
        assert r.status_code == 200, (name, r.text)
        assert r.headers["Content-Type"].startswith("image/")
        assert _dims(r.content) == want, (name, _dims(r.content))
        # height only follows the aspect ratio too
        r = requests.get(node.url + path, params={"height": want[1]}, timeout=T)
        assert _dims(r.content) == want, name


def test_never_upscales(node):
    path, data = _up(node, "photo_64x48.jpg")
    r = requests.get(node.url + path, params={"width": 640, "height": 480}, timeout=T)
    assert r.status_code == 200 and _dims(r.content) == (64, 48)


def test_cache_and_invalidation(node):
    path, _ = _up(node, "photo_300x200.jpg")
    r1 = requests.get(node.url + path, params={"width": 100}, timeout=T)
    thumbs = list((Path(node.root) / "data" / "thumbs").rglob("100x0"))
    assert len(thumbs) == 1
    r2 = requests.get(node.url + path, params={"width": 100}, timeout=T)
    assert r1.content == r2.content
    # deleting the original drops its cached sizes
    md5 = requests.get(node.g + "/get_file_info", params={"path": path},
                       timeout=T).json()["data"]["md5"]
    assert requests.post(node.g + "/delete", data={"md5": md5}, timeout=T).status_code == 200
    assert not list((Path(node.root) / "data" / "thumbs").rglob("100x0"))
    # after a restart the node first learns that cached sizes exist from the disk
    path, _ = _up(node, "photo_64x48.jpg")
    assert requests.get(node.url + path, params={"width": 32}, timeout=T).status_code == 200
    assert len(list((Path(node.root) / "data" / "thumbs").rglob("32x0"))) == 1
    node.restart()
    md5 = requests.get(node.g + "/get_file_info", params={"path": path},
                       timeout=T).json()["data"]["md5"]
    assert requests.post(node.g + "/delete", data={"md5": md5}, timeout=T).status_code == 200
    assert not list((Path(node.root) / "data" / "thumbs").rglob("32x0"))


def test_hostile_and_bad_parameters(node):
    for name in ("bomb_100000x100000.png", "bomb_65000x65000.jpg", "bomb_65535x65535.gif",
                 "truncated.jpg", "truncated.png"):
        path, _ = _up(node, name)
        # a size below the image's own, so the (claimed) pixels must really be decoded
        r = requests.get(node.url + path, params={"width": 10}, timeout=T)
        assert r.status_code in (400, 413), (name, r.status_code, r.text)
        assert r.json()["status"] == "fail"
        # without width/height the bytes are served as they are
        assert requests.get(node.url + path, timeout=T).status_code == 200
    path, _ = _up(node, "photo_64x48.jpg")
    for bad in ({"width": "-5"}, {"width": "abc"}, {"width": "99999"}, {"height": "1e3"}):
        r = requests.get(node.url + path, params=bad, timeout=T)
        assert r.status_code == 400, (bad, r.text)


def test_resize_off(start_node):
    n = start_node(cfg_overrides={"enable_image_resize": False})
    path, data = _up(n, "photo_300x200.jpg")
    r = requests.get(n.url + path, params={"width": 100}, timeout=T)
    assert r.status_code == 200 and r.content == data


def test_resize_of_merged_small_files(start_node):
    """An image stored as a needle in a volume resizes like a file, and its cached copy goes
    when the image is deleted."""
    n = start_node({"enable_merge_small_file": True})
    path, data = _up(n, "photo_300x200.jpg")
    assert "/haystack/" in path, path
    r = requests.get(n.url + path, params={"width": 150}, timeout=T)
    assert r.status_code == 200 and _dims(r.content) == (150, 100), r.text
    r = requests.get(n.url + path, params={"width": 150}, timeout=T)  # from the cache
    assert r.status_code == 200 and _dims(r.content) == (150, 100)
    assert requests.get(n.url + path, timeout=T).content == data
    assert requests.post(n.g + "/delete", data={"path": path}, timeout=T).status_code == 200
    assert requests.get(n.url + path, params={"width": 150}, timeout=T).status_code == 404
