"""The benchmark's input files, generated once into the cache directory and reused by later
runs (re-creating them before every run would also put the mass file creation, and any
mass delete, right before the measurements). A marker file written last makes an
interrupted generation start over."""
import os
import time

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

# (class name, file size, file count)
FULL_GET = (("4k", 4 * KIB, 1000), ("100k", 100 * KIB, 1000), ("10m", 10 * MIB, 20))
SMOKE_GET = (("4k", 4 * KIB, 20), ("100k", 100 * KIB, 20), ("10m", 10 * MIB, 2))
FULL_BIG = 1 * GIB
SMOKE_BIG = 16 * MIB

META_DATE = "20260101"
META_PER_DIR = 1000


def _marker(d, tag):
    return os.path.join(d, ".complete-" + tag)


def _write_random(path, size, chunk=8 * MIB):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def get_class_dir(cache, cls):
    return os.path.join(cache, "get", cls)


def ensure_get(cache, specs, log):
    """cache/get/<class>/NNNN.bin for every (class, size, count); returns
    {class: [absolute paths]}."""
    out = {}
    for cls, size, count in specs:
        d = get_class_dir(cache, cls)
        tag = f"{size}x{count}"
        names = [f"{i:04d}.bin" for i in range(count)]
        if not os.path.exists(_marker(d, tag)):
            log(f"generating {count} x {size} B into {d}")
            os.makedirs(d, exist_ok=True)
            for n in names:
                _write_random(os.path.join(d, n), size)
            open(_marker(d, tag), "w").close()
        out[cls] = [os.path.join(d, n) for n in names]
    return out


def ensure_big(cache, size, log):
    d = os.path.join(cache, "big")
    path = os.path.join(d, f"big-{size}.bin")
    if not os.path.exists(_marker(d, str(size))):
        log(f"generating {size} B into {path}")
        os.makedirs(d, exist_ok=True)
        _write_random(path, size)
        open(_marker(d, str(size)), "w").close()
    return path


def meta_content(k):
    """Content of metadata-scale file number k: short and distinct, so every file has its
    own digest and the benchmark can compute any file's md5 without reading it."""
    return b"%x\n" % k


def meta_rel_dir(k):
    """files/<scene>/<date>/<HH>/<MM>/<peer>: go-fastdfs's layout, 1000 files a directory."""
    d = k // META_PER_DIR
    return os.path.join("default", META_DATE, f"{d // 60:02d}", f"{d % 60:02d}", "7")


def meta_name(k):
    return f"m{k:07d}.bin"


def ensure_meta_tree(cache, count, log):
    """A node root cache/meta-<count>/ whose files/ holds count small files (no index yet).
    Returns the root."""
    root = os.path.join(cache, f"meta-{count}")
    if os.path.exists(_marker(root, str(count))):
        return root
    log(f"creating {count} small files below {root}/files (once; cached for later runs)")
    t0 = time.monotonic()
    for k in range(count):
        if k % META_PER_DIR == 0:
            d = os.path.join(root, "files", meta_rel_dir(k))
            os.makedirs(d, exist_ok=True)
            if k and k % 100000 == 0:
                log(f"  {k} files, {time.monotonic() - t0:.0f} s")
        p = os.path.join(d, meta_name(k))
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, meta_content(k))
        finally:
            os.close(fd)
    open(_marker(root, str(count)), "w").close()
    log(f"created {count} files in {time.monotonic() - t0:.1f} s")
    return root


def read_all(paths, chunk=1 * MIB):
    """Reads files once so the page cache holds them (this VM pages idle cache out after
    about 30 s, so each measurement warms its own files)."""
    buf = bytearray(chunk)
    for p in paths:
        try:
            with open(p, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass
        except OSError:
            pass
