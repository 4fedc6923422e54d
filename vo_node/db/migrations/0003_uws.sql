-- UWS 1.1 jobs of the async services (TAP /async), DESIGN.md "async jobs": one row per job,
-- claimed by worker processes with FOR UPDATE SKIP LOCKED; no broker. The web tier and the
-- workers both use the service role; only vo_node/uws/store.py holds SQL for this table.
-- User queries (role vo_query) get no access: a job's parameters belong to its owner.

CREATE SCHEMA uws;

-- Keys of the session advisory lock a worker holds while it runs a job, so that a job whose
-- worker died can be told from one still running (store.reap_orphans). Started far above the
-- small constant keys of vo_node/db/locks.py and migrate.py so that they never meet.
CREATE SEQUENCE uws.job_lock_keys START WITH 1099511627776;

CREATE TABLE uws.jobs (
    job_id             text PRIMARY KEY CHECK (job_id ~ '^[A-Za-z0-9_-]{8,64}$'),
    service            text NOT NULL,                    -- 'tap', ...
    owner              text NOT NULL DEFAULT '',         -- '' = anonymous
    -- The phases of vo_node/uws/phases.py (tests/test_uws_store.py keeps the two equal).
    phase              text NOT NULL DEFAULT 'PENDING' CHECK (phase IN (
                           'PENDING', 'QUEUED', 'EXECUTING', 'COMPLETED', 'ERROR', 'ABORTED',
                           'UNKNOWN', 'HELD', 'SUSPENDED', 'ARCHIVED')),
    run_id             text,
    parameters         jsonb NOT NULL DEFAULT '{}',      -- upper-cased DALI name -> [values]
    uploads            jsonb NOT NULL DEFAULT '{}',      -- form field -> file in the job's dir
    -- Kept to the millisecond, as documents show it: AFTER=<a creationTime seen> then leaves
    -- that job out, as a client paging through the list expects.
    creation_time      timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    queued_time        timestamptz,                      -- claim order: first queued, first run
    start_time         timestamptz,
    end_time           timestamptz,
    destruction        timestamptz NOT NULL,
    execution_duration integer NOT NULL CHECK (execution_duration >= 0),  -- seconds
    quote              timestamptz,
    error_message      text,
    result_path        text,
    result_mime        text,
    result_size        bigint,
    worker_host        text,
    worker_pid         integer,
    -- The database session running the job's query, for ABORT (pg_cancel_backend); its start
    -- time guards against cancelling a later session that happens to reuse the pid.
    backend_pid        integer,
    backend_start      timestamptz,
    lock_key           bigint NOT NULL UNIQUE DEFAULT nextval('uws.job_lock_keys')
);

-- The job list: one service, one owner, newest first (LAST, AFTER); PHASE filters on top.
CREATE INDEX jobs_list_idx ON uws.jobs (service, owner, creation_time DESC);
-- Claiming: the queue is the (small) set of QUEUED rows.
CREATE INDEX jobs_queue_idx ON uws.jobs (service, queued_time) WHERE phase = 'QUEUED';
-- Finding orphans among running jobs.
CREATE INDEX jobs_executing_idx ON uws.jobs (job_id) WHERE phase = 'EXECUTING';
-- The destruction sweep.
CREATE INDEX jobs_destruction_idx ON uws.jobs (destruction);

-- Idle workers LISTEN on uws_queued, so a queued job starts at once rather than at the next
-- poll; whoever queues the job (web tier, a requeue) need not remember to notify.
CREATE FUNCTION uws.notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('uws_queued', NEW.service);
    RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify_queued AFTER INSERT OR UPDATE OF phase ON uws.jobs
    FOR EACH ROW WHEN (NEW.phase = 'QUEUED') EXECUTE FUNCTION uws.notify_queued();

GRANT USAGE ON SCHEMA uws TO vo_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON uws.jobs TO vo_service;
GRANT USAGE ON SEQUENCE uws.job_lock_keys TO vo_service;
