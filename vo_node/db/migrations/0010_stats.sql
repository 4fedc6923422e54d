-- Usage statistics (issue 7): one row per HTTP request that reached a service, written in
-- batches by each web worker (vo_node/stats/recorder.py), read by the operator's page and
-- `vo-node stats`.
--
-- No IP address is stored, anywhere. What stands for the client:
--   * country: looked up offline (geoip2fast) before the row is written; NULL when unknown
--     (loopback, private networks, addresses the database does not place);
--   * visitor: the first 16 hex digits of sha256(salt || address), where the salt is random,
--     made by the database for one UTC day and deleted when the day is over. Visits and
--     distinct visitors need "the same client again" within a day; the hash gives that and
--     no more. A plain or a fixed-salt hash of an IPv4 address is no protection (2^32
--     candidates are hashed in minutes), so the salt must not outlive its day: once it is
--     gone, not even the database's owner can tell which address a key was, and keys of two
--     days cannot be linked. The price: an anonymous client is a new visitor every day.
--     Logged-in users are counted by name instead (they asked to be known).

CREATE SCHEMA stats;

CREATE TABLE stats.accesses (
    access_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,          -- when the response started
    channel        text NOT NULL CHECK (channel IN
                       ('web', 'runs', 'tap', 'ssa', 'datalink', 'products', 'oai', 'feed')),
    status         smallint NOT NULL,             -- HTTP status of the response
    bytes          bigint NOT NULL CHECK (bytes >= 0),  -- body bytes actually sent
    products       integer NOT NULL DEFAULT 0 CHECK (products >= 0),
    runs           text[] NOT NULL DEFAULT '{}',  -- run codes of the products, e.g. {LRa01}
    collections    text[] NOT NULL DEFAULT '{}',  -- their channels, e.g. {exo,astero}
    -- The account's name, not a reference: usage stays counted after an account is deleted.
    user_name      text,                          -- NULL: anonymous
    country        char(2) CHECK (country ~ '^[A-Z]{2}$'),  -- ISO 3166 alpha-2; NULL: unknown
    visitor        char(16) NOT NULL CHECK (visitor ~ '^[0-9a-f]{16}$')
);
-- The reports group by UTC month and channel: with the figures they add up in the index,
-- the monthly table is read from the index alone.
CREATE INDEX accesses_month_idx ON stats.accesses
    ((date_trunc('month', at AT TIME ZONE 'UTC')), channel) INCLUDE (bytes, products, status);
-- Date ranges (--from/--until, the raw export) and the visits' per-visitor ordering.
CREATE INDEX accesses_at_idx ON stats.accesses (at);

-- The salt of the current UTC day (see above); only this function sees the table.
CREATE TABLE stats.visitor_salts (
    day            date PRIMARY KEY,
    salt           bytea NOT NULL
);

-- Today's salt (UTC), made on first use; the salts of earlier days are deleted on the way.
-- SECURITY DEFINER: the web tier gets the salt of the day and nothing else of the table.
CREATE FUNCTION stats.day_salt() RETURNS bytea
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    found bytea;
BEGIN
    DELETE FROM stats.visitor_salts WHERE day < today;
    -- gen_random_uuid() draws from the server's strong random source (as in 0006).
    INSERT INTO stats.visitor_salts (day, salt)
    VALUES (today, sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text
                                     || clock_timestamp()::text, 'UTF8')))
    ON CONFLICT (day) DO NOTHING;
    SELECT s.salt INTO found FROM stats.visitor_salts s WHERE s.day = today;
    RETURN found;
END $$;

-- Rows are written by the web tier and read back only by administrators: the operator's page
-- reads in the caller's transaction (vo_node.auth.views.caller_transaction), so the database
-- itself keeps the statistics from anyone else, as it keeps proprietary products (0006).
ALTER TABLE stats.accesses ENABLE ROW LEVEL SECURITY;
CREATE POLICY accesses_record ON stats.accesses FOR INSERT TO vo_service WITH CHECK (true);
CREATE POLICY accesses_read ON stats.accesses FOR SELECT TO vo_service
    USING ((SELECT archive.caller_is_admin()));

GRANT USAGE ON SCHEMA stats TO vo_service;
GRANT SELECT, INSERT ON stats.accesses TO vo_service;
REVOKE ALL ON FUNCTION stats.day_salt() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION stats.day_salt() TO vo_service;
-- vo_query (user ADQL) gets nothing here: no usage, no table, no function.
