"""The TAP executor of async (UWS) jobs: the sync execution path, written to a file.

TAP 1.1 section 2.3.2: async reuses the query path; the result is the job's single result,
``result``. The worker gives the job's parameters, limits and output directory.
"""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from vo_node.auth import store
from vo_node.auth.tickets import Tickets
from vo_node.db.node import NodeDatabase
from vo_node.query import QueryRunner
from vo_node.settings import Settings
from vo_node.tap.service import TapRequest, execute
from vo_node.uws.model import Executor, JobResult, JobRun


def tap_executor(settings: Settings) -> Executor:
    """An executor with its own read-only pool, for the worker process that runs it."""
    db = NodeDatabase.from_settings(settings)
    # The job runs as its owner: the worker signs the owner's tickets like the web tier.
    with db.service() as conn:
        tickets = Tickets(store.caller_key(conn))
    pool = ConnectionPool(
        db.query_conninfo(),
        min_size=1,
        max_size=2,
        open=True,
        name="tap-jobs",
    )
    runner = QueryRunner(pool, tickets=tickets)

    def run(job: JobRun) -> JobResult:
        tap = TapRequest.parse(job.parameters, settings)
        uploads = tap.read_uploads(job.uploads, job.output_dir, settings) if tap.uploads else []
        chunks = execute(
            tap,
            runner,
            job.timeout,
            identity=job.owner,
            on_backend=job.on_backend,
            uploads=uploads,
            links_url=f"{settings.public_url}/datalink/links",
        )
        path = job.output_dir / f"result.{tap.format.extension}"
        with path.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        return JobResult(path, tap.format.content_type)

    return run
