-- Pulsation features of the N2 light curves (issue 8): computed by `vo-node features` and by
-- the worker after each ingest (vo_node/features/), published as corot.features,
-- corot.frequencies and corot.feature_parameters.
--
-- One row per light curve in archive.features (the newest computation; products of another
-- algorithm version or other parameters are stale and computed again by `features --all`),
-- one row per frequency found by prewhitening in archive.feature_frequencies, and the exact
-- parameters and software of every computation in archive.feature_parameters.

CREATE TABLE archive.feature_parameters (
    params_id          serial PRIMARY KEY,
    algorithm_version  text NOT NULL,
    software           text NOT NULL,       -- 'vo-node 0.1.0; astropy 8.0.2; numpy 2.4.6'
    parameters         jsonb NOT NULL,      -- vo_node.features.model.FeatureParams
    created            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (algorithm_version, software, parameters)
);

CREATE TABLE archive.features (
    product_id         bigint PRIMARY KEY REFERENCES archive.products ON DELETE CASCADE,
    params_id          integer NOT NULL REFERENCES archive.feature_parameters,
    computed_at        timestamptz NOT NULL DEFAULT now(),
    -- Why the light curve could not be read (both copies); the rest is then NULL. Such rows
    -- count as done (a run does not retry them); `vo-node features ID` computes one again.
    error              text,
    n_used             integer NOT NULL DEFAULT 0,
    epoch              double precision,    -- MJD, zero point of the phases
    time_span          double precision,    -- days
    n_frequencies      smallint NOT NULL DEFAULT 0,
    dominant_frequency double precision,    -- c/d
    dominant_amplitude double precision,    -- mmag
    dominant_snr       real,
    fap                double precision,
    total_amplitude    real,                -- mmag
    rms                real,                -- mmag
    noise              real,                -- mmag
    skewness           real,
    var_class          text CHECK (var_class IN ('pulsator', 'eclipsing', 'rotational', 'constant'))
);
CREATE INDEX features_params_idx ON archive.features (params_id);
CREATE INDEX features_dominant_idx ON archive.features (dominant_frequency);
CREATE INDEX features_class_idx ON archive.features (var_class);

CREATE TABLE archive.feature_frequencies (
    product_id         bigint NOT NULL REFERENCES archive.features ON DELETE CASCADE,
    rank               smallint NOT NULL CHECK (rank >= 1),
    frequency          double precision NOT NULL,   -- c/d
    amplitude          double precision NOT NULL,   -- mmag, semi-amplitude
    phase              double precision NOT NULL,   -- rad
    snr                real NOT NULL,
    harmonic_of        smallint,                    -- rank of the base frequency
    kind               text NOT NULL CHECK (kind IN ('signal', 'instrumental', 'trend', 'weak')),
    PRIMARY KEY (product_id, rank)
);
CREATE INDEX feature_frequencies_idx ON archive.feature_frequencies (frequency);
CREATE INDEX feature_frequencies_signal_idx ON archive.feature_frequencies (frequency)
    WHERE kind = 'signal';

-- The same policy as the light curves they come from: a row is visible exactly when its
-- product is (the EXISTS reads archive.products under that table's own policy). The views
-- below join the products anyway; this keeps the tables themselves closed too.
ALTER TABLE archive.features ENABLE ROW LEVEL SECURITY;
ALTER TABLE archive.feature_frequencies ENABLE ROW LEVEL SECURITY;
CREATE POLICY features_visible ON archive.features FOR SELECT TO vo_query, vo_service USING (
    EXISTS (SELECT 1 FROM archive.products p WHERE p.product_id = features.product_id));
CREATE POLICY feature_frequencies_visible ON archive.feature_frequencies
    FOR SELECT TO vo_query, vo_service USING (
    EXISTS (SELECT 1 FROM archive.products p WHERE p.product_id = feature_frequencies.product_id));

GRANT SELECT ON archive.features, archive.feature_frequencies, archive.feature_parameters
    TO vo_query, vo_service;

CREATE VIEW corot.feature_parameters AS
SELECT params_id, algorithm_version, software, parameters::text AS parameters, created
  FROM archive.feature_parameters;

CREATE VIEW corot.features WITH (security_invoker = true) AS
SELECT f.product_id, s.source_id AS corotid,
       (SELECT archive.did_base()) || '?' || f.product_id AS obs_publisher_did,
       f.var_class, f.dominant_frequency, 1.0 / nullif(f.dominant_frequency, 0) AS dominant_period,
       f.dominant_amplitude, f.dominant_snr, f.fap, f.n_frequencies, f.total_amplitude, f.rms,
       f.noise, f.skewness, f.n_used, f.epoch, f.time_span, f.params_id, f.computed_at
  FROM archive.features f
  JOIN archive.products p ON p.product_id = f.product_id
  JOIN archive.stars s ON s.star_id = p.star_id
 WHERE f.error IS NULL AND p.collection_id IN ('corot-exo', 'corot-astero');

CREATE VIEW corot.frequencies WITH (security_invoker = true) AS
SELECT q.product_id, q.rank, q.frequency, 1.0 / q.frequency AS period, q.amplitude, q.phase,
       q.snr, q.harmonic_of, q.kind
  FROM archive.feature_frequencies q
  JOIN archive.products p ON p.product_id = q.product_id
 WHERE p.collection_id IN ('corot-exo', 'corot-astero');

GRANT SELECT ON corot.features, corot.frequencies, corot.feature_parameters
    TO vo_query, vo_service;
