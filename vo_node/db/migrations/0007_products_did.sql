-- corot.products gains each product's publisher DID, the identifier DataLink and SODA take
-- (as ObsCore's obs_publisher_did and SSA's ssa_pubDID): TAP results from the product table
-- then carry a DataLink service descriptor that clients such as pyvo can follow (their ID
-- columns must be strings). Appended last: CREATE OR REPLACE VIEW keeps existing columns.
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
       (SELECT archive.did_base()) || '?' || p.product_id AS obs_publisher_did
  FROM archive.products p
  JOIN archive.stars s USING (star_id)
  JOIN archive.runs r ON r.run_id = p.run_id
 -- Under row-level security the planner uses column statistics only with leakproof
 -- operators: LIKE is not, and its blind guess (0.5% of the rows) made it join a million rows
 -- by nested loops. Equality is, and CoRoT has these two collections.
 WHERE p.collection_id IN ('corot-exo', 'corot-astero');
