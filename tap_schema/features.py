"""The pulsation features of the CoRoT light curves (corot.features, corot.frequencies,
corot.feature_parameters): what ``vo-node features`` computes from each N2 light curve
(vo_node/features/), under the same access policy as the light curve itself.

Frequencies are in cycles per day (d-1), amplitudes are semi-amplitudes in millimagnitudes of
the light curve in magnitudes (positive = fainter). Plain declarations: imports only the model.
"""

from __future__ import annotations

from tap_schema.model import Column, ForeignKey, Table
from tap_schema.times import PRODUCT_TIMES

_PER_DAY = "d-1"
_MMAG = "mmag"

_PRODUCT_ID = Column(
    "product_id",
    "long",
    "The light curve (corot.products.product_id)",
    "meta.id;meta.main",
    principal=True,
    indexed=True,
    nullable=False,
)

FEATURES = Table(
    "corot",
    "features",
    "Pulsation features of each N2 light curve: a Lomb-Scargle periodogram of its good "
    "points (STATUS = 0) in magnitudes, the frequencies found by prewhitening "
    "(corot.frequencies), the dominant one, the variability amplitude and a coarse "
    "variability class. One row per light curve; visible exactly when the light curve is. "
    "The parameters and software of each computation are in corot.feature_parameters.",
    (
        _PRODUCT_ID,
        Column(
            "corotid",
            "long",
            "CoRoT identifier of the star",
            "meta.id",
            principal=True,
            indexed=True,
            nullable=False,
        ),
        Column(
            "obs_publisher_did",
            "char",
            "Dataset identifier of the light curve (as in ivoa.obscore): the ID the DataLink "
            "service takes",
            "meta.ref.ivoid",
            arraysize="*",
            nullable=False,
            datalink=True,
        ),
        Column(
            "var_class",
            "char",
            "Coarse variability class: pulsator, eclipsing (eclipses and transit-like dips), "
            "rotational (rotational or irregular slow variability) or constant; NULL with too "
            "few good points",
            "src.class",
            arraysize="*",
            principal=True,
            indexed=True,
        ),
        Column(
            "dominant_frequency",
            "double",
            "The star's dominant frequency: the first of its signal frequencies found by "
            "prewhitening (corot.frequencies with kind = 'signal'); NULL without one",
            "em.freq;src.var",
            _PER_DAY,
            principal=True,
            indexed=True,
        ),
        Column(
            "dominant_period",
            "double",
            "Period of the dominant frequency, 1 / dominant_frequency",
            "time.period;src.var",
            "d",
            principal=True,
        ),
        Column(
            "dominant_amplitude",
            "double",
            "Semi-amplitude of the dominant frequency",
            "src.var.amplitude",
            _MMAG,
            principal=True,
        ),
        Column(
            "dominant_snr",
            "float",
            "Amplitude signal-to-noise ratio of the dominant frequency",
            "stat.snr",
            principal=True,
        ),
        Column(
            "fap",
            "double",
            "False-alarm probability (Baluev 2008 approximation) of the highest peak of the "
            "first periodogram, the frequencies of kind instrumental and trend left out",
            "stat.probability",
        ),
        Column(
            "n_frequencies",
            "short",
            "Number of frequencies found by prewhitening, of every kind (rows in "
            "corot.frequencies)",
            "meta.number;src.var",
            nullable=False,
        ),
        Column(
            "total_amplitude",
            "float",
            "Total variability amplitude: 99th minus 1st percentile of the detrended light curve",
            "src.var.amplitude;phot.mag",
            _MMAG,
            principal=True,
        ),
        Column(
            "rms",
            "float",
            "Standard deviation of the detrended light curve",
            "stat.stdev;phot.mag",
            _MMAG,
        ),
        Column(
            "noise",
            "float",
            "Point-to-point scatter of the light curve (white noise level of one point)",
            "stat.error;phot.mag",
            _MMAG,
        ),
        Column(
            "skewness",
            "float",
            "Skewness of the detrended light curve in magnitudes (positive for dips: eclipses, "
            "transits)",
            "stat.fit.param;src.var",
        ),
        Column(
            "n_used",
            "int",
            "Good points used (STATUS = 0, outliers clipped)",
            "meta.number",
            nullable=False,
        ),
        Column(
            "epoch",
            "double",
            "Zero point of the phases in corot.frequencies: the time of the first point used",
            "time.epoch",
            "d",
            timesys=PRODUCT_TIMES,
        ),
        Column(
            "time_span",
            "double",
            "Time between the first and last point used",
            "time.duration",
            "d",
        ),
        Column(
            "params_id",
            "int",
            "Parameters and software of the computation (corot.feature_parameters)",
            "meta.id",
            nullable=False,
        ),
        Column(
            "computed_at",
            "char",
            "When the features were computed",
            "time.creation",
            arraysize="*",
            xtype="timestamp",
            nullable=False,
        ),
    ),
    foreign_keys=(
        ForeignKey(
            "features_products",
            "corot.products",
            (("product_id", "product_id"),),
            "The light curve the features come from",
        ),
        ForeignKey("features_stars", "corot.stars", (("corotid", "corotid"),), "The star"),
        ForeignKey(
            "features_obscore",
            "ivoa.obscore",
            (("obs_publisher_did", "obs_publisher_did"),),
            "The light curve's ObsCore record",
        ),
        ForeignKey(
            "features_parameters",
            "corot.feature_parameters",
            (("params_id", "params_id"),),
            "How the features were computed",
        ),
    ),
)

FREQUENCIES = Table(
    "corot",
    "frequencies",
    "The frequencies found in each light curve by prewhitening, in the order found: the light "
    "curve in magnitudes holds amplitude * sin(2 pi frequency (t - epoch) + phase), epoch "
    "from corot.features. Prewhitening stops at the first peak below the signal-to-noise "
    "threshold of the parameters (corot.feature_parameters).",
    (
        _PRODUCT_ID,
        Column(
            "rank",
            "short",
            "Order of extraction: 1 = the highest peak of the periodogram",
            "meta.number",
            principal=True,
            nullable=False,
        ),
        Column(
            "frequency",
            "double",
            "Frequency",
            "em.freq;src.var",
            _PER_DAY,
            principal=True,
            indexed=True,
            nullable=False,
        ),
        Column(
            "period", "double", "Period, 1 / frequency", "time.period;src.var", "d", principal=True
        ),
        Column(
            "amplitude",
            "double",
            "Semi-amplitude",
            "src.var.amplitude",
            _MMAG,
            principal=True,
            nullable=False,
        ),
        Column(
            "phase",
            "double",
            "Phase at corot.features.epoch, in [0, 2 pi)",
            "time.phase",
            "rad",
            nullable=False,
        ),
        Column(
            "snr",
            "float",
            "Amplitude signal-to-noise ratio: the amplitude over the mean amplitude of the "
            "residual spectrum around the frequency",
            "stat.snr",
            principal=True,
            nullable=False,
        ),
        Column(
            "harmonic_of",
            "short",
            "Rank of a lower frequency this one is a harmonic of (n times it, within the "
            "frequency resolution); NULL for an independent frequency",
            "meta.number",
        ),
        Column(
            "kind",
            "char",
            "What the frequency is taken for: signal (the star's: S/N of at least 5.5, not "
            "instrumental, not trend), instrumental (CoRoT's orbit, 13.97 c/d, or a harmonic, "
            "at most 2 mmag), trend (a slow drift: fewer than 2 cycles over the light curve, or "
            "a weaker one of fewer than 8), or "
            "weak (a peak too close to the noise to tell)",
            "meta.code.class",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
    ),
    foreign_keys=(
        ForeignKey(
            "frequencies_features",
            "corot.features",
            (("product_id", "product_id"),),
            "The light curve's features",
        ),
    ),
)

FEATURE_PARAMETERS = Table(
    "corot",
    "feature_parameters",
    "How the features were computed: the algorithm version, the software with its versions, "
    "and every parameter of the computation as a JSON object.",
    (
        Column(
            "params_id",
            "int",
            "Identifier of the parameter set",
            "meta.id;meta.main",
            principal=True,
            indexed=True,
            nullable=False,
        ),
        Column(
            "algorithm_version",
            "char",
            "Version of the feature computation (results of another version are computed again)",
            "meta.version",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
        Column(
            "software",
            "char",
            "The software that computed them, with versions",
            "meta.version",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
        Column(
            "parameters",
            "char",
            "The parameters as a JSON object (vo_node.features.model.FeatureParams)",
            "meta.code",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
        Column(
            "created",
            "char",
            "When this parameter set was first used",
            "time.creation",
            arraysize="*",
            xtype="timestamp",
            nullable=False,
        ),
    ),
)
