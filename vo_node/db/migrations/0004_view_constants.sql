-- The node's URLs in the published views come from SECURITY DEFINER functions, which
-- PostgreSQL cannot inline: called per row they cost about 0.1 ms each (a million-row result
-- spent 100 s in them). As scalar subqueries they are evaluated once per query (an InitPlan).
-- Same columns, same values; only the expressions change.

CREATE OR REPLACE VIEW corot.products AS
SELECT p.product_id, s.source_id AS corotid, r.code AS run_code,
       CASE p.collection_id WHEN 'corot-astero' THEN 'astero' ELSE 'exo' END AS channel,
       p.level AS proc_level, p.product_type, p.version, p.latest::int::smallint AS latest,
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
 WHERE p.collection_id LIKE 'corot-%';

CREATE OR REPLACE VIEW ivoa.obscore AS
SELECT 'timeseries'::text AS dataproduct_type,
       'lightcurve'::text AS dataproduct_subtype,
       CASE p.level WHEN 'N2' THEN 2 ELSE 1 END AS calib_level,
       CASE p.collection_id WHEN 'corot-astero' THEN 'CoRoT astero' ELSE 'CoRoT exo' END
           AS obs_collection,
       p.file_name AS obs_id,
       (SELECT archive.did_base()) || '?' || p.product_id AS obs_publisher_did,
       (SELECT archive.base_url()) || '/datalink/links?ID=' || p.product_id AS access_url,
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
