-- The published side of the archive: views that user queries (TAP/ADQL, role vo_query) read,
-- and the TAP_SCHEMA tables that describe them. The views' columns are declared, with UCDs,
-- units and descriptions, in tap_schema/ (the single source of truth); a test fails when the
-- two disagree. TAP_SCHEMA's rows are written from those declarations by `vo-node migrate`.

-- The latest version of each product series, kept as a flag so that published queries need
-- no DISTINCT ON over the whole table. Maintained by a trigger, whoever inserts.
ALTER TABLE archive.products ADD COLUMN latest boolean NOT NULL DEFAULT true;
CREATE INDEX products_latest_idx ON archive.products (star_id) WHERE latest;

CREATE FUNCTION archive.mark_latest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE archive.products p
       SET latest = (p.product_id = (
           SELECT q.product_id FROM archive.products q
            WHERE q.star_id = NEW.star_id AND q.run_id = NEW.run_id
              AND q.level = NEW.level AND q.series = NEW.series
            ORDER BY q.version_rank DESC, q.ingested_at DESC, q.product_id DESC
            LIMIT 1))
     WHERE p.star_id = NEW.star_id AND p.run_id = NEW.run_id
       AND p.level = NEW.level AND p.series = NEW.series;
    RETURN NULL;
END $$;
CREATE TRIGGER products_mark_latest AFTER INSERT ON archive.products
    FOR EACH ROW EXECUTE FUNCTION archive.mark_latest();

-- Settings the published views need: the node's public base URL, written by `vo-node init`
-- and `vo-node serve` from VO_NODE_BASE_URL (or host and port).
CREATE TABLE archive.node_config (
    key            text PRIMARY KEY,
    value          text NOT NULL
);
-- SECURITY DEFINER: the views call these for any reader, who has no access to the table.
CREATE FUNCTION archive.config(wanted text, fallback text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, archive AS $$
    SELECT coalesce((SELECT value FROM archive.node_config WHERE key = wanted), fallback)
$$;
CREATE FUNCTION archive.base_url() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, archive AS $$
    SELECT archive.config('base_url', 'http://127.0.0.1:8000')
$$;
CREATE FUNCTION archive.did_base() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, archive AS $$
    SELECT archive.config('did_base', 'ivo://vo-node.example/corot')
$$;

CREATE SCHEMA corot;
CREATE SCHEMA ivoa;
CREATE SCHEMA tap_schema;

CREATE VIEW corot.stars AS
SELECT s.source_id AS corotid, s.name, s.ra, s.dec, s.pos, s.mag_b, s.mag_v, s.mag_r, s.mag_i,
       s.spectral_type, s.lum_class, s.teff, s.contamination
  FROM archive.stars s
 WHERE s.mission = 'CoRoT';

CREATE VIEW corot.runs AS
SELECT r.code AS run_code, r.eye, r.kind, r.start_time, r.end_time,
       (extract(epoch FROM r.start_time) / 86400.0 + 40587.0)::double precision AS t_start,
       (extract(epoch FROM r.end_time) / 86400.0 + 40587.0)::double precision AS t_end,
       degrees(long(r.pointing)) AS ra, degrees(lat(r.pointing)) AS dec, r.release_date
  FROM archive.runs r
 WHERE r.mission = 'CoRoT';

CREATE VIEW corot.products AS
SELECT p.product_id, s.source_id AS corotid, r.code AS run_code,
       CASE p.collection_id WHEN 'corot-astero' THEN 'astero' ELSE 'exo' END AS channel,
       p.level AS proc_level, p.product_type, p.version, p.latest::int::smallint AS latest,
       s.ra, s.dec, s.pos, s.mag_v, s.mag_r,
       p.t_min, p.t_max, p.time_scale, p.time_refpos, p.n_points, p.n_good,
       p.sampling[1] AS sampling_min, p.sampling[cardinality(p.sampling)] AS sampling_max,
       array_to_string(p.bands, ' ') AS bands, p.file_name,
       archive.base_url() || '/products/' || p.product_id || '.fits' AS access_url,
       p.file_size, p.sha256::text AS sha256,
       coalesce(p.release_date, r.release_date) AS release_date, p.ingested_at
  FROM archive.products p
  JOIN archive.stars s USING (star_id)
  JOIN archive.runs r ON r.run_id = p.run_id
 WHERE p.collection_id LIKE 'corot-%';

-- ObsCore 1.1 (IVOA REC 2017-05-09): one row per light-curve product version. access_url
-- points at the DataLink service (access_format says so), as the checklist asks.
CREATE VIEW ivoa.obscore AS
SELECT 'timeseries'::text AS dataproduct_type,
       'lightcurve'::text AS dataproduct_subtype,
       CASE p.level WHEN 'N2' THEN 2 ELSE 1 END AS calib_level,
       CASE p.collection_id WHEN 'corot-astero' THEN 'CoRoT astero' ELSE 'CoRoT exo' END
           AS obs_collection,
       p.file_name AS obs_id,
       archive.did_base() || '?' || p.product_id AS obs_publisher_did,
       archive.base_url() || '/datalink/links?ID=' || p.product_id AS access_url,
       'application/x-votable+xml;content=datalink'::text AS access_format,
       (p.file_size + 1023) / 1024 AS access_estsize,
       s.name AS target_name,
       s.ra AS s_ra, s.dec AS s_dec,
       -- The photometric aperture is a few arcseconds; the field of a light curve is that.
       0.003::double precision AS s_fov,
       scircle(s.pos, radians(0.0015)) AS s_region,
       2.32::double precision AS s_resolution,
       1::bigint AS s_xel1, 1::bigint AS s_xel2,
       p.n_points::bigint AS t_xel, 1::bigint AS em_xel, 1::bigint AS pol_xel,
       p.t_min, p.t_max,
       (p.t_max - p.t_min) * 86400.0 AS t_exptime,
       p.sampling[1]::double precision AS t_resolution,
       -- The CoRoT passband: 370 to 1000 nm, in metres as ObsCore asks.
       3.7e-7::double precision AS em_min,
       1.0e-6::double precision AS em_max,
       3.0::double precision AS em_res_power,
       'phot.flux'::text AS o_ucd,
       NULL::text AS pol_states,
       'CoRoT'::text AS facility_name,
       'CoRoT camera'::text AS instrument_name,
       coalesce(p.release_date, r.release_date)::timestamp AS obs_release_date,
       r.code AS proposal_id,
       p.product_id
  FROM archive.products p
  JOIN archive.stars s USING (star_id)
  JOIN archive.runs r ON r.run_id = p.run_id;

-- TAP_SCHEMA 1.1 (TAP 1.1, section 4). Rows are written from tap_schema/ declarations.
CREATE TABLE tap_schema.schemas (
    schema_name    text PRIMARY KEY,
    utype          text,
    description    text,
    schema_index   integer
);
CREATE TABLE tap_schema.tables (
    schema_name    text NOT NULL REFERENCES tap_schema.schemas,
    table_name     text PRIMARY KEY,
    table_type     text NOT NULL,
    utype          text,
    description    text,
    table_index    integer
);
CREATE TABLE tap_schema.columns (
    table_name     text NOT NULL REFERENCES tap_schema.tables,
    column_name    text NOT NULL,
    utype          text,
    ucd            text,
    unit           text,
    description    text,
    datatype       text NOT NULL,
    arraysize      text,
    xtype          text,
    "size"         integer,
    principal      integer NOT NULL,
    indexed        integer NOT NULL,
    std            integer NOT NULL,
    column_index   integer,
    PRIMARY KEY (table_name, column_name)
);
CREATE TABLE tap_schema.keys (
    key_id         text PRIMARY KEY,
    from_table     text NOT NULL REFERENCES tap_schema.tables,
    target_table   text NOT NULL REFERENCES tap_schema.tables,
    utype          text,
    description    text
);
CREATE TABLE tap_schema.key_columns (
    key_id         text NOT NULL REFERENCES tap_schema.keys,
    from_column    text NOT NULL,
    target_column  text NOT NULL
);

-- Readers. User queries see the published schemas only; the service role also reads them.
GRANT USAGE ON SCHEMA corot, ivoa, tap_schema TO vo_query, vo_service;
GRANT SELECT ON ALL TABLES IN SCHEMA corot, ivoa, tap_schema TO vo_query, vo_service;
-- The views run with their owner's rights over archive.*; vo_query itself gets no access to
-- archive.* (row-level security on the products comes with issue 4).
REVOKE ALL ON ALL TABLES IN SCHEMA archive FROM vo_query;
GRANT SELECT ON archive.node_config TO vo_service;
