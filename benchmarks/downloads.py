"""Selection downloads (``POST /download``) against ``tar`` of the same stored files, and the
server's memory while a big archive streams, measured in the same run.

One throwaway node (benchmarks/tap.py's cluster) holds the generated sample delivery (the
test suite's spec) and ``--big`` big light curves (benchmarks/lightcurve_files.py's
``big_file``: v4 exo N2 files of ``--big-rows`` points, ~47 MB each), put in with
``vo-node ingest`` as an operator would; every run is released so the anonymous caller may
download everything. The real ``vo-node serve`` (gunicorn gthread, one worker so that its
memory is the server's, the production thread count) serves it on 127.0.0.1.

The selection: the largest products until ``--megabytes`` (the big files, then sample files).
Measured, best of ``--repeat``, the caches warm (one unmeasured round first):

1. ``POST /download`` as zip and as tar, read with http.client into one 1 MB buffer, MB/s of
   archive bytes; the byte count must equal Content-Length.
2. GNU tar of the same stored files (one storage root, the same order), written to a pipe
   and read the same way: ``tar -cf - ... | reader``. Also ``tar -cf /dev/null``, printed for
   the record only: GNU tar notices that its archive is /dev/null and does not read the files
   at all, so that figure is metadata speed, not a fair baseline.
3. The gunicorn worker's resident memory (VmRSS from /proc/<pid>/status, sampled every 20 ms)
   before the first download, its peak during each download, and after; plus VmHWM.
   The archive streams in 1 MiB pieces, so the peak must not grow with the selection: the
   same is measured for a selection a tenth of the size.

The node verifies every file's SHA-256 before sending it (vo_node/downloads/archive.py):
that costs a hash pass over the bytes, which tar does not do; the ratio shows its price.

Ratios and memory are printed, never asserted. Defaults take under three minutes on two
cores, most of it writing and ingesting the big files.

    python benchmarks/downloads.py [--megabytes 1000] [--big 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import http.client
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from lightcurve_files import big_file, ingest, v4_chr_file

# The benchmark next to this one: its cluster, server and helpers (it also puts the checkout
# on sys.path).
from tap import _interrupt, _node, _served, _timed

from ingest.sample import SampleSpec, generate

SAMPLE = {"stars": 120, "runs": 3, "seed": 7, "days": 6.0, "n1_fraction": 0.3}
FIRST_COROTID = 990000001  # the big light curves' stars: CoRoT IDs the sample does not use
CHUNK = 1 << 20


def _post_archive(base: str, ids: Sequence[int], fmt: str) -> int:
    """Bytes of ``POST /download``, read with http.client into one 1 MB buffer; they must be
    what Content-Length announced."""
    parts = urlsplit(base)
    body = urlencode([("id", str(i)) for i in ids] + [("format", fmt)])
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=600)
    try:
        connection.request(
            "POST",
            "/download",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        if response.status != 200:
            sys.exit(f"POST /download ({fmt}): HTTP {response.status}: {response.read()[:500]!r}")
        announced = int(response.headers["Content-Length"])
        total = _drain(response)
    finally:
        connection.close()
    if total != announced:
        sys.exit(f"POST /download ({fmt}): {total} bytes read, {announced} announced")
    return total


def _drain(stream: http.client.HTTPResponse | object) -> int:
    buffer = bytearray(CHUNK)
    total = 0
    while n := stream.readinto(buffer):  # type: ignore[attr-defined]
        total += n
    return total


def _tar_pipe(root: Path, paths: Sequence[str]) -> int:
    """Bytes of ``tar -cf - paths`` (run in ``root``), read from its pipe like a download."""
    with subprocess.Popen(
        ["tar", "-cf", "-", "--", *paths], cwd=root, stdout=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        total = _drain(proc.stdout)
    if proc.returncode != 0:
        sys.exit(f"tar failed ({proc.returncode})")
    return total


def _tar_devnull(root: Path, paths: Sequence[str]) -> int:
    subprocess.run(["tar", "-cf", "/dev/null", "--", *paths], cwd=root, check=True)
    return 0


def _best(action: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Seconds of the fastest of ``repeat`` calls (after one unmeasured call), and bytes."""
    size = action()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        size = action()
        best = min(best, time.perf_counter() - start)
    return best, size


def _status(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure, kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def _worker_pid(port: int) -> int:
    """The gunicorn worker serving ``port``: the child of the ``vo_node serve`` master."""
    masters, children = [], {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"vo_node" in cmdline and b"serve" in cmdline:
            if f"VO_NODE_PORT={port}".encode() in environ:
                masters.append(int(proc.name))
            children.setdefault(ppid, []).append(int(proc.name))
    workers = [w for m in masters for w in children.get(m, [])]
    if len(workers) != 1:
        sys.exit(f"expected one gunicorn worker on port {port}, found {workers}")
    return workers[0]


@contextmanager
def _sampled(pid: int) -> Iterator[list[int]]:
    """VmRSS of ``pid`` every 20 ms while the block runs (kB)."""
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(_status(pid, "VmRSS"))
            done.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


def _select(admin: object, megabytes: float) -> list[tuple[int, str, int]]:
    """(product_id, archive_path, size) of the largest public products up to ``megabytes``."""
    rows = admin.execute(  # type: ignore[attr-defined]
        "SELECT product_id, archive_path, file_size FROM archive.products"
        " WHERE level IN ('N2', 'N3')"  # N1 products are never public
        " ORDER BY file_size DESC, product_id"
    ).fetchall()
    chosen, total = [], 0
    for pid, path, size in rows:
        if total >= megabytes * 1e6:
            break
        chosen.append((int(pid), str(path), int(size)))
        total += int(size)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=1000, help="size of the selection")
    parser.add_argument("--big", type=int, default=20, help="big light curves made")
    parser.add_argument("--big-rows", type=int, default=405_000, help="points of each")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (best taken)")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)

    began = time.perf_counter()
    out: list[str] = []
    with _node("vo-node-bench-downloads-", 1, args.threads) as (settings, db, work):
        sample = work / "sample"
        _timed(
            "sample generated",
            lambda: generate(SampleSpec(out_dir=sample, **SAMPLE)),  # type: ignore[arg-type]
        )
        source = v4_chr_file(sample)
        big = work / "big"
        _timed(
            f"{args.big} big light curves written ({args.big_rows:,} points each)",
            lambda: [
                big_file(source, big / str(i), args.big_rows, FIRST_COROTID + i)
                for i in range(args.big)
            ],
        )
        for label, path in (("sample", sample), ("big light curves", big)):
            print(f"   {_timed(f'{label} ingested', lambda p=path: ingest(settings, db, p))}")
        with db.admin(autocommit=True) as admin:
            # Everything public: the anonymous caller may download every product.
            admin.execute("UPDATE archive.runs SET release_date = '2010-01-01'")
            admin.execute("UPDATE archive.products SET release_date = NULL")
            chosen = _select(admin, args.megabytes)
            small = _select(admin, args.megabytes / 10)
        ids = [pid for pid, _, _ in chosen]
        paths = [path for _, path, _ in chosen]
        data = sum(size for _, _, size in chosen)
        root = settings.roots[0]

        with _served(settings, db, work / "serve.log") as base:
            worker = _worker_pid(settings.port)
            print(f"serving on {base} (gunicorn gthread, 1 worker x {settings.threads} threads)")
            _post_archive(base, ids[-3:], "zip")  # the first request's imports, unmeasured
            rss_start = _status(worker, "VmRSS")
            rates: dict[str, float] = {}
            peaks: dict[str, int] = {}
            sizes: dict[str, int] = {}
            for fmt in ("zip", "tar"):
                with _sampled(worker) as samples:
                    seconds, sizes[fmt] = _timed(
                        f"POST /download as {fmt}, {args.repeat + 1} times",
                        lambda f=fmt: _best(lambda: _post_archive(base, ids, f), args.repeat),
                    )
                rates[fmt] = sizes[fmt] / 1e6 / seconds
                peaks[fmt] = max(samples)
            with _sampled(worker) as samples:
                _post_archive(base, [pid for pid, _, _ in small], "zip")
            peaks["small"] = max(samples)
            time.sleep(0.5)
            rss_end, hwm = _status(worker, "VmRSS"), _status(worker, "VmHWM")
        tar_s, tar_size = _timed(
            "tar -cf - | reader", lambda: _best(lambda: _tar_pipe(root, paths), args.repeat)
        )
        null_s, _ = _best(lambda: _tar_devnull(root, paths), args.repeat)

    tar_rate = tar_size / 1e6 / tar_s
    big_peak = max(peaks["zip"], peaks["tar"])
    out += [
        f"selection: {len(ids):,} products, {data / 1e6:,.0f} MB of files "
        f"(zip {sizes['zip'] / 1e6:,.1f} MB, tar {sizes['tar'] / 1e6:,.1f} MB, "
        f"GNU tar {tar_size / 1e6:,.1f} MB)",
        f"1. POST /download, best of {args.repeat}: zip {rates['zip']:,.0f} MB/s, "
        f"tar {rates['tar']:,.0f} MB/s (every file's SHA-256 checked before it is sent)",
        f"2. GNU tar of the same files to a pipe, best of {args.repeat}: {tar_rate:,.0f} MB/s; "
        f"ratio download/tar: zip {rates['zip'] / tar_rate:.2f}, tar {rates['tar'] / tar_rate:.2f}"
        f"   (tar -cf /dev/null: {null_s * 1000:.0f} ms, files not read: not a baseline)",
        f"3. gunicorn worker VmRSS: {rss_start / 1024:.1f} MB before; peak during the "
        f"{data / 1e6:,.0f} MB downloads: zip {peaks['zip'] / 1024:.1f} MB, tar "
        f"{peaks['tar'] / 1024:.1f} MB; during a {sum(s for _, _, s in small) / 1e6:,.0f} MB "
        f"one: {peaks['small'] / 1024:.1f} MB; after {rss_end / 1024:.1f} MB; VmHWM "
        f"{hwm / 1024:.1f} MB",
        f"   growth during the big downloads: {(big_peak - rss_start) / 1024:+.1f} MB "
        f"(over the small one: {(big_peak - peaks['small']) / 1024:+.1f} MB)",
    ]
    print()
    print("\n".join(out))
    print(f"total run time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything is cleaned up by now; no traceback for that
        sys.exit("interrupted")
