"""The distribution policy from the outside: a leak-test matrix.

Six callers (anonymous, a Guest Investigator of another run, a GI of the run, a
Co-Investigator, a member of the N1 community, an administrator) against every interface that
exists (TAP sync and async, an upload joined with the products, ObsCore, aggregates, file
downloads, SSA, DataLink {links}, SODA cut-outs, previews, the landing page), before and after
a release date passes. What each caller may see is computed here in Python from the archive's
rows, independently of the SQL policy, and every interface must return exactly that.

The callers use every accepted kind of credentials: HTTP Basic, a bearer token and the login
page's cookie.
"""

from __future__ import annotations

import hashlib
import io

import pytest
import pyvo
from astropy.io.votable import parse_single_table
from astropy.table import Table
from conftest import Node
from policy_archive import LATER, PASSWORD, TODAY, Archive, Caller, make_archive


@pytest.fixture
def archive(served: tuple[Node, str]) -> Archive:
    return make_archive(served)


def _ids(table: Table, column: str = "product_id") -> set[int]:
    return {int(v) for v in table[column]}


def _check_tap(archive: Archive, caller: Caller, expected: set[int]) -> None:
    products = _ids(archive.tap(caller, "SELECT product_id FROM corot.products"))
    assert products == expected, f"{caller.name}: corot.products"
    obscore = _ids(archive.tap(caller, "SELECT product_id FROM ivoa.obscore"))
    assert obscore == expected, f"{caller.name}: ivoa.obscore"
    counted = archive.tap(caller, "SELECT COUNT(*) AS n FROM corot.products")
    assert int(counted["n"][0]) == len(expected), f"{caller.name}: count"
    # A star's products through a join from the public star table: no more than allowed.
    joined = _ids(
        archive.tap(
            caller,
            "SELECT p.product_id FROM corot.stars AS s JOIN corot.products AS p"
            " ON p.corotid = s.corotid",
        )
    )
    assert joined == expected, f"{caller.name}: join with stars"


def _check_async(archive: Archive, caller: Caller, expected: set[int]) -> None:
    """The same query as an async job of the caller's (run by the worker, as its owner)."""
    jobs = archive.base + "/tap/async"
    resp = caller.session.post(
        jobs,
        data={
            "LANG": "ADQL",
            "QUERY": "SELECT product_id FROM ivoa.obscore",
            "MAXREC": "100000",
            "PHASE": "RUN",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert resp.status_code == 303, resp.text[:300]
    job = resp.headers["Location"]
    for _ in range(20):
        phase = caller.session.get(job + "/phase", timeout=30).text
        if phase not in ("QUEUED", "EXECUTING", "PENDING"):
            break
        caller.session.get(job, params={"WAIT": "10", "PHASE": phase}, timeout=30)
    assert phase == "COMPLETED", f"{caller.name}: async job {phase}"
    result = caller.session.get(job + "/results/result", timeout=30)
    assert result.status_code == 200
    table = parse_single_table(io.BytesIO(result.content)).to_table()
    assert _ids(table) == expected, f"{caller.name}: async"


def _check_upload(archive: Archive, caller: Caller, expected: set[int], every: list[int]) -> None:
    upload = Table({"pid": every})
    buffer = io.BytesIO()
    upload.write(buffer, format="votable")
    table = _upload_query(archive, caller, buffer.getvalue())
    assert _ids(table, "pid") == expected, f"{caller.name}: upload join"


def _upload_query(archive: Archive, caller: Caller, votable: bytes) -> Table:
    resp = caller.session.post(
        archive.base + "/tap/sync",
        data={
            "REQUEST": "doQuery",
            "LANG": "ADQL",
            "MAXREC": "100000",
            "UPLOAD": "ids,param:ids",
            "QUERY": "SELECT u.pid FROM TAP_UPLOAD.ids AS u"
            " JOIN corot.products AS p ON p.product_id = u.pid",
        },
        files={"ids": ("ids.xml", votable)},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text[:500]
    return parse_single_table(io.BytesIO(resp.content)).to_table()


def _check_files(archive: Archive, caller: Caller, expected: set[int], every: list[int]) -> None:
    by_id = {int(p["id"]): str(p["sha256"]).strip() for p in archive.products()}  # type: ignore[call-overload]
    hidden = sorted(set(every) - expected)
    shown = sorted(expected)
    status = 401 if caller.scheme == "none" else 403
    nowhere = max(every) + 1000
    missing = caller.session.get(f"{archive.base}/products/{nowhere}.fits", timeout=30)
    assert missing.status_code == status
    for pid in shown[:2] + shown[-1:]:
        resp = caller.session.get(f"{archive.base}/products/{pid}.fits", timeout=30)
        assert resp.status_code == 200, f"{caller.name}: product {pid}"
        assert hashlib.sha256(resp.content).hexdigest() == by_id[pid]
    for pid in hidden[:2] + hidden[-1:]:
        resp = caller.session.get(f"{archive.base}/products/{pid}.fits", timeout=30)
        assert resp.status_code == status, f"{caller.name}: product {pid} should be refused"
        # The same answer as for a product that does not exist, but for the number.
        assert resp.text.replace(str(pid), "N") == missing.text.replace(str(nowhere), "N")
        assert resp.headers["Content-Type"] == missing.headers["Content-Type"]
        if status == 401:
            challenges = resp.raw.headers.getlist("WWW-Authenticate")
            assert {c.split()[0] for c in challenges} == {"Basic", "Bearer", "ivoa_cookie"}


def _check_ssa(archive: Archive, caller: Caller, expected: set[int]) -> None:
    resp = caller.session.get(
        archive.base + "/ssa", params={"REQUEST": "queryData", "MAXREC": "100000"}, timeout=60
    )
    assert resp.status_code == 200, resp.text[:300]
    table = parse_single_table(io.BytesIO(resp.content)).to_table()
    assert _ids(table) == expected, f"{caller.name}: SSA"


def _check_datalink(archive: Archive, caller: Caller, expected: set[int], every: list[int]) -> None:
    """{links} for every product: links exactly for the visible ones (and every link they
    hold leads to a visible product), the same fault for the others; cut-outs and previews
    like downloads."""
    linked: set[int] = set()
    targets: set[int] = set()
    for start in range(0, len(every), 1000):
        ids = [str(i) for i in every[start : start + 1000]]
        resp = caller.session.post(archive.base + "/datalink/links", data={"ID": ids}, timeout=120)
        assert resp.status_code == 200, resp.text[:300]
        table = parse_single_table(io.BytesIO(resp.content)).to_table()
        for row in table:
            if row["error_message"]:
                assert str(row["error_message"]).startswith("NotFoundFault: ")
                continue
            linked.add(int(row["ID"]))
            url = str(row["access_url"])
            if "/products/" in url:
                targets.add(int(url.split("/products/")[1].split(".")[0].split("/")[0]))
    assert linked == expected, f"{caller.name}: DataLink"
    assert targets <= expected, f"{caller.name}: links to products it may not see"
    status = 401 if caller.scheme == "none" else 403
    shown, hidden = sorted(expected), sorted(set(every) - expected)
    for pid, wanted in [(p, 200) for p in shown[:1] + shown[-1:]] + [
        (p, status) for p in hidden[:1] + hidden[-1:]
    ]:
        cut = caller.session.get(
            archive.base + "/datalink/soda", params={"ID": str(pid)}, timeout=60
        )
        assert cut.status_code == wanted, f"{caller.name}: SODA {pid}"
        preview = caller.session.get(f"{archive.base}/products/{pid}/preview.png", timeout=60)
        assert preview.status_code == wanted, f"{caller.name}: preview {pid}"


def _check_landing(archive: Archive, caller: Caller, expected: set[int]) -> None:
    resp = caller.session.get(archive.base + "/", headers={"Accept": "application/json"})
    assert resp.status_code == 200
    assert resp.json()["totals"]["products"] == len(expected), f"{caller.name}: landing"


def _check_all(archive: Archive) -> dict[str, set[int]]:
    every = sorted(int(p["id"]) for p in archive.products())  # type: ignore[call-overload]
    seen = {}
    for caller in archive.callers.values():
        expected = archive.expected(caller)
        _check_tap(archive, caller, expected)
        _check_async(archive, caller, expected)
        _check_upload(archive, caller, expected, every)
        _check_files(archive, caller, expected, every)
        _check_ssa(archive, caller, expected)
        _check_datalink(archive, caller, expected, every)
        _check_landing(archive, caller, expected)
        seen[caller.name] = expected
    return seen


def test_every_caller_sees_exactly_its_products_before_and_after_release(
    archive: Archive,
) -> None:
    seen = _check_all(archive)
    every = {int(p["id"]) for p in archive.products()}  # type: ignore[call-overload]
    # The matrix is only worth something if the roles differ: each sees something the
    # anonymous caller does not, and only the administrator sees everything.
    assert seen["admin"] == every
    for name in ("gi_other", "gi_run", "coi", "n1"):
        assert seen[name] > seen["anonymous"], name
        assert seen[name] != every, name
    assert seen["gi_run"] != seen["gi_other"]

    # The GI run's release date passes (set to today): its N2 products become public without
    # anything else changing, except the product held back by its own date... in another
    # run; and the other run stays proprietary.
    before = seen["anonymous"]
    archive.node.rows(
        "UPDATE archive.runs SET release_date = %s WHERE code = %s RETURNING 1",
        TODAY,
        archive.gi_run,
    )
    after = _check_all(archive)
    gained = after["anonymous"] - before
    gi_n2 = {
        int(p["id"])  # type: ignore[call-overload]
        for p in archive.products()
        if p["run"] == archive.gi_run and p["level"] == "N2"
    }
    assert gained and gained <= gi_n2
    assert after["gi_run"] == after["anonymous"] | seen["gi_run"]


def test_pyvo_with_credentials_sees_proprietary_rows(archive: Archive) -> None:
    coi = archive.callers["coi"]
    expected_coi = archive.expected(coi)
    expected_anon = archive.expected(archive.callers["anonymous"])
    url = archive.base + "/tap"
    query = "SELECT product_id FROM corot.products"

    auth = pyvo.auth.AuthSession()
    auth.credentials.set_password("coi", PASSWORD)
    service = pyvo.dal.TAPService(url, session=auth)
    auth.update_from_capabilities(service.capabilities)
    assert "ivo://ivoa.net/sso#BasicAA" in auth._auth_urls.allowed_auth_methods(url + "/sync")
    assert _ids(service.run_sync(query, maxrec=100000).to_table()) == expected_coi
    job_result = service.run_async(query, maxrec=100000)
    assert _ids(job_result.to_table()) == expected_coi

    anonymous = pyvo.dal.TAPService(url)
    assert _ids(anonymous.run_sync(query, maxrec=100000).to_table()) == expected_anon
    assert _ids(anonymous.run_async(query, maxrec=100000).to_table()) == expected_anon
    assert expected_coi - expected_anon


def test_async_jobs_belong_to_their_owner(archive: Archive) -> None:
    owner, other = archive.callers["n1"], archive.callers["gi_other"]
    anonymous = archive.callers["anonymous"]
    jobs = archive.base + "/tap/async"
    resp = owner.session.post(
        jobs,
        data={"LANG": "ADQL", "QUERY": "SELECT product_id FROM corot.products"},
        allow_redirects=False,
        timeout=30,
    )
    assert resp.status_code == 303
    job = resp.headers["Location"]
    assert owner.session.get(job + "/owner", timeout=30).text == "n1"
    for intruder in (other, anonymous):
        assert intruder.session.get(job, timeout=30).status_code == 403
        assert intruder.session.get(job + "/parameters", timeout=30).status_code == 403
        assert intruder.session.post(job + "/phase", data={"PHASE": "RUN"}).status_code == 403
        assert intruder.session.post(job + "/phase", data={"PHASE": "ABORT"}).status_code == 403
        assert intruder.session.delete(job, timeout=30).status_code == 403
        listing = intruder.session.get(jobs, timeout=30).text
        assert job.rsplit("/", 1)[1] not in listing
    # Untouched by the others: still PENDING, and the owner's to run.
    assert owner.session.get(job + "/phase", timeout=30).text == "PENDING"
    assert job.rsplit("/", 1)[1] in owner.session.get(jobs, timeout=30).text
    assert owner.session.delete(job, allow_redirects=False, timeout=30).status_code == 303


def test_latest_is_the_newest_version_the_caller_may_see(archive: Archive) -> None:
    """A product's own release date holds back the newest version of a series: for those who
    cannot see it, the version before is the latest (and nothing hints at the newer one)."""
    node = archive.node
    series = node.rows(
        "SELECT array_agg(product_id ORDER BY version_rank, ingested_at, product_id)"
        " FROM archive.products p JOIN archive.runs r USING (run_id)"
        " WHERE p.level = 'N2' AND r.code <> ALL(%s)"
        " GROUP BY star_id, run_id, level, series HAVING count(*) > 1 LIMIT 1",
        [archive.gi_run, archive.other_run],
    )
    assert series, "the sample has series with several versions in the released run"
    *older, newest = [int(i) for i in series[0][0]]  # type: ignore[union-attr]
    node.rows(
        "UPDATE archive.products SET release_date = %s WHERE product_id = %s RETURNING 1",
        LATER,
        newest,
    )
    query = (
        "SELECT product_id, latest FROM corot.products WHERE product_id IN "
        f"({', '.join(str(i) for i in [*older, newest])})"
    )
    anonymous = archive.tap(archive.callers["anonymous"], query)
    assert {int(r["product_id"]): int(r["latest"]) for r in anonymous} == {
        **dict.fromkeys(older[:-1], 0),
        older[-1]: 1,
    }
    admin = archive.tap(archive.callers["admin"], query)
    assert {int(r["product_id"]): int(r["latest"]) for r in admin} == {
        **dict.fromkeys(older, 0),
        newest: 1,
    }
