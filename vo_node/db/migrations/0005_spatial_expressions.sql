-- ADQL on ivoa.obscore (and on ra/dec anywhere) reaches archive.stars through the views as
-- expressions of its columns, not as its pos column: INTERSECTS(s_region, ...) becomes
-- scircle(pos, radians(0.0015)) && ..., and CONTAINS(POINT(s_ra, s_dec), ...) becomes
-- spoint(radians(ra), radians(dec)) <@ .... Without an index on those same expressions they
-- are sequential scans, and TAP_SCHEMA's "indexed" flag on s_region would be untrue.
CREATE INDEX stars_aperture_idx ON archive.stars USING gist (scircle(pos, radians(0.0015)));
CREATE INDEX stars_radec_idx ON archive.stars USING gist (spoint(radians(ra), radians(dec)));
