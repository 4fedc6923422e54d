"""Downloads of selections and complete runs, over HTTP against the served sample, with the
policy matrix's callers (policy_archive: release dates, groups, users).

Every archive is opened with the standard library's readers (zipfile, tarfile) and, for zip,
also tested by Info-ZIP's ``unzip -t``; each member is checked against the archive's own
MANIFEST.csv and against the catalogue (archive.products.sha256 and file_size, read as the
administrator), and the set of products against what each caller may see, worked out in
Python (policy_archive.Archive.expected) rather than by the SQL policy.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import threading
import time
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from conftest import Node
from policy_archive import TODAY, Archive, Caller, make_archive

from vo_node.downloads import archive as streaming
from vo_node.downloads.archive import FileMember, InlineMember
from vo_node.downloads.containers import ZipWriter
from vo_node.downloads.runcache import RunArchives

MAX_IDS = 40


@pytest.fixture
def served_env(tmp_path: Path) -> dict[str, str]:
    return {
        "VO_NODE_RUNS_DIR": str(tmp_path / "runs"),
        "VO_NODE_DOWNLOAD_MAX_IDS": str(MAX_IDS),
    }


def _catalogue(node: Node) -> dict[int, dict[str, object]]:
    """Every product as the administrator reads it: the oracle of names, sizes, checksums."""
    rows = node.rows(
        "SELECT p.product_id, p.archive_path, p.file_size, p.sha256, r.code,"
        " CASE p.collection_id WHEN 'corot-astero' THEN 'astero' ELSE 'exo' END, p.level"
        " FROM archive.products p JOIN archive.runs r USING (run_id)"
    )
    keys = ("path", "size", "sha256", "run", "channel", "level")
    return {int(r[0]): dict(zip(keys, r[1:], strict=True)) for r in rows}  # type: ignore[call-overload]


def _members(body: bytes, fmt: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of every member, in order, read by the standard library."""
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            assert z.testzip() is None
            return [(i.filename, z.read(i)) for i in z.infolist()]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as t:
        found = []
        for info in t.getmembers():
            assert info.isfile()
            handle = t.extractfile(info)
            assert handle is not None
            found.append((info.name, handle.read()))
        return found


def _check_archive(
    body: bytes, fmt: str, catalogue: dict[int, dict[str, object]], tmp: Path
) -> tuple[set[int], dict[str, bytes]]:
    """Check an archive against its manifest and the catalogue; the product ids it holds and
    its extra members (ERRORS.txt) by name."""
    members = _members(body, fmt)
    assert members[0][0] == "MANIFEST.csv"
    rows = list(csv.DictReader(io.StringIO(members[0][1].decode())))
    files = dict(members[1:])
    assert len(files) == len(members) - 1  # no name twice
    held: set[int] = set()
    for row in rows:
        pid = int(row["product_id"])
        known = catalogue[pid]
        assert (row["name"], int(row["size"]), row["sha256"]) == (
            known["path"],
            known["size"],
            str(known["sha256"]).strip(),
        )
        assert (row["run"], row["channel"], row["level"]) == (
            known["run"],
            known["channel"],
            known["level"],
        )
        data = files.pop(row["name"], None)
        if data is None:
            continue  # left out: ERRORS.txt must say so (the callers check)
        assert len(data) == int(row["size"])
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        held.add(pid)
    if fmt == "zip":  # a second, independent reader
        path = tmp / "check.zip"
        path.write_bytes(body)
        done = subprocess.run(["unzip", "-tq", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    return held, files


def _post(caller: Caller, base: str, ids: list[int], fmt: str | None = "zip") -> requests.Response:
    data: list[tuple[str, str]] = [("id", str(i)) for i in ids]
    if fmt is not None:
        data.append(("format", fmt))
    return caller.session.post(base + "/download", data=data, timeout=120)


def _pick(ids: set[int], catalogue: dict[int, dict[str, object]], count: int) -> list[int]:
    """``count`` of ``ids`` spread over runs and channels."""
    chosen = sorted(ids, key=lambda i: (catalogue[i]["run"], catalogue[i]["channel"], i))
    step = max(1, len(chosen) // count)
    return chosen[::step][:count]


def test_selections_hold_exactly_what_was_asked_under_the_policy(
    served: tuple[Node, str], tmp_path: Path
) -> None:
    node, base = served
    archive = make_archive(served)
    catalogue = _catalogue(node)
    anonymous, n1, gi_other = (archive.callers[n] for n in ("anonymous", "n1", "gi_other"))
    public = archive.expected(anonymous)
    assert len(public) >= 10
    ids = _pick(public, catalogue, 8)
    assert len({catalogue[i]["run"] for i in ids} | {catalogue[i]["channel"] for i in ids}) > 2

    bodies = {}
    for fmt in ("zip", "tar"):
        resp = _post(anonymous, base, ids, fmt)
        assert resp.status_code == 200, resp.text[:300]
        assert int(resp.headers["Content-Length"]) == len(resp.content)
        assert resp.headers["Content-Type"] == (
            "application/zip" if fmt == "zip" else "application/x-tar"
        )
        assert resp.headers["Content-Disposition"].startswith("attachment; filename=")
        assert resp.headers["Content-Disposition"].endswith(f'.{fmt}"')
        assert "private" in resp.headers["Cache-Control"]
        held, extra = _check_archive(resp.content, fmt, catalogue, tmp_path)
        assert held == set(ids) and extra == {}
        bodies[fmt] = dict(_members(resp.content, fmt))
    assert bodies["zip"] == bodies["tar"]
    # The default format is zip, and an id sent twice is one member.
    resp = _post(anonymous, base, [ids[0], ids[0], ids[1]], None)
    assert resp.status_code == 200 and resp.content[:4] == b"PK\x03\x04"
    assert _check_archive(resp.content, "zip", catalogue, tmp_path)[0] == {ids[0], ids[1]}

    # A product the caller may not see, and one that does not exist: refused alike, whole.
    n1_only = archive.expected(n1) - public
    secret = min(i for i in n1_only if catalogue[i]["level"] == "N1")
    unknown = max(catalogue) + 1000
    answers = {}
    for extra_id in (secret, unknown):
        for caller, status in ((anonymous, 401), (gi_other, 403)):
            resp = _post(caller, base, [*ids[:2], extra_id], "tar")
            assert resp.status_code == status, resp.text
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert str(extra_id) in resp.text and str(ids[0]) not in resp.text
            if status == 401:
                assert "WWW-Authenticate" in resp.headers
            message, _, named = resp.text.rpartition(": ")
            assert named.strip() == str(extra_id)
            answers[(extra_id, status)] = message
    assert answers[(secret, 401)] == answers[(unknown, 401)]
    assert answers[(secret, 403)] == answers[(unknown, 403)]
    # The N1 community may have it.
    resp = _post(n1, base, [*ids[:2], secret], "zip")
    assert resp.status_code == 200
    assert _check_archive(resp.content, "zip", catalogue, tmp_path)[0] == {*ids[:2], secret}

    # Bad input: a clear 4xx in plain text, never a 500.
    for data, status, words in (
        ([("id", "12x")], 400, "12x"),
        ([("id", str(ids[0])), ("format", "rar")], 400, "rar"),
        ([("format", "zip")], 400, "no product"),
        ([("id", str(i)) for i in range(1, MAX_IDS + 2)], 413, f"at most {MAX_IDS}"),
    ):
        resp = anonymous.session.post(base + "/download", data=data, timeout=60)
        assert resp.status_code == status, (data[:2], resp.status_code, resp.text)
        assert resp.headers["Content-Type"].startswith("text/plain") and words in resp.text


def test_a_damaged_copy_is_never_sent(served: tuple[Node, str], tmp_path: Path) -> None:
    node, base = served
    archive = make_archive(served)
    catalogue = _catalogue(node)
    anonymous = archive.callers["anonymous"]
    ids = _pick(archive.expected(anonymous), catalogue, 4)
    victim = ids[1]
    path = str(catalogue[victim]["path"])
    copies = [root / path for root in node.settings.roots]

    def damage(copy: Path) -> None:
        data = bytearray(copy.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, other bytes: only the checksum can tell
        copy.write_bytes(bytes(data))

    # One copy damaged: the other one is sent, and the archive is whole.
    damage(copies[0])
    for fmt in ("zip", "tar"):
        resp = _post(anonymous, base, ids, fmt)
        assert resp.status_code == 200
        held, extra = _check_archive(resp.content, fmt, catalogue, tmp_path)
        assert held == set(ids) and extra == {}

    # Both damaged: left out, named in ERRORS.txt; the archive keeps its announced length
    # and stays well formed.
    damage(copies[1])
    for fmt in ("zip", "tar"):
        resp = _post(anonymous, base, ids, fmt)
        assert resp.status_code == 200
        assert int(resp.headers["Content-Length"]) == len(resp.content)
        held, extra = _check_archive(resp.content, fmt, catalogue, tmp_path)
        assert held == set(ids) - {victim}
        assert list(extra) == ["ERRORS.txt"]
        text = extra["ERRORS.txt"].decode()
        assert f"{path}\t{catalogue[victim]['size']}\t{catalogue[victim]['sha256']}" in text
        assert text.strip().count("\n") < 10  # the rest is padding: blank lines
    log = (tmp_path / "serve.log").read_text()
    assert f"product {victim}: copy" in log and "does not match the catalogue" in log

    # A complete run with a damaged file is not packed (nothing damaged is cached): 503.
    run, channel = catalogue[victim]["run"], catalogue[victim]["channel"]
    resp = anonymous.session.get(f"{base}/runs/{run}/{channel}.tar", timeout=120)
    assert resp.status_code == 503 and "Retry-After" in resp.headers
    assert "cannot be packed" in resp.text
    runs_dir = tmp_path / "runs"
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def _run_ids(
    archive: Archive, caller: Caller, catalogue: dict[int, dict[str, object]], run: str
) -> set[int]:
    return {
        i
        for i in archive.expected(caller)
        if catalogue[i]["run"] == run and catalogue[i]["channel"] == "exo"
    }


def test_complete_runs_per_caller_cached_and_resumable(
    served: tuple[Node, str], tmp_path: Path
) -> None:
    node, base = served
    archive = make_archive(served)
    catalogue = _catalogue(node)
    anonymous, n1 = archive.callers["anonymous"], archive.callers["n1"]
    run = str(node.scalar("SELECT code FROM archive.runs WHERE release_date < current_date - 100"))
    url = f"{base}/runs/{run}/exo.tar"
    runs_dir = tmp_path / "runs"

    # The page: per run and channel, what the caller may see.
    for caller in (anonymous, n1):
        page = caller.session.get(base + "/runs", timeout=30)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        for code in {str(c["run"]) for c in catalogue.values()}:
            for channel in ("exo", "astero"):
                mine = {
                    i
                    for i in archive.expected(caller)
                    if catalogue[i]["run"] == code and catalogue[i]["channel"] == channel
                }
                link = f"/runs/{code}/{channel}.tar"
                assert (link in page.text) == bool(mine), (caller.name, link)
                if mine:
                    row = f'<td>{code}</td><td>{channel}</td><td class="n">{len(mine):,}</td>'
                    assert row in page.text, (caller.name, row)

    # Anonymous: the public products of the run; the N1 community: its N1 ones too.
    public_ids, n1_ids = (
        _run_ids(archive, anonymous, catalogue, run),
        _run_ids(archive, n1, catalogue, run),
    )
    assert public_ids and n1_ids > public_ids
    assert any(catalogue[i]["level"] == "N1" for i in n1_ids - public_ids)
    first = anonymous.session.get(url, timeout=120)
    assert first.status_code == 200, first.text[:300]
    assert first.headers["Accept-Ranges"] == "bytes" and "public" in first.headers["Cache-Control"]
    assert int(first.headers["Content-Length"]) == len(first.content)
    held, extra = _check_archive(first.content, "tar", catalogue, tmp_path)
    assert held == public_ids and extra == {}
    (cached,) = runs_dir.glob("*.tar")
    before = cached.stat()
    mine = n1.session.get(url, timeout=120)
    assert mine.status_code == 200 and "private" in mine.headers["Cache-Control"]
    assert _check_archive(mine.content, "tar", catalogue, tmp_path)[0] == n1_ids
    assert mine.headers["ETag"] != first.headers["ETag"] and mine.content != first.content
    assert len(list(runs_dir.glob("*.tar"))) == 2
    zipped = n1.session.get(f"{base}/runs/{run}/exo.zip", timeout=120)
    assert zipped.status_code == 200
    assert _check_archive(zipped.content, "zip", catalogue, tmp_path)[0] == n1_ids

    # The second request is served from the same file, untouched.
    again = anonymous.session.get(url, timeout=120)
    assert again.content == first.content and again.headers["ETag"] == first.headers["ETag"]
    after = cached.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    # Ranges: a broken download resumes; the joined parts are the whole.
    etag = first.headers["ETag"]
    head = anonymous.session.get(url, headers={"Range": "bytes=0-999"}, timeout=60)
    tail = anonymous.session.get(
        url, headers={"Range": "bytes=1000-", "If-Range": etag}, timeout=60
    )
    assert head.status_code == 206 and tail.status_code == 206
    assert (
        tail.headers["Content-Range"] == f"bytes 1000-{len(first.content) - 1}/{len(first.content)}"
    )
    assert head.content + tail.content == first.content
    # If-Range with an ETag of another copy: the whole file again, from the start.
    stale = anonymous.session.get(
        url, headers={"Range": "bytes=1000-", "If-Range": '"0123abcd"'}, timeout=60
    )
    assert stale.status_code == 200 and stale.content == first.content

    # An embargo (a release date moved) changes what anonymous callers see: a new key, a
    # new copy, without the product.
    embargoed = min(public_ids)
    node.rows(
        "UPDATE archive.products SET release_date = %s WHERE product_id = %s RETURNING 1",
        TODAY + timedelta(days=30),
        embargoed,
    )
    changed = anonymous.session.get(url, timeout=120)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    held, _ = _check_archive(changed.content, "tar", catalogue, tmp_path)
    assert held == public_ids - {embargoed}
    assert len(list(runs_dir.glob("*.tar"))) == 3

    # Concurrent first requests build one file; nothing temporary is left.
    shutil.rmtree(runs_dir)
    results: list[requests.Response] = []

    def fetch() -> None:
        with requests.Session() as session:
            session.auth = n1.session.auth
            results.append(session.get(url, timeout=120))

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 6
    assert len({r.content for r in results}) == 1 and len({r.headers["ETag"] for r in results}) == 1
    held, _ = _check_archive(results[0].content, "tar", catalogue, tmp_path)
    assert held == n1_ids - {embargoed}
    names = [p.name for p in runs_dir.iterdir()]
    assert len(names) == 1 and names[0].endswith(".tar"), names

    # Bad names: plain-text 404s; a run without products the caller may see: refused.
    for path in (f"/runs/{run}/exo.rar", f"/runs/{run}/nope.tar", "/runs/XXa99/exo.tar"):
        resp = anonymous.session.get(base + path, timeout=30)
        assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("text/plain")
    assert not _run_ids(archive, anonymous, catalogue, archive.other_run)
    resp = anonymous.session.get(f"{base}/runs/{archive.other_run}/exo.tar", timeout=30)
    assert resp.status_code == 401 and "WWW-Authenticate" in resp.headers


class _CountingArchives(RunArchives):
    """Counts builds, and makes each slow enough for every thread to arrive during it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.builds = 0

    def _build(self, *args: object, **kwargs: object) -> None:
        self.builds += 1
        time.sleep(0.3)
        super()._build(*args, **kwargs)  # type: ignore[arg-type]


def test_concurrent_first_requests_build_once(tmp_path: Path) -> None:
    """The lock of the run cache, in-process: eight threads ask for a copy at once (each
    opens its own lock file description, as two server processes do); one builds it."""
    files = []
    for i in range(3):
        data = os.urandom(200_000 + i)
        path = tmp_path / f"f{i}.fits"
        path.write_bytes(data)
        files.append(
            FileMember(
                f"corot/x/f{i}.fits",
                len(data),
                hashlib.sha256(data).hexdigest(),
                0,
                (path,),
                f"p{i}",
            )
        )
    members = [InlineMember("MANIFEST.csv", b"name\r\n", 0), *files]
    cache = _CountingArchives(tmp_path / "runs")
    got: list[tuple[Path, str]] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get("LRa01", "exo", "zip", members)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.builds == 1 and len(set(got)) == 1
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [got[0][0].name]
    assert got[0][0].stat().st_size == streaming.length("zip", members)


def test_zip64_records_read_by_two_readers(tmp_path: Path) -> None:
    """ZIP64 (a member and an offset past 32 bits) without writing 4 GiB: the writer's limit
    lowered to 1,000 bytes, the archive read by zipfile and by unzip."""
    writer = ZipWriter(limit=1000)
    parts, contents = [], {"a": os.urandom(500), "b": os.urandom(3000), "c": os.urandom(10)}
    for name, data in contents.items():
        parts += [writer.begin(name, len(data), 1_700_000_000), data]
        parts.append(writer.end(len(data), zlib.crc32(data)))
    parts.append(writer.finish())
    body = b"".join(parts)
    assert len(body) == writer.offset
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert {i.filename: z.read(i) for i in z.infolist()} == contents
        infos = {i.filename: i for i in z.infolist()}
        assert infos["b"].extra[:2] == b"\x01\x00" and infos["c"].header_offset > 1000
    path = tmp_path / "z64.zip"
    path.write_bytes(body)
    done = subprocess.run(["unzip", "-tq", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_public_run_archives_built_ahead(served: tuple[Node, str]) -> None:
    """`vo-node runs --build` makes the archives anonymous users download, so that no first
    request waits for one; the server then serves those very files."""
    node, base = served
    listed = node.cli("runs", check=True).stdout.splitlines()
    built = node.cli("runs", "--build", check=True).stdout.splitlines()
    assert listed and len(built) == len(listed)
    files = {Path(line.rsplit(": ", 1)[1]) for line in built}
    assert all(f.is_file() and f.suffix == ".tar" for f in files)
    stamps = {f: (f.stat().st_ino, f.stat().st_mtime_ns) for f in files}
    run, channel = listed[0].split(":")[0].split()
    resp = requests.get(f"{base}/runs/{run}/{channel}.tar", timeout=120)
    assert resp.status_code == 200
    served_from = [f for f in files if f.stat().st_size == len(resp.content)]
    assert served_from and all((f.stat().st_ino, f.stat().st_mtime_ns) == stamps[f] for f in files)
    # Built again: nothing to do, nothing rebuilt.
    node.cli("runs", "--build", check=True)
    assert {f: (f.stat().st_ino, f.stat().st_mtime_ns) for f in files} == stamps
