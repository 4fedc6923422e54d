"""UWS 1.1 XML documents: job, job list, results, parameters (schema UWS.xsd, namespace
``http://www.ivoa.net/xml/UWS/v1.0``, ``version="1.1"`` on the job and the job list).

Built with lxml, which escapes for us; element order follows the schema's sequences.
Serialisers only: must not import Flask or psycopg, and never touch the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from lxml import etree

from vo_node.uws.model import RESULT_ID, Job
from vo_node.uws.phases import Phase

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
UWS_VERSION = "1.1"
_NSMAP = {"uws": UWS_NS, "xlink": XLINK_NS, "xsi": XSI_NS}

# Characters XML 1.0 cannot carry at all (most C0 controls): a parameter value holding one
# would make the whole job document unwritable, so it is shown as U+FFFD instead.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def timestamp(moment: datetime) -> str:
    """An xs:dateTime in UTC with milliseconds, as UWS clients (pyvo, taplint) read it."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _q(name: str) -> str:
    return f"{{{UWS_NS}}}{name}"


def _child(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _q(name))
    if text is not None:
        element.text = _NOT_XML.sub("\ufffd", text)
    return element


def _nillable(parent: etree._Element, name: str, text: str | None) -> etree._Element:
    """An element that says "no value" with xsi:nil rather than by being absent."""
    element = _child(parent, name, text)
    if text is None:
        element.set(f"{{{XSI_NS}}}nil", "true")
    return element


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else timestamp(moment)


def _serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _owner(job: Job) -> str | None:
    # UWS: "if there was no authenticated job creator then this should be set to NULL".
    return job.owner or None


def _link(element: etree._Element, href: str) -> None:
    element.set(f"{{{XLINK_NS}}}type", "simple")
    element.set(f"{{{XLINK_NS}}}href", href)


def _fill_parameters(element: etree._Element, job: Job) -> None:
    # Names were upper-cased at the edge (DALI names are case-insensitive); lower case is how
    # TAP services conventionally show them, and what pyvo's ``AsyncTAPJob.query`` looks for
    # case-insensitively either way. A repeated parameter appears once per value, in the order
    # given; names in alphabetical order (jsonb keeps no order of its own).
    for name, values in sorted(job.parameters.items()):
        for value in values:
            _child(element, "parameter", value).set("id", name.lower())


def _fill_results(element: etree._Element, job: Job, job_url: str) -> None:
    if not job.has_result:
        return
    result = _child(element, "result")
    result.set("id", RESULT_ID)
    _link(result, f"{job_url}/results/{RESULT_ID}")
    if job.result_size is not None:
        result.set("size", str(job.result_size))
    if job.result_mime:
        result.set("mime-type", job.result_mime)


def job_document(job: Job, job_url: str) -> bytes:
    """The job resource ``/{jobs}/{job-id}`` (UWS 1.1 section 2.1.2, type JobSummary)."""
    root = etree.Element(_q("job"), nsmap=_NSMAP)
    root.set("version", UWS_VERSION)
    _child(root, "jobId", job.job_id)
    if job.run_id is not None:
        _child(root, "runId", job.run_id)
    _nillable(root, "ownerId", _owner(job))
    _child(root, "phase", job.phase.value)
    _nillable(root, "quote", _time(job.quote))
    _child(root, "creationTime", timestamp(job.creation_time))
    _nillable(root, "startTime", _time(job.start_time))
    _nillable(root, "endTime", _time(job.end_time))
    _child(root, "executionDuration", str(job.execution_duration))
    _nillable(root, "destruction", timestamp(job.destruction))
    _fill_parameters(_child(root, "parameters"), job)
    _fill_results(_child(root, "results"), job, job_url)
    if job.phase is Phase.ERROR:
        summary = _child(root, "errorSummary")
        # "fatal": running the job again as it is would fail again; the detail is at /error.
        summary.set("type", "fatal")
        summary.set("hasDetail", "true")
        _child(summary, "message", job.error_message or "the job failed")
    return _serialise(root)


def job_list_document(jobs: Iterable[Job], list_url: str) -> bytes:
    """The job list ``/{jobs}``: one jobref per job, with the 1.1 additions (runId, ownerId,
    creationTime) so that a client need not fetch every job."""
    root = etree.Element(_q("jobs"), nsmap=_NSMAP)
    root.set("version", UWS_VERSION)
    for job in jobs:
        ref = _child(root, "jobref")
        ref.set("id", job.job_id)
        _link(ref, f"{list_url}/{job.job_id}")
        _child(ref, "phase", job.phase.value)
        if job.run_id is not None:
            _child(ref, "runId", job.run_id)
        _nillable(ref, "ownerId", _owner(job))
        _child(ref, "creationTime", timestamp(job.creation_time))
    return _serialise(root)


def results_document(job: Job, job_url: str) -> bytes:
    """``/{jobs}/{job-id}/results``: empty until the job is COMPLETED, then the one result."""
    root = etree.Element(_q("results"), nsmap=_NSMAP)
    _fill_results(root, job, job_url)
    return _serialise(root)


def parameters_document(job: Job) -> bytes:
    """``/{jobs}/{job-id}/parameters``."""
    root = etree.Element(_q("parameters"), nsmap=_NSMAP)
    _fill_parameters(root, job)
    return _serialise(root)
