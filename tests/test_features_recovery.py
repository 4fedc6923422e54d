"""Recovery of injected signals by the pulsation features (vo_node/features/periodogram.py and
classes.py), in process: no database, no server.

The light curves are generated here as ingest/sample/lightcurves.py ``simulate`` makes the
sample's, with the sample's own signal and noise models (ingest/sample/signals.py): a regular
CoRoT grid (512 s exoplanet channel, 32 s asteroseismology channel) with interior gaps, the
satellite's South Atlantic Anomaly crossing ~11% of every 103-minute orbit (flagged in STATUS,
left out as the archive leaves them out), hot-pixel events (flagged) and out-of-range readings
(flagged), a gain drift and an orbital systematic multiplying the flux, photon and floor noise,
and a few cosmic rays that STATUS missed (isolated bright points, not flagged). Everything
comes from numpy Generators seeded per star.

Injected S/N, the figure the requirement is stated in:

    S/N_injected = A / (sqrt(pi / N) * sigma)

A being the strongest injected semi-amplitude (mmag), N the number of good points handed to
``compute_features`` (STATUS 0), and sigma the white-noise standard deviation of one point
in mmag (``noise_sigma`` at the star's mean flux, times 2500 / ln 10 over that flux).
``sqrt(pi / N) * sigma`` is the expected mean amplitude of white noise in the amplitude
spectrum, so this is the S/N that the periodogram should measure, before the systematics.

Requirements (issue 8): for at least 95% of the pulsators with an injected S/N above 10, the
strongest injected frequency is among those extracted (within the frequency resolution 1/T)
with its amplitude within 10%; constant stars are rarely classified as pulsators (measured:
1 of 225, 0.4%; asserted: at most 2%). The measured figures are printed (``pytest -s``):
recovery, amplitude errors, the false-positive rate and the confusion matrix of the classes
against the truth. The population is computed once per module, on two processes.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from ingest.sample.lightcurves import ORBIT_D, SAA_WINDOW
from ingest.sample.signals import SignalModel, draw_signal, electrons_per_32s, noise_sigma
from vo_node.features.model import CLASSES, FeatureParams, Features
from vo_node.features.periodogram import (
    amplitude_spectrum,
    compute_features,
    frequency_grid,
    prepare,
)

SEED = 8008
DAY_S = 86400.0
MMAG_PER_LN = 2500.0 / math.log(10.0)
CADENCE_S = {"exo": 512.0, "astero": 32.0}
# The sample's kinds and the class each should get.
TRUTH = {
    "pulsator": "pulsator",
    "constant": "constant",
    "transit": "eclipsing",
    "eclipsing": "eclipsing",
    "rotation": "rotational",
}
# The population: (kind, channel, days, stars). 25 days at 512 s is ~3,900 points (~3,400
# good); 8 days at 32 s ~21,600.
POPULATION = (
    ("pulsator", "exo", 25.0, 200),
    ("constant", "exo", 25.0, 200),
    ("transit", "exo", 25.0, 40),
    ("eclipsing", "exo", 25.0, 40),
    ("rotation", "exo", 25.0, 40),
    ("pulsator", "astero", 8.0, 25),
    ("constant", "astero", 8.0, 25),
)
# Bounds asserted; measured when they were set (the -s output reports them): recovery 219 of
# 221 (99.1%; both misses at injected S/N 10-20, where the amplitude's own standard error is
# ~0.8 / S/N, i.e. 8% at S/N 10), constant -> pulsator 1 of 225 (0.4%: a noise peak at S/N
# 5.5 in an 8-day astero curve).
MIN_RECOVERY = 0.95
MAX_AMPLITUDE_ERROR = 0.10
MAX_FALSE_PULSATORS = 0.02
# Per-class share classified as the truth (recall). Measured here: pulsator 100%, eclipsing
# 100%, rotational 100%, constant 99.6%. On the 1,000 25-day stars that the thresholds of
# classes.py were tuned on (other seeds), 11 of 200 transits were missed, 9 of them shallow
# ones on faint stars that came out constant; hence the margins.
MIN_RECALL = {"pulsator": 0.95, "eclipsing": 0.85, "rotational": 0.9, "constant": 0.97}


@dataclass(frozen=True)
class Simulated:
    """One generated light curve: every grid row that exists, with its flags."""

    time: np.ndarray  # barycentric MJD
    flux: np.ndarray  # e- per 32 s
    status: np.ndarray  # 0 = good; 1 out of range, 4 SAA, 8 hot pixel
    signal: SignalModel
    sigma_mmag: float  # white noise of one point at the mean flux, mmag

    @property
    def good(self) -> tuple[np.ndarray, np.ndarray]:
        """The points the archive computes features from: STATUS 0, finite."""
        keep = (self.status == 0) & np.isfinite(self.time) & np.isfinite(self.flux)
        return self.time[keep], self.flux[keep]

    def injected_snr(self) -> float:
        """The strongest injected amplitude over the expected mean noise amplitude (0 for a
        signal without sinusoids)."""
        if not self.signal.amplitudes_mmag:
            return 0.0
        n = self.good[0].size
        return self.signal.amplitudes_mmag[0] / (math.sqrt(math.pi / n) * self.sigma_mmag)


def _draw(rng: np.random.Generator, channel: str, kind: str, t_ref: float) -> SignalModel:
    """A signal of the sample's kind ``kind``, drawn as the sample draws it."""
    while True:
        signal = draw_signal(rng, channel, t_ref)
        if signal.kind == kind:
            return signal


def simulate(
    rng: np.random.Generator,
    channel: str,
    days: float,
    signal: SignalModel | str,
    start: float | None = None,
) -> Simulated:
    """A light curve of ``days`` in ``channel`` from MJD ``start`` (drawn if None), with
    ``signal``: a model, or a sample kind to draw one of (its zero point: the start)."""
    cadence = CADENCE_S[channel]
    t_ref = 54500.0 + float(rng.uniform(0.0, 1500.0)) if start is None else start
    if isinstance(signal, str):
        signal = _draw(rng, channel, signal, t_ref)
    if channel == "exo":  # catalogue.py: counts rise towards faint stars, R 11-16
        magnitude = 11.0 + math.log10(1.0 + rng.random() * (10**1.5 - 1.0)) / 0.3
        bg0 = float(rng.uniform(80, 600))
    else:  # V 5.5-9.45
        magnitude = float(rng.uniform(5.5, 9.45))
        bg0 = float(rng.uniform(500, 3000))
    offsets = np.arange(0.0, days * DAY_S + 1.0, cadence)
    time = t_ref + offsets / DAY_S
    t_days = offsets / DAY_S
    n = time.size
    exists = np.ones(n, dtype=bool)
    for _ in range(int(rng.integers(1, 4))):  # interior gaps, each under 5% of the span
        length = min(float(rng.uniform(0.02, 0.3)), 0.05 * days)
        begin = float(rng.uniform(0.05, 0.95)) * days - length / 2
        exists &= ~((t_days >= begin) & (t_days < begin + length))

    # Systematics as in simulate(): a gain drift and a weak orbital term.
    drift = 1.0 - rng.uniform(0.002, 0.01) * (1.0 - np.exp(-t_days / rng.uniform(15, 60)))
    orbital = 1.0 + rng.uniform(5e-5, 2e-4) * np.sin(
        2.0 * np.pi * t_days / ORBIT_D + rng.uniform(0, 2 * np.pi)
    )
    mean = electrons_per_32s(channel, magnitude)
    model = mean * signal.relative_flux(time) * drift * orbital
    in_saa = ((t_days / ORBIT_D + rng.uniform()) % 1.0) < SAA_WINDOW
    status = np.where(in_saa, 4, 0)
    extra = np.zeros(n)
    for _ in range(int(rng.poisson(0.7))):  # hot pixels: a decaying excess, flagged
        t0, length = rng.uniform(0.05, 0.95) * days, rng.uniform(0.05, 0.5)
        hit = (t_days >= t0) & (t_days < t0 + length)
        extra += np.where(hit, rng.uniform(0.003, 0.02) * np.exp(-(t_days - t0) / length), 0)
        status[hit] |= 8
    sigma = noise_sigma(channel, model, bg0, np.full(n, cadence))
    flux = model * (1.0 + extra) + rng.normal(0.0, 1.0, n) * sigma * np.where(in_saa, 3.0, 1.0)
    # Cosmic rays that STATUS missed: isolated bright points, left for the clipping.
    cosmic = rng.random(n) < 3e-4
    flux = np.where(cosmic, flux + mean * rng.uniform(0.002, 0.02, n), flux)
    wild = rng.random(n) < 3e-4  # out-of-range readings, flagged
    flux = np.where(wild, mean * rng.uniform(3.0, 30.0, n), flux)
    status[wild] |= 1
    sigma_mean = float(noise_sigma(channel, mean, bg0, np.array([cadence]))[0])
    return Simulated(
        time[exists], flux[exists], status[exists], signal, MMAG_PER_LN * sigma_mean / mean
    )


@dataclass(frozen=True)
class Outcome:
    """What the population test keeps of one star."""

    kind: str
    channel: str
    signal: SignalModel
    injected_snr: float
    features: Features


def _star(job: tuple[str, str, float, int]) -> Outcome:
    kind, channel, days, index = job
    rng = np.random.default_rng([SEED, list(TRUTH).index(kind), len(channel), index])
    curve = simulate(rng, channel, days, kind)
    time, flux = curve.good
    return Outcome(kind, channel, curve.signal, curve.injected_snr(), compute_features(time, flux))


@pytest.fixture(scope="module")
def population() -> Iterator[list[Outcome]]:
    """Every star of POPULATION with its features, computed on two spawned processes with
    one BLAS thread each: OpenBLAS's own threads, spinning for the small products of the
    least-squares fits, would make two workers on two cores slower by half."""
    jobs = [
        (kind, channel, days, i) for kind, channel, days, count in POPULATION for i in range(count)
    ]
    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # read by the workers' numpy when it loads
    try:
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            outcomes = pool.map(_star, jobs, chunksize=8)
    finally:
        if saved is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = saved
    yield outcomes


def _matched(outcome: Outcome) -> tuple[bool, float | None]:
    """Whether the strongest injected frequency was recovered (within 1/T, amplitude within
    MAX_AMPLITUDE_ERROR), and the relative amplitude error of the nearest match."""
    features = outcome.features
    assert features.time_span is not None
    injected = outcome.signal.frequencies_cd[0]
    near = [
        f for f in features.frequencies if abs(f.frequency - injected) <= 1.0 / features.time_span
    ]
    if not near:
        return False, None
    best = min(near, key=lambda f: abs(f.frequency - injected))
    error = best.amplitude / outcome.signal.amplitudes_mmag[0] - 1.0
    return abs(error) <= MAX_AMPLITUDE_ERROR, error


def test_pulsators_above_snr_10_are_recovered(population: list[Outcome]) -> None:
    pulsators = [o for o in population if o.kind == "pulsator"]
    strong = [o for o in pulsators if o.injected_snr > 10.0]
    results = [_matched(o) for o in strong]
    recovered = sum(ok for ok, _ in results)
    errors = np.array([e for _, e in results if e is not None])
    share = recovered / len(strong)
    print(
        f"\nrecovery: {recovered} of {len(strong)} pulsators with injected S/N > 10 "
        f"({100 * share:.1f}%): strongest frequency within 1/T, amplitude within "
        f"{100 * MAX_AMPLITUDE_ERROR:.0f}% ({len(pulsators) - len(strong)} more below S/N 10)"
    )
    print(
        "amplitude error (extracted / injected - 1), percentiles 0/5/50/95/100: "
        + " / ".join(f"{100 * q:+.2f}%" for q in np.percentile(errors, [0, 5, 50, 95, 100]))
        + f"; |error| median {100 * np.median(np.abs(errors)):.2f}%"
    )
    by_snr = {"10-20": (10, 20), "20-100": (20, 100), ">100": (100, math.inf)}
    for label, (low, high) in by_snr.items():
        chosen = [
            ok for o, (ok, _) in zip(strong, results, strict=True) if low < o.injected_snr <= high
        ]
        if chosen:
            print(f"   injected S/N {label}: {sum(chosen)} of {len(chosen)} recovered")
    weak = [o for o in pulsators if o.injected_snr <= 10.0]
    if weak:
        print(f"   injected S/N <= 10: {sum(_matched(o)[0] for o in weak)} of {len(weak)}")
    assert len(strong) >= 150
    assert share >= MIN_RECOVERY


def test_classes_against_the_truth(population: list[Outcome]) -> None:
    confusion: Counter[tuple[str, str | None]] = Counter(
        (o.kind, o.features.var_class) for o in population
    )
    header = "truth \\ class".ljust(22) + "".join(c.rjust(12) for c in CLASSES)
    print("\n" + header)
    for kind in TRUTH:
        row = [confusion[(kind, c)] for c in CLASSES]
        if sum(row):
            print(f"{kind} ({TRUTH[kind]})".ljust(22) + "".join(str(x).rjust(12) for x in row))
    constants = [o for o in population if o.kind == "constant"]
    false = sum(o.features.var_class == "pulsator" for o in constants)
    rate = false / len(constants)
    print(
        f"false positives: {false} of {len(constants)} constant stars classified as "
        f"pulsators ({100 * rate:.1f}%)"
    )
    assert rate <= MAX_FALSE_PULSATORS
    for cls, minimum in MIN_RECALL.items():
        truths = [o for o in population if TRUTH[o.kind] == cls]
        recall = sum(o.features.var_class == cls for o in truths) / len(truths)
        print(f"   recall {cls}: {100 * recall:.1f}% of {len(truths)}")
        assert recall >= minimum, cls


# -- single light curves ----------------------------------------------------------------------


def _grid_times(rng: np.random.Generator, days: float, cadence_s: float) -> np.ndarray:
    """Good times of a CoRoT-like grid from MJD 55000: SAA crossings left out."""
    t_days = np.arange(0.0, days * DAY_S + 1.0, cadence_s) / DAY_S
    keep = ((t_days / ORBIT_D + rng.uniform()) % 1.0) >= SAA_WINDOW
    return 55000.0 + t_days[keep]


def _flux(mmag: np.ndarray) -> np.ndarray:
    """Fluxes (e- per 32 s) of magnitudes in mmag relative to 1e6 e-: positive is fainter."""
    return 1e6 * 10.0 ** (-0.4 * mmag / 1000.0)


def test_amplitude_spectrum_is_in_semi_amplitudes() -> None:
    """sqrt(4 P / N) of astropy's psd power: a sinusoid's semi-amplitude at its peak, white
    noise's sqrt(pi / N) sigma on average."""
    rng = np.random.default_rng([SEED, 1])
    time = _grid_times(rng, 25.0, 512.0)
    sigma, amplitude, frequency = 1.0, 5.0, 11.3
    mmag = amplitude * np.sin(2 * np.pi * frequency * time + 0.7) + rng.normal(0, sigma, time.size)
    series = prepare(time, _flux(mmag))
    assert series is not None
    grid, spectrum = amplitude_spectrum(series)
    peak = int(np.argmax(spectrum))
    assert abs(grid[peak] - frequency) <= grid[1] - grid[0]
    assert spectrum[peak] == pytest.approx(amplitude, rel=0.03)
    # The noise alone: around a sinusoid, its leakage through the window (sidelobes, the
    # aliases of the orbital gaps) adds to the noise.
    noise_only = prepare(time, _flux(mmag - amplitude * np.sin(2 * np.pi * frequency * time + 0.7)))
    assert noise_only is not None
    mean_noise = float(amplitude_spectrum(noise_only)[1].mean())
    expected_noise = math.sqrt(math.pi / series.n) * sigma
    print(
        f"\npeak {spectrum[peak]:.3f} mmag for {amplitude} injected; mean noise amplitude "
        f"{mean_noise:.4f} mmag, sqrt(pi/N) sigma = {expected_noise:.4f}"
    )
    assert mean_noise == pytest.approx(expected_noise, rel=0.05)


def test_false_alarm_probability_of_noise() -> None:
    """Baluev's FAP of the highest peak: about uniform on white noise, tiny on a signal."""
    rng = np.random.default_rng([SEED, 10])
    faps: list[float] = []
    for _ in range(20):
        time = _grid_times(rng, 25.0, 512.0)
        fap = compute_features(time, _flux(rng.normal(0, 1, time.size))).fap
        assert fap is not None
        faps.append(fap)
    print(f"\nFAP of white noise, 20 curves: min {min(faps):.3f}, median {np.median(faps):.3f}")
    assert min(faps) > 1e-4
    assert np.median(faps) > 0.2


def test_frequency_grid_bounds() -> None:
    rng = np.random.default_rng([SEED, 2])
    params = FeatureParams()
    for cadence, top in ((512.0, 0.5 * DAY_S / 512.0), (32.0, params.max_frequency)):
        time = _grid_times(rng, 10.0, cadence)
        series = prepare(time, _flux(rng.normal(0, 1, time.size)), params)
        assert series is not None
        grid = frequency_grid(series, params)
        span = series.span
        assert grid[0] == pytest.approx(1.0 / span)
        assert np.allclose(np.diff(grid), 1.0 / (params.oversampling * span))
        assert top - 1.0 / (params.oversampling * span) < grid[-1] <= top


def test_phases_of_clean_sinusoids() -> None:
    """The convention of model.Frequency: mmag = A sin(2 pi f (t - epoch) + phase)."""
    rng = np.random.default_rng([SEED, 3])
    time = _grid_times(rng, 25.0, 512.0)
    t0 = 54990.3  # any reference: the phases are converted to the features' epoch
    injected = ((7.31, 10.0, 1.0), (17.93, 4.0, 5.5))  # frequency, amplitude, phase at t0
    mmag = sum(a * np.sin(2 * np.pi * f * (time - t0) + p) for f, a, p in injected)
    mmag = mmag + rng.normal(0, 0.05, time.size)
    features = compute_features(time, _flux(mmag))
    assert features.epoch is not None and features.epoch == time[0]
    assert features.var_class == "pulsator"
    assert features.fap is not None and features.fap < 1e-10
    for (f, a, p), found in zip(injected, features.frequencies[:2], strict=True):
        expected = (p + 2 * np.pi * f * (features.epoch - t0)) % (2 * np.pi)
        error = (found.phase - expected + np.pi) % (2 * np.pi) - np.pi
        print(
            f"\nf {found.frequency:.6f} (injected {f}), A {found.amplitude:.4f} ({a}), "
            f"phase {found.phase:.4f} (expected {expected:.4f}), S/N {found.snr:.0f}"
        )
        assert 0.0 <= found.phase < 2 * np.pi
        assert found.frequency == pytest.approx(f, abs=1e-4)
        assert found.amplitude == pytest.approx(a, rel=0.002)
        assert abs(error) < 0.005


def test_phase_of_a_sample_pulsator() -> None:
    """The sample's models are brightenings (flux = exp(ln10/2500 mmag)): in magnitudes, a
    phase p at t0 is p + pi at t0."""
    rng = np.random.default_rng([SEED, 4])
    start = 55100.0
    signal = SignalModel(
        "pulsator", t0_mjd=start, frequencies_cd=(12.345,), amplitudes_mmag=(8.0,), phases=(2.0,)
    )
    curve = simulate(rng, "exo", 25.0, signal, start=start)
    features = compute_features(*curve.good)
    assert features.epoch is not None
    top = features.frequencies[0]
    expected = (2.0 + np.pi + 2 * np.pi * 12.345 * (features.epoch - start)) % (2 * np.pi)
    error = (top.phase - expected + np.pi) % (2 * np.pi) - np.pi
    assert abs(top.frequency - 12.345) < 0.01 / features.time_span  # type: ignore[operator]
    assert abs(error) < 0.05


def test_harmonics_of_a_spotted_star() -> None:
    rng = np.random.default_rng([SEED, 5])
    start = 55200.0
    signal = SignalModel(
        "rotation",
        period_d=2.5,
        t0_mjd=start,
        frequencies_cd=(0.4, 0.8),
        amplitudes_mmag=(8.0, 2.4),
        phases=(0.3, 4.0),
    )
    features = compute_features(*simulate(rng, "exo", 25.0, signal, start=start).good)
    by_frequency = {round(f.frequency, 1): f for f in features.frequencies}
    assert by_frequency[0.4].rank == 1 and by_frequency[0.4].harmonic_of is None
    assert by_frequency[0.8].harmonic_of == 1
    assert features.var_class == "rotational"


def test_harmonics_of_an_eclipsing_binary() -> None:
    rng = np.random.default_rng([SEED, 6])
    start, period = 55300.0, 1.7
    signal = SignalModel(
        "eclipsing",
        period_d=period,
        depth=0.2,
        t0_mjd=start + 0.4,
        duration_d=0.12,
        secondary_depth=0.08,
    )
    features = compute_features(*simulate(rng, "exo", 25.0, signal, start=start).good)
    assert features.var_class == "eclipsing"
    assert features.skewness is not None and features.skewness > 1.0
    assert features.time_span is not None
    resolution = 1.0 / features.time_span
    flagged = [f for f in features.frequencies if f.harmonic_of is not None]
    assert len(flagged) >= 2
    for f in features.frequencies:  # all of them harmonics of the orbit
        n = round(f.frequency * period)
        assert n >= 1 and abs(f.frequency - n / period) <= resolution
    for f in flagged:
        base = features.frequencies[f.harmonic_of - 1]  # type: ignore[operator]
        n = round(f.frequency / base.frequency)
        assert n >= 2 and abs(f.frequency - n * base.frequency) <= resolution


def test_outliers_clipped_eclipses_kept() -> None:
    """Isolated points are clipped; the points of an eclipse, far from the median but
    following each other, stay in."""
    rng = np.random.default_rng([SEED, 7])
    time = _grid_times(rng, 10.0, 512.0)
    signal = SignalModel(
        "eclipsing", period_d=2.0, depth=0.3, t0_mjd=55001.0, duration_d=0.2, secondary_depth=0.1
    )
    flux = 1e6 * signal.relative_flux(time) * (1.0 + rng.normal(0, 5e-4, time.size))
    spikes = rng.choice(np.flatnonzero(signal.relative_flux(time) == 1.0), 3, replace=False)
    flux[spikes] *= 1.05  # cosmic rays: 50 mmag brighter, ~100 sigma
    series = prepare(time, flux)
    assert series is not None
    assert series.n == time.size - 3
    assert not np.isin(time[spikes], series.mjd).any()
    depth_mmag = -2500.0 * math.log10(0.7)
    assert series.mmag.max() - np.median(series.mmag) == pytest.approx(depth_mmag, rel=0.02)


def test_too_few_points() -> None:
    rng = np.random.default_rng([SEED, 8])
    time = 55000.0 + np.arange(150) * 512.0 / DAY_S
    flux = _flux(rng.normal(0, 1, time.size))
    flux[:60] = np.nan  # not good points: the caller should not pass them, but may
    flux[60:70] = -5.0
    features = compute_features(time, flux)
    assert features == Features(80, None, None, (), None, None, None, None, None, None)
    assert compute_features(np.empty(0), np.empty(0)).n_used == 0
    assert prepare(time, flux) is None
    assert compute_features(time[60:], flux[60:], FeatureParams(min_points=50)).var_class


def test_deterministic_and_order_free() -> None:
    rng = np.random.default_rng([SEED, 9])
    time, flux = simulate(rng, "exo", 20.0, "pulsator").good
    first = compute_features(time, flux)
    assert compute_features(time, flux) == first
    order = rng.permutation(time.size)
    assert compute_features(time[order], flux[order]) == first
