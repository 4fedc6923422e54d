"""TAP async over HTTP: pyvo's async jobs against the real worker, and STILTS taplint."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
import pyvo
import requests
from astropy.io.votable import parse
from conftest import Node


def test_pyvo_async_job_runs_and_is_deleted(served: tuple[Node, str]) -> None:
    node, base = served
    service = pyvo.dal.TAPService(base + "/tap")
    job = service.submit_job("SELECT corotid, run_code FROM corot.products WHERE latest = 1")
    job.run()
    job.wait(timeout=60)
    assert job.phase == "COMPLETED"
    table = job.fetch_result().to_table()
    assert len(table) == node.public_scalar("SELECT count(*) FROM archive.products WHERE latest")
    url = job.url
    job.delete()
    assert requests.get(url, timeout=10).status_code == 404


def test_async_error_is_reported_in_the_job(served: tuple[Node, str]) -> None:
    _, base = served
    created = requests.post(
        base + "/tap/async",
        data={"LANG": "ADQL", "QUERY": "SELECT nothing FROM corot.stars", "PHASE": "RUN"},
        timeout=10,
        allow_redirects=False,
    )
    assert created.status_code == 303
    job_url = created.headers["Location"]
    phase = requests.get(job_url + "/phase", params={"WAIT": "20"}, timeout=40)
    done = requests.get(job_url, params={"WAIT": "20"}, timeout=40)
    assert "ERROR" in done.text, (phase.text, done.text)
    error = requests.get(job_url + "/error", timeout=10)
    doc = parse(io.BytesIO(error.content), verify="exception")
    status = [i for i in doc.resources[0].infos if i.name == "QUERY_STATUS"]
    assert status[-1].value == "ERROR" and "nothing" in str(status[-1].content)


# What taplint still reports, each with its reason; anything else fails the test.
KNOWN = {
    "E-CAP-KEYX": "features-adql-conditional (ADQL 2.1) is newer than Debian's taplint 3.4.7",
}


@pytest.mark.skipif(shutil.which("stilts") is None, reason="Debian's stilts is not installed")
def test_taplint_reports_no_errors(served: tuple[Node, str]) -> None:
    _, base = served
    proc = subprocess.run(
        [
            "stilts",
            "taplint",
            f"tapurl={base}/tap",
            "report=E",
            "maxrepeat=2",
            "stages=TMV TME TMS TMC CPV CAP AVV QGE QPO QAS UWS MDQ OBS UPL EXA",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = re.findall(r"^(E-[A-Z]+-[A-Z0-9]+)-\d+ (.*)$", proc.stdout, re.MULTILINE)
    unexpected = [f"{code} {text}" for code, text in errors if code not in KNOWN]
    assert not unexpected, "\n".join(unexpected)
    assert "Totals:" in proc.stdout, proc.stdout[-2000:]
