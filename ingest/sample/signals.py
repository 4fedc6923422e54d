"""Astrophysical signals and the photometric noise model of the sample light curves.

A :class:`SignalModel` is what ``truth.csv`` reports for a star: a class (constant, transit,
eclipsing, pulsator, rotation) and its parameters. It evaluates to a relative flux (mean ~1) on
barycentric TT MJD. The noise model turns a magnitude into electrons per 32 s and a per-point
standard deviation. Imports only numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("constant", "transit", "eclipsing", "pulsator", "rotation")
# Share of each class among exoplanet-channel stars (the rest are constant).
EXO_CLASS_SHARES = {"transit": 0.05, "eclipsing": 0.03, "pulsator": 0.10, "rotation": 0.07}
# Asteroseismology targets are chosen for their oscillations.
ASTERO_PULSATOR_SHARE = 0.8
_MMAG_TO_LN = np.log(10.0) / 2500.0  # 1 mmag of brightening = this many e-folds of flux
# Electrons per 32 s of a star with R = 12 in the exoplanet channel (white light): sets the
# photon noise; a magnitude 16 star gets ~15,000 e-, a magnitude 11 star ~1.5 million.
EXO_E32_AT_R12 = 6.0e5
ASTERO_E32_AT_V12 = 4.0e5
# Noise floor (jitter, electronics) of one 32 s exposure, relative; it averages down with the
# number of exposures summed into a point. The astero channel was defocused and steadier.
EXO_FLOOR_32S = 6.0e-4
ASTERO_FLOOR_32S = 1.5e-4


@dataclass(frozen=True)
class SignalModel:
    """The injected variability of one star; ``relative_flux`` is 1 for a constant star."""

    kind: str  # one of CLASSES
    period_d: float | None = None  # transit, eclipsing, rotation
    depth: float | None = None  # fractional depth of the transit / primary eclipse
    t0_mjd: float | None = None  # barycentric TT MJD of mid-transit / primary eclipse / phase 0
    duration_d: float | None = None  # full duration of a transit or eclipse
    secondary_depth: float | None = None  # eclipsing binaries
    frequencies_cd: tuple[float, ...] = ()  # pulsators: cycles per day, strongest first
    amplitudes_mmag: tuple[float, ...] = ()  # semi-amplitudes (pulsators, rotation)
    phases: tuple[float, ...] = ()  # radians, one per frequency (not reported)

    def relative_flux(self, bary_mjd: np.ndarray) -> np.ndarray:
        """Flux relative to the star's mean out-of-signal flux at these times."""
        t = np.asarray(bary_mjd, dtype=float)
        if self.kind == "transit":
            return 1.0 - self._dip(t, 0.0, self.depth or 0.0)
        if self.kind == "eclipsing":
            primary = self._dip(t, 0.0, self.depth or 0.0)
            return 1.0 - primary - self._dip(t, 0.5, self.secondary_depth or 0.0)
        if self.kind in ("pulsator", "rotation"):
            return np.exp(_MMAG_TO_LN * self._mmag(t))
        return np.ones_like(t)

    def _mmag(self, t: np.ndarray) -> np.ndarray:
        # Brightening in mmag (positive = brighter) so that flux = exp(ln10/2500 * mmag).
        total = np.zeros_like(t)
        for f, a, p in zip(self.frequencies_cd, self.amplitudes_mmag, self.phases, strict=True):
            total += a * np.sin(2.0 * np.pi * f * (t - (self.t0_mjd or 0.0)) + p)
        return total

    def _dip(self, t: np.ndarray, phase0: float, depth: float) -> np.ndarray:
        # Trapezoid: linear ingress and egress over 15% of the duration each, flat bottom.
        period, duration = self.period_d or 1.0, self.duration_d or 0.1
        phase = ((t - (self.t0_mjd or 0.0)) / period - phase0 + 0.5) % 1.0 - 0.5
        half = np.abs(phase * period) / (0.5 * duration)  # 0 at centre, 1 at first contact
        ramp = 0.15 / 0.5
        shape = np.clip((1.0 - half) / ramp, 0.0, 1.0)
        return depth * shape


def _pulsations(
    rng: np.random.Generator, max_frequency: float
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    count = int(rng.integers(1, 4))
    freqs: list[float] = []
    while len(freqs) < count:
        f = float(rng.uniform(1.0, max_frequency))
        # Keep frequencies resolvable in a 10-day light curve (resolution 0.1 c/d).
        if all(abs(f - g) > 0.5 for g in freqs):
            freqs.append(round(f, 5))
    # The first mode is the strongest, clearly so: the others are at most 60% of it.
    first = float(np.exp(rng.uniform(np.log(0.5), np.log(20.0))))
    amps = [first] + [first * float(rng.uniform(0.15, 0.6)) for _ in range(count - 1)]
    amps = [round(max(a, 0.5), 3) for a in amps]
    phases = tuple(round(float(p), 4) for p in rng.uniform(0.0, 2.0 * np.pi, count))
    return tuple(freqs), tuple(amps), phases


def draw_signal(rng: np.random.Generator, channel: str, t_ref_mjd: float) -> SignalModel:
    """Draw the signal of one star; ``t_ref_mjd`` is the start of its first light curve."""
    if channel == "astero":
        if rng.random() >= ASTERO_PULSATOR_SHARE:
            return SignalModel("constant")
        freqs, amps, phases = _pulsations(rng, 100.0)
        return SignalModel(
            "pulsator",
            t0_mjd=round(t_ref_mjd, 6),
            frequencies_cd=freqs,
            amplitudes_mmag=amps,
            phases=phases,
        )
    u = rng.random()
    edges = np.cumsum(list(EXO_CLASS_SHARES.values()))
    kind = "constant"
    for name, edge in zip(EXO_CLASS_SHARES, edges, strict=True):
        if u < edge:
            kind = name
            break
    if kind == "transit":
        period = float(rng.uniform(1.0, 10.0))
        # About 13 h for a 1-year orbit round a Sun-like star, scaling as P^(1/3).
        duration = 0.54 * (period / 365.25) ** (1.0 / 3.0) * float(rng.uniform(0.7, 1.1))
        return SignalModel(
            "transit",
            period_d=round(period, 6),
            depth=round(float(rng.uniform(0.003, 0.03)), 6),
            t0_mjd=round(t_ref_mjd + float(rng.uniform(0.0, period)), 6),
            duration_d=round(duration, 6),
        )
    if kind == "eclipsing":
        period = float(np.exp(rng.uniform(np.log(0.5), np.log(10.0))))
        depth = float(rng.uniform(0.05, 0.4))
        return SignalModel(
            "eclipsing",
            period_d=round(period, 6),
            depth=round(depth, 6),
            t0_mjd=round(t_ref_mjd + float(rng.uniform(0.0, period)), 6),
            duration_d=round(period * float(rng.uniform(0.04, 0.1)), 6),
            secondary_depth=round(depth * float(rng.uniform(0.1, 0.9)), 6),
        )
    if kind == "pulsator":
        freqs, amps, phases = _pulsations(rng, 30.0)
        return SignalModel(
            "pulsator",
            t0_mjd=round(t_ref_mjd, 6),
            frequencies_cd=freqs,
            amplitudes_mmag=amps,
            phases=phases,
        )
    if kind == "rotation":
        # Spots: a fundamental and a weaker first harmonic.
        period = float(rng.uniform(0.5, 15.0))
        amp = round(float(rng.uniform(1.0, 15.0)), 3)
        phases = tuple(round(float(p), 4) for p in rng.uniform(0.0, 2.0 * np.pi, 2))
        return SignalModel(
            "rotation",
            period_d=round(period, 6),
            t0_mjd=round(t_ref_mjd, 6),
            frequencies_cd=(1.0 / period, 2.0 / period),
            amplitudes_mmag=(amp, round(0.3 * amp, 3)),
            phases=phases,
        )
    return SignalModel("constant")


def electrons_per_32s(channel: str, magnitude: float) -> float:
    """Mean white-light flux (e- per 32 s) of a star of this R (exo) or V (astero) magnitude."""
    if channel == "astero":
        return ASTERO_E32_AT_V12 * 10.0 ** (-0.4 * (magnitude - 12.0))
    return EXO_E32_AT_R12 * 10.0 ** (-0.4 * (magnitude - 12.0))


def noise_sigma(
    channel: str, flux_e32: np.ndarray | float, bg_e32: float, texp_s: np.ndarray
) -> np.ndarray:
    """Standard deviation (e- per 32 s) of points of exposure ``texp_s`` (32 or 512 s).

    A point sums n = texp/32 exposures and is reported per 32 s: photon and background noise fall
    as 1/sqrt(n) relative to the flux, and so does the floor.
    """
    n = np.asarray(texp_s, dtype=float) / 32.0
    flux = np.asarray(flux_e32, dtype=float)
    floor = ASTERO_FLOOR_32S if channel == "astero" else EXO_FLOOR_32S
    photon_var = (flux + bg_e32) / n  # per-32-s variance after averaging n exposures
    floor_var = (floor * flux) ** 2 / n
    return np.sqrt(photon_var + floor_var)
