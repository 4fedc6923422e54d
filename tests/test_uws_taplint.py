"""STILTS taplint's UWS stage against the node's app with the UWS blueprint and a worker: the
validator the VO community runs on TAP services must find no error or warning."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading

import pytest
from conftest import Node
from werkzeug.serving import make_server

from vo_node.app import create_app
from vo_node.uws.model import JobResult, JobRun
from vo_node.uws.views import uws_blueprint
from vo_node.uws.worker import run_worker

# A fixed one-row result: this test is about the job's life, not the query.
RESULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
 <RESOURCE type="results"><INFO name="QUERY_STATUS" value="OK"/>
  <TABLE><FIELD name="x" datatype="int"/><DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA>
  </TABLE></RESOURCE></VOTABLE>
"""


def _fixed_result(run: JobRun) -> JobResult:
    path = run.output_dir / "result.vot"
    path.write_bytes(RESULT)
    return JobResult(path, "application/x-votable+xml")


@pytest.mark.skipif(shutil.which("stilts") is None, reason="STILTS (taplint) is not installed")
def test_taplint_uws_stage(node: Node) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    # The capabilities name the service's URL: it must be the one this server listens on.
    settings = node.settings.model_copy(update={"port": port})
    node.db.migrate(settings.published_config())
    app = create_app(settings)
    if "uws_tap" not in app.blueprints:  # until app.py wires it
        app.register_blueprint(uws_blueprint("tap", "/tap/async"))
    server = make_server("127.0.0.1", port, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    stop = threading.Event()
    working = threading.Thread(
        target=run_worker,
        args=(settings, {"tap": _fixed_result}),
        kwargs={"stop": stop, "poll": 0.2},
        daemon=True,
    )
    working.start()
    try:
        report = subprocess.run(
            ["stilts", "taplint", f"tapurl=http://127.0.0.1:{port}/tap", "stages=UWS"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        ).stdout
    finally:
        stop.set()
        server.shutdown()
        working.join(30)
    assert "I-UWS-CJOB" in report, report  # it did create jobs
    assert "Errors: 0; Warnings: 0" in report and "Failures: 0" in report, report
