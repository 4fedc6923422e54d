-- The web search looks stars up by name ('CoRoT 102890318', any case) or by CoRoT ID alone:
-- indexes for both, so that a lookup does not scan the star table (160,000 stars for CoRoT).
CREATE INDEX stars_lower_name_idx ON archive.stars (lower(name));
CREATE INDEX stars_source_idx ON archive.stars (source_id);
