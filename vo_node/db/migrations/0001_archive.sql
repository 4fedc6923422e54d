-- The archive's data model: collections, runs, stars, products (one row per file version),
-- their two stored copies, and the ingest bookkeeping. General on purpose: nothing here is
-- CoRoT-specific except example values in comments; the mission shows in the data.

CREATE SCHEMA archive;

-- A collection is a publishable set of light curves, e.g. CoRoT's exoplanet channel.
CREATE TABLE archive.collections (
    collection_id  text PRIMARY KEY,              -- 'corot-exo'
    mission        text NOT NULL,                 -- 'CoRoT'
    title          text NOT NULL,
    description    text NOT NULL DEFAULT '',
    created        timestamptz NOT NULL DEFAULT now(),
    updated        timestamptz NOT NULL DEFAULT now()
);

-- An observing run: one pointing of the instrument for a span of time.
CREATE TABLE archive.runs (
    run_id         serial PRIMARY KEY,
    mission        text NOT NULL,
    code           text NOT NULL,                 -- 'LRa01'
    eye            text,                          -- 'anticenter' | 'center'
    kind           text,                          -- 'initial' | 'short' | 'long'
    start_time     timestamptz,
    end_time       timestamptz,
    pointing       spoint,
    release_date   date,                          -- when its N2 products become public (issue 4)
    UNIQUE (mission, code)
);

-- A target star, known by its mission identifier (the CoRoT ID).
CREATE TABLE archive.stars (
    star_id        bigserial PRIMARY KEY,
    mission        text NOT NULL,
    source_id      bigint NOT NULL,               -- CoRoT ID
    name           text NOT NULL,                 -- 'CoRoT 102890318'
    pos            spoint,
    ra             double precision,              -- degrees, ICRS; NULL when unknown
    dec            double precision,
    mag_b          real,
    mag_v          real,
    mag_r          real,
    mag_i          real,
    spectral_type  text,
    lum_class      text,
    teff           real,                          -- colour temperature, K
    contamination  real,                          -- fraction of flux from neighbours
    updated        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (mission, source_id)
);
CREATE INDEX stars_pos_idx ON archive.stars USING gist (pos);

-- One row per product file *version*. A new version of the same star, run and product type is a
-- new row; nothing is ever overwritten. "series" names what has versions: the product type, or
-- for alert light curves the product type and the delivery.
CREATE TABLE archive.products (
    product_id     bigserial PRIMARY KEY,
    collection_id  text NOT NULL REFERENCES archive.collections,
    run_id         integer NOT NULL REFERENCES archive.runs,
    star_id        bigint NOT NULL REFERENCES archive.stars,
    level          text NOT NULL CHECK (level IN ('N0', 'N1', 'N2', 'N3')),
    product_type   text NOT NULL,                 -- 'EN2_STAR_CHR', 'AN2_STAR', 'EN1_ALERT_MON', ...
    series         text NOT NULL,
    version        text NOT NULL,                 -- 'N2-4.4'
    version_rank   integer[] NOT NULL,            -- {4,4}: orders versions numerically
    layout         text NOT NULL,                 -- reader's layout name, e.g. 'v4-exo', 'v1-3-exo'
    file_name      text NOT NULL,
    archive_path   text NOT NULL UNIQUE,          -- path inside each storage root
    t_min          double precision NOT NULL,     -- MJD of the first point
    t_max          double precision NOT NULL,     -- MJD of the last point
    time_scale     text NOT NULL,                 -- 'TT'
    time_refpos    text NOT NULL,                 -- 'BARYCENTER' | 'HELIOCENTER' | 'TOPOCENTER'
    n_points       integer NOT NULL,
    n_good         integer NOT NULL,              -- points with STATUS == 0
    sampling       integer[] NOT NULL,            -- seconds between points, e.g. {32,512}
    bands          text[] NOT NULL,               -- {'red','green','blue','white'}
    ccd            text,                          -- half-CCD, 'E1'
    window_id      integer,
    file_size      bigint NOT NULL,
    sha256         char(64) NOT NULL,
    warnings       text[] NOT NULL DEFAULT '{}',  -- problem codes accepted as warnings
    ingested_at    timestamptz NOT NULL DEFAULT now(),
    release_date   date,                          -- overrides the run's (issue 4)
    access_group   text NOT NULL,                 -- policy group, enforced in issue 4
    CHECK (t_min <= t_max)
);
CREATE INDEX products_star_idx ON archive.products (star_id);
CREATE INDEX products_run_idx ON archive.products (run_id);
CREATE INDEX products_series_idx ON archive.products (star_id, run_id, level, series);
CREATE INDEX products_time_idx ON archive.products (t_min, t_max);

-- Where each product's bytes are: one row per storage site, checked by the audit.
CREATE TABLE archive.product_copies (
    product_id     bigint NOT NULL REFERENCES archive.products ON DELETE CASCADE,
    site           text NOT NULL,                 -- 'a' | 'b': the two storage roots
    verified_at    timestamptz NOT NULL DEFAULT now(),
    status         text NOT NULL DEFAULT 'ok'
                   CHECK (status IN ('ok', 'missing', 'corrupt', 'unreadable')),
    PRIMARY KEY (product_id, site)
);

-- The latest version of every product series.
CREATE VIEW archive.products_latest AS
SELECT DISTINCT ON (star_id, run_id, level, series) *
FROM archive.products
ORDER BY star_id, run_id, level, series, version_rank DESC, ingested_at DESC;

-- Files being copied into storage but not yet registered: what an interrupted ingest leaves.
-- The next ingest removes the files of every entry left here before it starts.
CREATE TABLE archive.ingest_pending (
    archive_path   text PRIMARY KEY,
    sha256         char(64) NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per ingest command, with its outcome.
CREATE TABLE archive.ingest_runs (
    ingest_id      bigserial PRIMARY KEY,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    seen           integer NOT NULL DEFAULT 0,
    ingested       integer NOT NULL DEFAULT 0,
    skipped        integer NOT NULL DEFAULT 0,
    rejected       integer NOT NULL DEFAULT 0,
    argv           text[] NOT NULL DEFAULT '{}'
);

-- Every problem found in a file, rejected or accepted with a warning.
CREATE TABLE archive.ingest_problems (
    ingest_id      bigint NOT NULL REFERENCES archive.ingest_runs ON DELETE CASCADE,
    source_path    text NOT NULL,
    code           text NOT NULL,                 -- 'LC001'
    severity       text NOT NULL CHECK (severity IN ('error', 'warning')),
    message        text NOT NULL
);
CREATE INDEX ingest_problems_code_idx ON archive.ingest_problems (code);

-- N1 alert deliveries and what the alert-mode handler made of them.
CREATE TABLE archive.alert_deliveries (
    delivery       text PRIMARY KEY,              -- 'LRa01_2008W02'
    run_id         integer NOT NULL REFERENCES archive.runs,
    received_at    timestamptz NOT NULL DEFAULT now(),
    products       bigint[] NOT NULL,             -- every alert light curve of the delivery
    pending        bigint[] NOT NULL DEFAULT '{}', -- those the handler has not taken yet
    handler        text,                          -- the command or spool used last
    handled_at     timestamptz,                   -- last successful hand-over
    handler_status text                           -- 'ok' | 'failed: ...'
);

-- Readers: the service role reads everything here; user queries (vo_query) get published
-- views only, in issue 3.
GRANT USAGE ON SCHEMA archive TO vo_service;
GRANT SELECT ON ALL TABLES IN SCHEMA archive TO vo_service;
