"""The coarse variability class of a light curve, from its features: a few documented cuts,
not a trained classifier. Imports only :mod:`vo_node.features.model`.

Definitions (thresholds are the named constants below):

* *Instrumental* frequencies: within n x ``ORBIT_TOLERANCE`` (plus one resolution 1/T) of
  the n-th harmonic of CoRoT's orbital frequency ``ORBIT_FREQUENCY`` (103 min; straylight and
  SAA crossings modulate the flux at it), with an amplitude of at most
  ``ORBIT_MAX_AMPLITUDE`` (a stronger one is the star's).
* *Trend* frequencies: those completing fewer than ``MIN_CYCLES`` cycles over the light
  curve (what the detrending polynomial left of a drift), and, if there is one, every weaker
  frequency below ``TREND_CYCLES`` cycles (the rest of the drift's spectrum, which falls off
  from the lowest frequency).
* *Signal* frequencies: the others with ``snr >= DETECTION_SNR`` (stricter than
  prewhitening's ``min_snr``: with thousands of independent frequencies in a spectrum, pure
  noise reaches S/N 4 in several percent of light curves), in extraction order. The
  *dominant* one is the first; its *family* is the frequency it is a harmonic of (or itself)
  and that frequency's harmonics among the signal frequencies; its *strong family*, the
  members of at least ``STRONG_HARMONIC`` x the dominant amplitude.
* *Excess*: the scatter of the curve, less the variance of the instrumental sinusoids
  (``A^2 / 2`` each), over the point-to-point noise; 1 for white noise. A trend counts: slow
  variability is variability, only not a period.

The rule, first match wins:

1. **eclipsing** (eclipsing binaries and transits) if ``skewness >= DIP_SKEWNESS``: faint
   outliers, short dips; sinusoids, spots and noise stay well below.
2. With no signal frequency: **eclipsing** if ``skewness >= WEAK_DIP_SKEWNESS`` and
   ``VARIABLE_EXCESS <= excess < IRREGULAR_EXCESS`` (a shallow transit: barely more scatter
   than the noise, but skewed; a strong variability that is only mildly skewed is not made
   of dips); **rotational** if ``excess >= IRREGULAR_EXCESS`` (irregular or slow
   variability that prewhitening does not resolve into sinusoids); else **constant**.
3. **eclipsing** if the strong family has at least ``ECLIPSE_FAMILY`` members (a comb of
   harmonics of comparable amplitudes: a non-sinusoidal periodic signal).
4. **rotational** if the family's base frequency is below ``ROTATION_MAX_FREQUENCY`` (spots:
   periods of a day or more), or below ``ROTATION_HARMONIC_MAX_FREQUENCY`` with a harmonic in
   the family (the double-humped modulation of a spotted star).
5. **pulsator** otherwise: an independent signal frequency above ~1 c/d.

The thresholds were set on ~1,200 curves generated with the sample's signal and noise models
(ingest/sample/signals.py) and systematics (lightcurves.py: gain drift, orbital term), 8 to
148 days long; tests/test_features_recovery.py measures the confusion on other curves. Known
limits: pulsations below 1 c/d (gamma Doradus stars, slowly pulsating B stars) come out
rotational; transits shallower than ~2-3 times the point-to-point noise come out constant; a
star pulsating at the orbital frequency or its harmonics comes out by its other frequencies,
or constant; a drift that the detrending polynomial does not follow (raise
``FeatureParams.detrend_degree``) can make a bright constant star of a long run rotational.
"""

from __future__ import annotations

import math

from vo_node.features.model import Features, Frequency

# CoRoT's orbit: 6184 s (~103 min), 13.97 c/d. The tolerance covers the drift of the period
# over the mission and the sample's 102.9 min (13.994 c/d).
ORBIT_FREQUENCY = 86400.0 / 6184.0
ORBIT_TOLERANCE = 0.03  # c/d per harmonic order
ORBIT_MAX_HARMONIC = 6
# The orbital signal is a few 0.1 mmag (a few 1e-4 of the flux); a star is not.
ORBIT_MAX_AMPLITUDE = 2.0  # mmag
# A period must repeat: below 2 cycles a sinusoid is a drift as well as a period.
MIN_CYCLES = 2.0
TREND_CYCLES = 8.0
# Pure noise on the generated curves (exo, 25 days, ~2,000 independent frequencies): an
# extracted S/N >= 4 in ~11% of the curves, >= 5 in 0.5%, >= 5.5 in 0.25%. Shorter curves
# fare worse (the +-1 c/d noise window holds fewer independent frequencies): >= 5.5 in ~5% of
# 5-day 32 s curves.
DETECTION_SNR = 5.5
STRONG_HARMONIC = 0.2
# Skewness of the magnitudes (> 0: faint outliers). White noise: 0 +- sqrt(6/N), ~0.04; a
# sinusoid 0; a spot modulation with its first harmonic at 30% of the fundamental up to 0.56;
# eclipsing binaries of the sample 1.8 and more, transits mostly above 1.
DIP_SKEWNESS = 1.0
WEAK_DIP_SKEWNESS = 0.3
# Excess of scatter over the noise. Constant stars of the sample: up to ~1.05 over 25 days,
# up to ~1.33 over 148 days on bright stars (the part of the CCD's gain drift that a
# quadratic does not follow); slow rotators whose period exceeds half the light curve: 1.4
# and more.
VARIABLE_EXCESS = 1.05
IRREGULAR_EXCESS = 1.4
ECLIPSE_FAMILY = 3
ROTATION_MAX_FREQUENCY = 1.0  # c/d
ROTATION_HARMONIC_MAX_FREQUENCY = 2.5  # c/d


def is_instrumental(frequency: Frequency, resolution: float) -> bool:
    """Whether ``frequency`` is at a harmonic of CoRoT's orbital frequency (and weak enough to
    be the satellite's), given the light curve's frequency resolution 1/T (c/d)."""
    if frequency.amplitude > ORBIT_MAX_AMPLITUDE:
        return False
    n = round(frequency.frequency / ORBIT_FREQUENCY)
    if not 1 <= n <= ORBIT_MAX_HARMONIC:
        return False
    return abs(frequency.frequency - n * ORBIT_FREQUENCY) <= n * ORBIT_TOLERANCE + resolution


def trend(frequencies: tuple[Frequency, ...], span: float) -> list[Frequency]:
    """The frequencies taken for the rest of a drift (see the module docstring)."""
    slow = [f for f in frequencies if f.frequency * span < MIN_CYCLES]
    if not slow:
        return []
    strongest = max(f.amplitude for f in slow)
    return [
        f
        for f in frequencies
        if f.frequency * span < MIN_CYCLES
        or (f.frequency * span < TREND_CYCLES and f.amplitude <= strongest)
    ]


def _family(dominant: Frequency, signal: list[Frequency]) -> list[Frequency]:
    """The dominant frequency's base (itself or what it is a harmonic of) and that base's
    harmonics among the signal frequencies."""
    base_rank = dominant.harmonic_of if dominant.harmonic_of is not None else dominant.rank
    return [f for f in signal if f.rank == base_rank or f.harmonic_of == base_rank]


def frequency_kinds(frequencies: tuple[Frequency, ...], span: float) -> tuple[str, ...]:
    """What each frequency is taken for (model.KINDS), in order: instrumental, trend, signal
    (S/N >= DETECTION_SNR) or weak, as the module docstring defines them."""
    drift = trend(frequencies, span)
    kinds = []
    for f in frequencies:
        if is_instrumental(f, 1.0 / span):
            kinds.append("instrumental")
        elif f in drift:
            kinds.append("trend")
        else:
            kinds.append("signal" if f.snr >= DETECTION_SNR else "weak")
    return tuple(kinds)


def classify(features: Features) -> str:
    """The coarse class (one of model.CLASSES) of computed features (``var_class`` ignored).

    Raises ValueError for features without statistics (too few points: no class)."""
    if (
        features.rms is None
        or features.noise is None
        or features.skewness is None
        or not features.time_span
    ):
        raise ValueError("no class without the statistics of a light curve")
    span = features.time_span
    kinds = frequency_kinds(features.frequencies, span)
    instrumental = [
        f for f, k in zip(features.frequencies, kinds, strict=True) if k == "instrumental"
    ]
    signal = [f for f, k in zip(features.frequencies, kinds, strict=True) if k == "signal"]
    explained = sum(f.amplitude**2 / 2.0 for f in instrumental)
    scatter = math.sqrt(max(features.rms**2 - explained, 0.0))
    if features.noise > 0.0:
        excess = scatter / features.noise
    else:  # no point-to-point scatter: a constant curve, or a slow signal and no noise
        excess = math.inf if scatter > 0.0 else 1.0

    if features.skewness >= DIP_SKEWNESS:
        return "eclipsing"
    if not signal:
        if features.skewness >= WEAK_DIP_SKEWNESS and VARIABLE_EXCESS <= excess < IRREGULAR_EXCESS:
            return "eclipsing"
        return "rotational" if excess >= IRREGULAR_EXCESS else "constant"
    dominant = signal[0]
    family = _family(dominant, signal)
    strong = [f for f in family if f.amplitude >= STRONG_HARMONIC * dominant.amplitude]
    if len(strong) >= ECLIPSE_FAMILY:
        return "eclipsing"
    base = min(f.frequency for f in family)
    if base < ROTATION_MAX_FREQUENCY:
        return "rotational"
    if len(family) >= 2 and base < ROTATION_HARMONIC_MAX_FREQUENCY:
        return "rotational"
    return "pulsator"
