"""What the pulsation features of one light curve are: the parameters of the computation, the
frequencies found by prewhitening, and the summary the archive publishes (``corot.features``,
``corot.frequencies``).

Plain frozen dataclasses and constants; imports only the standard library. The computation is
:mod:`vo_node.features.periodogram`, the classification rule :mod:`vo_node.features.classes`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

# Raised whenever the computation changes what it produces for the same light curve: results
# of another version are stale and `vo-node features --all` computes them again.
ALGORITHM_VERSION = "1"

# The coarse variability classes (vo_node/features/classes.py has the rule).
CLASSES = ("pulsator", "eclipsing", "rotational", "constant")
# What a frequency found by prewhitening is taken for (classes.py, frequency_kinds): the
# star's ("signal"), the satellite's orbit ("instrumental"), what detrending left of a slow
# drift ("trend"), or a peak too weak to be told from noise ("weak").
KINDS = ("signal", "instrumental", "trend", "weak")


@dataclass(frozen=True)
class FeatureParams:
    """The computation's parameters; stored with every result (archive.feature_parameters)."""

    # How many frequencies prewhitening extracts at most.
    n_frequencies: int = 5
    # Frequency grid step = 1 / (oversampling * time span).
    oversampling: float = 5.0
    # Highest frequency searched (c/d); the grid also stops at the pseudo-Nyquist frequency of
    # the median sampling, 0.5 / median step.
    max_frequency: float = 360.0
    # Prewhitening stops at the first peak below this amplitude signal-to-noise.
    min_snr: float = 4.0
    # S/N: the peak's amplitude over the mean amplitude of the final residuals' spectrum in a
    # window of this full width (c/d) centred on the peak.
    noise_window: float = 2.0
    # Degree of the polynomial in time removed before the periodogram (slow instrumental
    # drifts); 0 removes the mean only.
    detrend_degree: int = 2
    # Points further than this many robust standard deviations from the detrended curve are
    # left out (cosmic rays, hot pixels that STATUS missed).
    clip_sigma: float = 5.0
    # Fewer good points than this: no periodogram, no class.
    min_points: int = 100

    def to_json(self) -> str:
        """The parameters as a canonical JSON object (sorted keys): their stored form."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


DEFAULT_PARAMS = FeatureParams()


@dataclass(frozen=True)
class Frequency:
    """One frequency found by prewhitening. The light curve in mmag (magnitudes: positive is
    fainter) holds ``amplitude * sin(2 pi frequency (t - epoch) + phase)``, epoch being the
    light curve's :attr:`Features.epoch`."""

    rank: int  # 1 = extracted first (the strongest)
    frequency: float  # cycles per day
    amplitude: float  # semi-amplitude, mmag
    phase: float  # radians, in [0, 2 pi)
    snr: float  # amplitude signal-to-noise (see FeatureParams.noise_window)
    # The rank of a lower frequency this one is a harmonic of (n * f within the frequency
    # resolution), None if it is independent.
    harmonic_of: int | None = None
    kind: str = "signal"  # one of KINDS


@dataclass(frozen=True)
class Features:
    """The features of one light curve. ``frequencies`` are in extraction order; an empty
    tuple with ``var_class`` None means too few good points for a periodogram."""

    n_used: int  # good points that went into the periodogram (after clipping)
    epoch: float | None  # MJD: zero point of the phases (the first point used)
    time_span: float | None  # days between the first and last point used
    frequencies: tuple[Frequency, ...]
    # False-alarm probability (Baluev 2008) of the highest peak of the first periodogram
    # that is not the satellite's orbit nor a drift (their frequencies are masked).
    fap: float | None
    total_amplitude: float | None  # mmag: 99th minus 1st percentile of the detrended curve
    rms: float | None  # mmag: standard deviation of the detrended curve
    noise: float | None  # mmag: point-to-point scatter (differences of successive points)
    skewness: float | None  # of the detrended curve in mmag: > 0 for dips (eclipses, transits)
    var_class: str | None  # one of CLASSES

    @property
    def dominant(self) -> Frequency | None:
        """The star's dominant frequency: the first extracted of its signal frequencies (an
        instrumental, trend or weak one is never dominant); None without one."""
        return next((f for f in self.frequencies if f.kind == "signal"), None)
