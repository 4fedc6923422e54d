-- The distribution policy (issue 4), enforced by PostgreSQL for every reader that is not the
-- schema's owner: user queries (vo_query) and the web tier (vo_service) alike.
--
-- Who may see a product:
--   * administrators: everything;
--   * N2 and N3 products: everyone once released (the product's own release date, else its
--     run's; none = not released), and before that the Guest Investigators of the run;
--   * the members of the product's access group: N1 -> 'n1-community', N2 -> 'coi'
--     (the Co-Investigators see every N2 product from the start).
-- Stars and runs are public metadata.
--
-- The caller is named by a ticket that the service sets with SET LOCAL vo_node.caller inside
-- the query's transaction: 'name:expires:pid:mac', where mac = sha256(key || sha256(key ||
-- msg)) over 'name:expires:pid' with a key only the service and these functions can read,
-- and pid the backend of the connection (vo_node/auth/tickets.py). A query that found a way
-- to run SET would still have to forge the mac, and a ticket read from another session's
-- query text works on that session's backend only; an unset, expired, foreign or forged
-- ticket is the anonymous caller.

CREATE SCHEMA accounts;

CREATE TABLE accounts.users (
    user_name      text PRIMARY KEY CHECK (user_name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    full_name      text NOT NULL DEFAULT '',
    email          text NOT NULL DEFAULT '',
    password_hash  text,                          -- argon2id; NULL = tokens only
    created        timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz,                   -- a disabled user is anonymous everywhere
    -- Login cookies issued before this are void (log out; a new password voids them too).
    sessions_after timestamptz NOT NULL DEFAULT '-infinity'
);

-- 'admin': sees everything; 'members': sees the products whose access_group it is;
-- 'gi': Guest Investigators, see the unreleased N2/N3 products of their runs.
CREATE TABLE accounts.groups (
    group_name     text PRIMARY KEY CHECK (group_name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    kind           text NOT NULL CHECK (kind IN ('admin', 'members', 'gi')),
    description    text NOT NULL DEFAULT '',
    created        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts.group_runs (
    group_name     text NOT NULL REFERENCES accounts.groups ON DELETE CASCADE,
    run_id         integer NOT NULL REFERENCES archive.runs ON DELETE CASCADE,
    PRIMARY KEY (group_name, run_id)
);

CREATE TABLE accounts.memberships (
    user_name      text NOT NULL REFERENCES accounts.users ON DELETE CASCADE,
    group_name     text NOT NULL REFERENCES accounts.groups ON DELETE CASCADE,
    added          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_name, group_name)
);

-- API tokens: 'vont_<token_id>_<secret>'; only the secret's sha256 is kept (a token has 256
-- bits of entropy, so a slow hash adds nothing).
CREATE TABLE accounts.tokens (
    token_id       text PRIMARY KEY,
    user_name      text NOT NULL REFERENCES accounts.users ON DELETE CASCADE,
    secret_sha256  text NOT NULL,
    label          text NOT NULL DEFAULT '',
    created        timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    revoked_at     timestamptz
);
CREATE INDEX tokens_user_idx ON accounts.tokens (user_name);

-- The key of the caller tickets: one row, made here from the server's strong random source.
CREATE TABLE accounts.caller_key (
    one            boolean PRIMARY KEY DEFAULT true CHECK (one),
    key            bytea NOT NULL
);
INSERT INTO accounts.caller_key (key)
SELECT sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text
                         || gen_random_uuid()::text || clock_timestamp()::text, 'UTF8'));

INSERT INTO accounts.groups (group_name, kind, description) VALUES
    ('admin', 'admin', 'Archive administrators: every product'),
    ('n1-community', 'members', 'The N1 community: every N1 product'),
    ('coi', 'members', 'Co-Investigators: every N2 product, before its release date too');

-- The access groups the ingest wrote before the groups existed.
UPDATE archive.products SET access_group = 'n1-community' WHERE access_group = 'corot-n1';
UPDATE archive.products SET access_group = 'coi' WHERE access_group = 'corot-n2';

-- The caller's user name, or NULL (anonymous) for a missing, expired, foreign or forged
-- ticket, or a disabled user. SECURITY DEFINER: the key is not the reader's to see.
-- PL/pgSQL rather than SQL: these run once per query (below), and PL/pgSQL keeps their plans
-- for the session where a SQL function with SET would be planned again on every call; the
-- anonymous caller costs no query at all.
CREATE FUNCTION archive.caller() RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    p text[] := string_to_array(current_setting('vo_node.caller', true), ':');
    secret bytea;
    found text;
BEGIN
    IF cardinality(p) IS DISTINCT FROM 4 OR p[2] !~ '^[0-9]{1,12}$'
       OR p[2]::bigint < extract(epoch FROM now())
       OR p[3] IS DISTINCT FROM pg_backend_pid()::text THEN
        RETURN NULL;
    END IF;
    SELECT k.key INTO secret FROM accounts.caller_key k;
    IF p[4] IS DISTINCT FROM encode(sha256(secret || sha256(secret
            || convert_to(p[1] || ':' || p[2] || ':' || p[3], 'UTF8'))), 'hex') THEN
        RETURN NULL;
    END IF;
    SELECT u.user_name INTO found FROM accounts.users u
     WHERE u.user_name = p[1] AND u.disabled_at IS NULL;
    RETURN found;
END $$;

-- The policy reads the caller's rights through these, each wrapped in a scalar subquery so
-- that PostgreSQL evaluates it once per query (an InitPlan), not once per row.
CREATE FUNCTION archive.caller_groups() RETURNS text[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    who text := archive.caller();
BEGIN
    IF who IS NULL THEN
        RETURN '{}';
    END IF;
    RETURN (SELECT coalesce(array_agg(m.group_name ORDER BY m.group_name), '{}')
              FROM accounts.memberships m WHERE m.user_name = who);
END $$;

CREATE FUNCTION archive.caller_is_admin() RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    who text := archive.caller();
BEGIN
    IF who IS NULL THEN
        RETURN false;
    END IF;
    RETURN EXISTS (
        SELECT 1 FROM accounts.memberships m JOIN accounts.groups g USING (group_name)
         WHERE m.user_name = who AND g.kind = 'admin');
END $$;

CREATE FUNCTION archive.caller_runs() RETURNS integer[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    who text := archive.caller();
BEGIN
    IF who IS NULL THEN
        RETURN '{}';
    END IF;
    RETURN (SELECT coalesce(array_agg(DISTINCT gr.run_id), '{}')
              FROM accounts.memberships m
              JOIN accounts.groups g USING (group_name)
              JOIN accounts.group_runs gr USING (group_name)
             WHERE m.user_name = who AND g.kind = 'gi');
END $$;

-- Each product's effective release date (its own, else its run's), kept by triggers so
-- that the policy compares one date per row: measured on a million rows, looking the run's
-- date up per row (an array of released runs) cost a third more than the query itself.
ALTER TABLE archive.products ADD COLUMN released_on date;
UPDATE archive.products p SET released_on = coalesce(p.release_date, r.release_date)
  FROM archive.runs r WHERE r.run_id = p.run_id;

CREATE FUNCTION archive.product_released_on() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    NEW.released_on := coalesce(NEW.release_date,
        (SELECT r.release_date FROM archive.runs r WHERE r.run_id = NEW.run_id));
    RETURN NEW;
END $$;
CREATE TRIGGER products_released_on BEFORE INSERT OR UPDATE OF release_date, run_id
    ON archive.products FOR EACH ROW EXECUTE FUNCTION archive.product_released_on();

CREATE FUNCTION archive.run_released_on() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    UPDATE archive.products p SET released_on = NEW.release_date
     WHERE p.run_id = NEW.run_id AND p.release_date IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER runs_released_on AFTER UPDATE OF release_date ON archive.runs
    FOR EACH ROW WHEN (OLD.release_date IS DISTINCT FROM NEW.release_date)
    EXECUTE FUNCTION archive.run_released_on();

ALTER TABLE archive.products ENABLE ROW LEVEL SECURITY;
-- The owner (vo_admin: migrations, ingest, audit) is not subject to policies; the readers are.
-- The commonest case first and cheapest: a released N2 product. A run's N2 becomes public on
-- its release date with nobody acting: current_date passes released_on.
CREATE POLICY products_visible ON archive.products FOR SELECT TO vo_query, vo_service USING (
    (level IN ('N2', 'N3') AND released_on <= current_date)
    OR (SELECT archive.caller_is_admin())
    OR access_group = ANY ((SELECT archive.caller_groups())::text[])
    OR (level IN ('N2', 'N3') AND run_id = ANY ((SELECT archive.caller_runs())::integer[]))
);

-- The views over products check rights as the reader, not as their owner (PostgreSQL 15), so
-- the policy applies through them.
-- corot.products as in 0004, but for `latest`: the newest version the *reader* may see. The
-- stored flag marks the newest in the archive; when a product's own release date holds back
-- the newest version of a series, an older one is the latest for a reader who cannot see it
-- (and the held-back version must not show through a latest = 0). Only rows whose stored flag
-- is false (older versions, a minority) look for a newer visible version, with an index probe.
CREATE OR REPLACE VIEW corot.products WITH (security_invoker = true) AS
SELECT p.product_id, s.source_id AS corotid, r.code AS run_code,
       CASE p.collection_id WHEN 'corot-astero' THEN 'astero' ELSE 'exo' END AS channel,
       p.level AS proc_level, p.product_type, p.version,
       (CASE WHEN p.latest THEN 1
             WHEN EXISTS (
                 SELECT 1 FROM archive.products q
                  WHERE q.star_id = p.star_id AND q.run_id = p.run_id AND q.level = p.level
                    AND q.series = p.series
                    AND (q.version_rank, q.ingested_at, q.product_id)
                        > (p.version_rank, p.ingested_at, p.product_id)) THEN 0
             ELSE 1 END)::smallint AS latest,
       s.ra, s.dec, s.pos, s.mag_v, s.mag_r,
       p.t_min, p.t_max, p.time_scale, p.time_refpos, p.n_points, p.n_good,
       p.sampling[1] AS sampling_min, p.sampling[cardinality(p.sampling)] AS sampling_max,
       array_to_string(p.bands, ' ') AS bands, p.file_name,
       (SELECT archive.base_url()) || '/products/' || p.product_id || '.fits' AS access_url,
       p.file_size, p.sha256::text AS sha256,
       coalesce(p.release_date, r.release_date) AS release_date, p.ingested_at
  FROM archive.products p
  JOIN archive.stars s USING (star_id)
  JOIN archive.runs r ON r.run_id = p.run_id
 -- Under row-level security the planner uses column statistics only with leakproof
 -- operators: LIKE is not, and its blind guess (0.5% of the rows) made it join a million rows
 -- by nested loops. Equality is, and CoRoT has these two collections.
 WHERE p.collection_id IN ('corot-exo', 'corot-astero');
ALTER VIEW ivoa.obscore SET (security_invoker = true);
ALTER VIEW archive.products_latest SET (security_invoker = true);

-- The reader then needs the columns those views read: these, not the tables.
GRANT USAGE ON SCHEMA archive TO vo_query;
GRANT SELECT (product_id, collection_id, run_id, star_id, level, product_type, version, latest,
              series, version_rank,
              t_min, t_max, time_scale, time_refpos, n_points, n_good, sampling, bands,
              file_name, file_size, sha256, release_date, ingested_at, access_group,
              released_on)
    ON archive.products TO vo_query;
GRANT SELECT (star_id, source_id, name, ra, dec, pos, mag_v, mag_r) ON archive.stars TO vo_query;
GRANT SELECT (run_id, code, release_date) ON archive.runs TO vo_query;

-- Functions: the policy's are called by readers; nobody else gets EXECUTE.
REVOKE ALL ON FUNCTION archive.caller(), archive.caller_groups(), archive.caller_is_admin(),
    archive.caller_runs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION archive.caller(), archive.caller_groups(), archive.caller_is_admin(),
    archive.caller_runs() TO vo_query, vo_service;

-- The web tier verifies credentials and signs tickets; it changes nothing in the accounts but
-- the end of a user's login sessions (the `vo-node users` command does the rest, as owner).
GRANT USAGE ON SCHEMA accounts TO vo_service;
GRANT SELECT ON accounts.users, accounts.groups, accounts.group_runs, accounts.memberships,
    accounts.tokens, accounts.caller_key TO vo_service;
GRANT UPDATE (sessions_after) ON accounts.users TO vo_service;  -- /logout
