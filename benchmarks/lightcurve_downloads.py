"""Part 4 of benchmarks/lightcurves.py: a stored file downloaded through the node against the
same file read from disk with the page cache warm."""

from __future__ import annotations

import http.client
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests
from interleaved import interleaved, median
from tap import _timed

from vo_node.db.policy import ProductFile


def _stream(session: requests.Session, url: str) -> int:
    """Bytes of a download, read as it streams."""
    total = 0
    with session.get(url, stream=True, timeout=300) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
        for chunk in response.iter_content(chunk_size=1 << 20):
            total += len(chunk)
    return total


def _raw_download(url: str) -> int:
    """Bytes of a download read with http.client into one 1 MB buffer: what the server and
    the loopback deliver, without a client library's per-chunk work (requests' streaming
    costs about as much as the serving here)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=300)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}" if parts.query else parts.path)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read(500)!r}")
        buffer = bytearray(1 << 20)
        total = 0
        while n := response.readinto(buffer):
            total += n
        return total
    finally:
        connection.close()


def _disk_read(path: Path) -> int:
    with path.open("rb") as f:
        return len(f.read())


def _disk_pieces(path: Path) -> int:
    """The file read in 1 MB pieces into one buffer, as a download reads it (no 47 MB
    allocation per read)."""
    buffer = bytearray(1 << 20)
    total = 0
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buffer):
            total += n
    return total


def measure_download(
    session: requests.Session, base: str, big: ProductFile, stored: Path, repeat: int
) -> list[str]:
    """4: the stored file through the node against the same file read from disk."""
    url = f"{base}/products/{big.product_id}.fits"
    seen: dict[str, int] = {}
    times = _timed(
        "4. downloads and disk reads",
        lambda: interleaved(
            {
                "http": lambda: seen.update(http=_raw_download(url)),
                "requests": lambda: seen.update(requests=_stream(session, url)),
                "disk": lambda: seen.update(disk=_disk_read(stored)),
                "pieces": lambda: seen.update(pieces=_disk_pieces(stored)),
            },
            repeat,
            warmup=1,
        ),
    )
    size = big.file_size
    if set(seen.values()) != {size}:
        sys.exit(f"bytes downloaded and read: {seen}, not {size}")
    rate = {name: size / 1e6 / median(values) for name, values in times.items()}
    return [
        f"4. GET /products/{big.product_id}.fits ({size / 1e6:.1f} MB), median of {repeat}: "
        f"{rate['http']:,.0f} MB/s (http.client, 1 MB buffer), {rate['requests']:,.0f} MB/s "
        "(requests, streamed); the stored file from disk (page cache warm): "
        f"open().read() {rate['disk']:,.0f} MB/s, in 1 MB pieces {rate['pieces']:,.0f} MB/s",
        f"   ratio download/open().read(): {rate['http'] / rate['disk']:.2f}; "
        f"download/1 MB pieces: {rate['http'] / rate['pieces']:.2f}",
    ]
