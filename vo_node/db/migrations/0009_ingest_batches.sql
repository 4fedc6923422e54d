-- Each product records the ingest batch (archive.ingest_runs: one `vo-node ingest` command)
-- that registered it: the feed has an entry per batch, and that entry's TAP query must select
-- exactly the batch's products (WHERE ingest_id = N), which a time window cannot promise.
ALTER TABLE archive.products ADD COLUMN ingest_id bigint REFERENCES archive.ingest_runs;

-- Products registered before this column existed: the batch running when the product's row
-- was written (ingested_at is its registration transaction's start). Batches do not overlap
-- (one ingest at a time holds the ingest lock); a batch that was killed has no finished_at
-- and keeps what it registered until the next one started.
UPDATE archive.products p
   SET ingest_id = (
       SELECT i.ingest_id FROM archive.ingest_runs i
        WHERE i.started_at <= p.ingested_at
          AND (i.finished_at IS NULL OR p.ingested_at <= i.finished_at)
        ORDER BY i.started_at DESC
        LIMIT 1);

CREATE INDEX products_ingest_idx ON archive.products (ingest_id);
-- The few products with a release date of their own: what the archive's revision summary
-- (vo_node/db/revision.py) reads of them, without scanning the table.
CREATE INDEX products_own_release_idx ON archive.products (release_date)
    WHERE release_date IS NOT NULL;

-- How an ingest ended: 'ok', 'failed' (an error stopped it; what it registered before stays,
-- committed batch by batch) or 'interrupted' (killed; closed by the next ingest). Its
-- products are news either way.
ALTER TABLE archive.ingest_runs ADD COLUMN outcome text
    CHECK (outcome IN ('ok', 'failed', 'interrupted'));
UPDATE archive.ingest_runs SET outcome = 'ok' WHERE finished_at IS NOT NULL;

-- corot.products as in 0007, with ingest_id appended last (CREATE OR REPLACE VIEW keeps the
-- existing columns only when new ones come after them).
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
       coalesce(p.release_date, r.release_date) AS release_date, p.ingested_at,
       (SELECT archive.did_base()) || '?' || p.product_id AS obs_publisher_did,
       p.ingest_id
  FROM archive.products p
  JOIN archive.stars s USING (star_id)
  JOIN archive.runs r ON r.run_id = p.run_id
 -- Under row-level security the planner uses column statistics only with leakproof
 -- operators: LIKE is not, and its blind guess (0.5% of the rows) made it join a million rows
 -- by nested loops. Equality is, and CoRoT has these two collections.
 WHERE p.collection_id IN ('corot-exo', 'corot-astero');

-- The view checks rights as its reader (0006): user queries need the new column itself.
-- (vo_service reads the whole table: its grant of 0001 covers new columns.)
GRANT SELECT (ingest_id) ON archive.products TO vo_query;
