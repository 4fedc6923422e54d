"""The pulsation features of one light curve: its amplitude spectrum, the frequencies found by
prewhitening, and the summary statistics of :class:`~vo_node.features.model.Features`.

Pure computation on arrays: numpy and astropy only. Must not import Flask, psycopg or
anything that touches the database or the files (the caller reads the good points: finite
time and flux, ``STATUS`` 0).

The steps, each a function:

1. :func:`prepare`: fluxes to mmag (magnitudes: positive is fainter) relative to the median,
   sorted in time, a polynomial in time removed, isolated outliers clipped (against their
   neighbours, not the median: a clip around the median would take eclipses and transits
   for outliers), the polynomial fitted again without them.
2. :func:`frequency_grid` and :func:`amplitude_spectrum`: the Lomb-Scargle periodogram of
   astropy (floating mean, ``method="fast"``: Press & Rybicki's extirpolation and an FFT) on a
   regular grid from 1/T to the pseudo-Nyquist frequency, as semi-amplitudes in mmag.
3. :func:`compute_features`: prewhitening. The highest peak of the residuals' spectrum, its
   frequency refined, then every frequency found so far fitted at once by nonlinear least
   squares (Gauss-Newton on frequencies, amplitudes and phases) and subtracted; stop at the
   first peak whose S/N in the residuals after its own removal is below ``min_snr``. The S/N
   reported are those against the final residuals' spectrum.

The amplitude of a periodogram peak. With ``normalization="psd"`` and no uncertainties,
astropy's power is ``P = (YC^2/CC + YS^2/SS) / 2`` in unnormalised sums (Zechmeister & Kurster
2009), which for a sinusoid of semi-amplitude A sampled at N roughly even points is
``N A^2 / 4``; hence ``A = sqrt(4 P / N)``. White noise of standard deviation sigma then has a
mean amplitude of ``sigma sqrt(pi / N)`` (P is exponentially distributed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from astropy.timeseries import LombScargle
from numpy.lib.stride_tricks import sliding_window_view

from vo_node.features.classes import classify, frequency_kinds
from vo_node.features.model import DEFAULT_PARAMS, FeatureParams, Features, Frequency

MMAG_PER_LN = 2500.0 / np.log(10.0)  # d(mmag) / d(ln flux), up to the sign
# An outlier is judged against this many neighbours on each side (see _isolated_outliers).
OUTLIER_NEIGHBOURS = 2
# Time samples per cycle of the highest frequency in astropy's extirpolation (its trig_sum
# ``oversampling``, astropy's default; the FFT length is the next power of two above this x
# the grid's length, so the effective figure lies between 5 and 10). Against the exact
# Lomb-Scargle: errors of ~0.5% of the mean noise amplitude near the pseudo-Nyquist frequency
# (~4% at worst), far less below; 4 would be ~10 times worse.
EXTIRPOLATION_OVERSAMPLING = 5
# A new frequency is searched for outside this many resolutions (1/T) of those found: closer,
# it would be left over from one of them (a slightly wrong frequency, a changing amplitude),
# and fitting two unresolved sinusoids gives huge amplitudes that cancel (Loumos & Deeming
# 1978: peaks closer than 1.5/T are not resolved).
MIN_SEPARATION_RESOLUTIONS = 1.5
# Most Gauss-Newton iterations of the joint fit after each new frequency (it converges in
# two or three: the starting frequencies are within a fraction of a resolution), and the
# frequency change (in resolutions 1/T) below which it has converged: a phase error of
# pi x 1e-4 rad at the ends of the light curve, far below the statistical errors.
FIT_ITERATIONS = 6
CONVERGED_RESOLUTIONS = 1e-4
# A Gauss-Newton step moves no frequency by more than MAX_STEP_RESOLUTIONS frequency
# resolutions (1/T), nor further than MAX_DRIFT_RESOLUTIONS from where the fit started: it
# refines a peak, it must not wander to the next one.
MAX_STEP_RESOLUTIONS = 0.25
MAX_DRIFT_RESOLUTIONS = 0.5
# ``harmonic_of``: n f within 1/T, for 2 <= n <= HARMONIC_MAX_ORDER, of a lower frequency f
# that completes at least HARMONIC_MIN_CYCLES cycles over the light curve. At a tolerance of
# 1/T, the multiples of a frequency of a few 1/T would match about any higher one by chance.
HARMONIC_MAX_ORDER = 10
HARMONIC_MIN_CYCLES = 4.0


@dataclass(frozen=True, eq=False)
class Series:
    """A prepared light curve: what every spectrum of :mod:`periodogram` is computed from."""

    days: np.ndarray  # time since ``epoch``, days, increasing
    mmag: np.ndarray  # detrended magnitude, mmag (positive = fainter)
    epoch: float  # MJD of the first point used (same time scale as the input)

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.days.size)

    @property
    def span(self) -> float:
        """T, days between the first and the last point."""
        return float(self.days[-1] - self.days[0])

    @property
    def mjd(self) -> np.ndarray:
        """The times of the points, MJD."""
        return self.epoch + self.days


def _trend(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares polynomial of ``degree`` in ``x`` (already in [-1, 1]) evaluated at x."""
    coefficients = np.polynomial.legendre.legfit(x, y, degree)
    return np.asarray(np.polynomial.legendre.legval(x, coefficients))


def _robust_sigma(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation: the standard deviation of Gaussian values."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def _isolated_outliers(y: np.ndarray, clip_sigma: float) -> np.ndarray:
    """Points lying more than ``clip_sigma`` robust sigma (of the point-to-point scatter)
    outside the range of their ``OUTLIER_NEIGHBOURS`` neighbours on each side.

    A plain clip around the curve's median would cut away the eclipses and transits, whose
    points lie far from the median but follow each other; a point of an ingress or of an
    eclipse's flat bottom lies within its neighbours' range, a cosmic ray far above it. The
    scatter is that of successive differences, which a fast pulsation inflates, so that the
    crests of a sinusoid sampled a few times a cycle are not taken for outliers either."""
    half = OUTLIER_NEIGHBOURS
    if y.size <= 2 * half:
        return np.zeros(y.size, dtype=bool)
    sigma = _robust_sigma(np.diff(y)) / np.sqrt(2.0)
    if sigma == 0.0:
        return np.zeros(y.size, dtype=bool)
    window = sliding_window_view(np.pad(y, half, mode="reflect"), 2 * half + 1)
    neighbours = np.delete(window, half, axis=1)
    excess = np.maximum(y - neighbours.max(axis=1), neighbours.min(axis=1) - y)
    return np.asarray(excess > clip_sigma * sigma)


def prepare(
    time_mjd: np.ndarray, flux: np.ndarray, params: FeatureParams = DEFAULT_PARAMS
) -> Series | None:
    """The detrended magnitudes of the good points, or None if fewer than
    ``params.min_points`` remain (or they span no time at all).

    ``time_mjd`` and ``flux`` are the good points (finite, ``STATUS`` 0). Non-positive fluxes
    are dropped; ``m = -2500 log10(flux / median(flux))``; a polynomial of degree
    ``params.detrend_degree`` in time is removed, points further than ``params.clip_sigma``
    robust standard deviations (1.4826 x MAD of the successive differences, over sqrt 2)
    outside the range of their neighbours are left out, and the polynomial is fitted again to
    the others. The outlier test is local (isolated points, as cosmic rays are) so that
    eclipses and transits stay in.
    """
    return _prepared(time_mjd, flux, params)[0]


def _prepared(
    time_mjd: np.ndarray, flux: np.ndarray, params: FeatureParams
) -> tuple[Series | None, int]:
    """:func:`prepare`, and the number of points it kept (or had when it gave up)."""
    t = np.asarray(time_mjd, dtype=float)
    f = np.asarray(flux, dtype=float)
    keep = np.isfinite(t) & np.isfinite(f) & (f > 0.0)
    t, f = t[keep], f[keep]
    if t.size < params.min_points or t.max() <= t.min():
        return None, int(t.size)
    order = np.argsort(t, kind="stable")
    t, f = t[order], f[order]
    mmag = -MMAG_PER_LN * np.log(f / np.median(f))
    x = 2.0 * (t - t[0]) / (t[-1] - t[0]) - 1.0  # scaled time: a well-conditioned fit
    degree = max(params.detrend_degree, 0)
    residual = mmag - _trend(x, mmag, degree)
    good = ~_isolated_outliers(residual, params.clip_sigma)
    t, x, mmag = t[good], x[good], mmag[good]
    if t.size < params.min_points or t[-1] <= t[0]:
        return None, int(t.size)
    residual = mmag - _trend(x, mmag, degree)
    return Series(days=t - t[0], mmag=residual, epoch=float(t[0])), int(t.size)


def frequency_grid(series: Series, params: FeatureParams = DEFAULT_PARAMS) -> np.ndarray:
    """The regular grid of every spectrum (c/d): from 1/T to the lower of
    ``params.max_frequency`` and 0.5 / median step, in steps of 1/(oversampling T).
    Empty if the light curve is too short or too sparse for one."""
    span = series.span
    steps = np.diff(series.days)
    steps = steps[steps > 0.0]
    if span <= 0.0 or steps.size == 0:
        return np.empty(0)
    low = 1.0 / span
    high = min(params.max_frequency, 0.5 / float(np.median(steps)))
    step = 1.0 / (params.oversampling * span)
    if high <= low:
        return np.empty(0)
    return low + step * np.arange(int(np.floor((high - low) / step)) + 1)


def _amplitudes(days: np.ndarray, values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Semi-amplitude spectrum (mmag) of ``values`` on the regular ``grid``.

    When the grid continues a grid from 0 (it does: 1/T is ``oversampling`` steps), the
    spectrum is computed from 0 and the first steps dropped: astropy's extirpolation then
    takes a real FFT, without the complex shift a grid from f0 > 0 needs, about three times
    faster. (The power at 0 itself is 0/0 with a floating mean, hence the errstate.)"""
    step = float(grid[1] - grid[0])
    lead = round(float(grid[0]) / step)
    if lead >= 1 and abs(grid[0] - lead * step) < 1e-9 * step * lead:
        frequencies = step * np.arange(grid.size + lead)
    else:
        frequencies, lead = grid, 0
    periodogram = LombScargle(days, values, fit_mean=True, center_data=True, normalization="psd")
    with np.errstate(divide="ignore", invalid="ignore"):
        power = periodogram.power(
            frequencies,
            method="fast",
            assume_regular_frequency=True,
            method_kwds={
                "algorithm": "fasper",
                "trig_sum_kwds": {"oversampling": EXTIRPOLATION_OVERSAMPLING},
            },
        )
    power = np.asarray(power, dtype=float)[lead:]
    # Extirpolation can leave a power a hair below zero where the true one is ~0.
    return np.sqrt(4.0 * np.clip(power, 0.0, None) / days.size)


def amplitude_spectrum(
    series: Series, params: FeatureParams = DEFAULT_PARAMS
) -> tuple[np.ndarray, np.ndarray]:
    """(frequency c/d, semi-amplitude mmag) of the prepared light curve on
    :func:`frequency_grid`: what the product page plots and the #derivation document holds."""
    grid = frequency_grid(series, params)
    if grid.size == 0:
        return grid, np.empty(0)
    return grid, _amplitudes(series.days, series.mmag, grid)


# -- prewhitening -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Fit:
    """Sinusoids fitted to the series: ``offset + sum(a sin(w tc) + b cos(w tc))``, tc being
    the time from the middle of the light curve (where frequency and phase decorrelate)."""

    frequencies: np.ndarray
    sin: np.ndarray
    cos: np.ndarray
    residual: np.ndarray

    @property
    def amplitudes(self) -> np.ndarray:
        return np.asarray(np.hypot(self.sin, self.cos))


def _solve(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of ``design @ c = y``: normal equations, scaled to unit
    diagonal (a few columns, thousands of rows: much faster than an SVD), lstsq if they are
    singular."""
    gram = design.T @ design
    norms = np.sqrt(np.diag(gram))
    norms[norms == 0.0] = 1.0
    try:
        scaled = np.linalg.solve(gram / np.outer(norms, norms), (design.T @ y) / norms)
        return np.asarray(scaled / norms)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.lstsq(design, y, rcond=None)[0])


def _design(tc: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Columns 1, sin(w tc) for each frequency, cos(w tc) for each frequency."""
    angle = 2.0 * np.pi * np.outer(tc, freqs)
    design = np.empty((tc.size, 1 + 2 * freqs.size))
    design[:, 0] = 1.0
    np.sin(angle, out=design[:, 1 : 1 + freqs.size])
    np.cos(angle, out=design[:, 1 + freqs.size :])
    return design


def _fit(
    tc: np.ndarray,
    y: np.ndarray,
    start: np.ndarray,
    origin: np.ndarray,
    resolution: float,
    iterations: int,
) -> _Fit:
    """Frequencies, amplitudes and phases of ``len(start)`` sinusoids and a constant by
    least squares: linear at ``start``, then Gauss-Newton steps on all parameters (each
    frequency moved by at most ``MAX_STEP_RESOLUTIONS`` x ``resolution`` a step, and kept
    within ``MAX_DRIFT_RESOLUTIONS`` x ``resolution`` of its ``origin``: the peak it was
    found at), a step halved while it does not lower the sum of squares; the amplitudes and
    phases of each trial solved linearly at its frequencies."""
    k = start.size
    freqs = start.copy()
    design = _design(tc, freqs)
    coefficients = _solve(design, y)
    residual = y - design @ coefficients
    chi2 = float(residual @ residual)
    max_step = MAX_STEP_RESOLUTIONS * resolution
    low = origin - MAX_DRIFT_RESOLUTIONS * resolution
    high = origin + MAX_DRIFT_RESOLUTIONS * resolution
    for _ in range(iterations):
        a, b = coefficients[1 : k + 1], coefficients[k + 1 :]
        s, c = design[:, 1 : k + 1], design[:, k + 1 :]
        derivative = 2.0 * np.pi * tc[:, None] * (a * c - b * s)  # d model / d f
        step = _solve(np.hstack([design, derivative]), residual)
        df = np.clip(step[2 * k + 1 :], -max_step, max_step)
        for _halving in range(4):
            trial = np.clip(freqs + df, low, high)
            trial_design = _design(tc, trial)
            trial_coefficients = _solve(trial_design, y)
            trial_residual = y - trial_design @ trial_coefficients
            trial_chi2 = float(trial_residual @ trial_residual)
            if trial_chi2 < chi2:
                break
            df = df / 2.0
        else:
            break  # no step lowers the sum of squares: at the minimum
        converged = bool(np.all(np.abs(trial - freqs) < CONVERGED_RESOLUTIONS * resolution))
        freqs, design, coefficients = trial, trial_design, trial_coefficients
        residual, chi2 = trial_residual, trial_chi2
        if converged:
            break
    return _Fit(freqs, coefficients[1 : k + 1], coefficients[k + 1 :], residual)


def _peak(grid: np.ndarray, amplitude: np.ndarray) -> float:
    """Frequency of the highest peak, refined by a parabola through the three grid points
    around it (in power, whose peak is nearly parabolic)."""
    i = int(np.argmax(amplitude))
    if 0 < i < grid.size - 1:
        left, centre, right = amplitude[i - 1 : i + 2] ** 2
        curvature = left - 2.0 * centre + right
        if curvature < 0.0:
            shift = 0.5 * (left - right) / curvature
            return float(grid[i] + shift * (grid[1] - grid[0]))
    return float(grid[i])


def _window_means(
    grid: np.ndarray, amplitude: np.ndarray, centres: np.ndarray, width: float
) -> np.ndarray:
    """Mean of ``amplitude`` over ``grid`` within ``width``/2 of each centre."""
    cumulative = np.concatenate([[0.0], np.cumsum(amplitude)])
    lo = np.searchsorted(grid, centres - width / 2.0, side="left")
    hi = np.searchsorted(grid, centres + width / 2.0, side="right")
    hi = np.maximum(hi, lo + 1)  # at least one grid point
    lo = np.minimum(lo, grid.size - 1)
    hi = np.minimum(hi, grid.size)
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def _harmonics(freqs: np.ndarray, resolution: float) -> list[int | None]:
    """For each frequency, the rank of the first-extracted lower frequency it is an n-th
    harmonic of (see HARMONIC_MAX_ORDER), else None."""
    found: list[int | None] = []
    for f in freqs:
        base: int | None = None
        for rank, g in enumerate(freqs, start=1):
            if g >= f or g < HARMONIC_MIN_CYCLES * resolution:
                continue
            n = round(f / g)
            if 2 <= n <= HARMONIC_MAX_ORDER and abs(f - n * g) <= resolution:
                base = rank
                break
        found.append(base)
    return found


def _too_few(n_used: int) -> Features:
    """The features of a light curve too short for a periodogram: no statistics, no class."""
    return Features(n_used, None, None, (), None, None, None, None, None, None)


def _false_alarm(series: Series, grid: np.ndarray, peak_amplitude: float) -> float:
    """Baluev (2008) false-alarm probability of the first spectrum's highest peak.

    astropy's ``psd`` normalisation with uncertainties is Baluev's z; with every uncertainty
    the light curve's standard deviation (the null hypothesis: noise only), z is our power
    over the variance. This asymptotic form (no scipy needed) equals the ``standard`` one for
    the thousands of points of a light curve."""
    sigma = float(np.std(series.mmag))
    if sigma == 0.0:
        return 1.0
    periodogram = LombScargle(
        series.days, series.mmag, dy=sigma, fit_mean=True, center_data=True, normalization="psd"
    )
    z = series.n * peak_amplitude**2 / 4.0 / sigma**2
    fap = periodogram.false_alarm_probability(
        z, method="baluev", minimum_frequency=grid[0], maximum_frequency=grid[-1]
    )
    return float(np.clip(fap, 0.0, 1.0))


def _statistics(mmag: np.ndarray) -> tuple[float, float, float, float]:
    """(total amplitude, rms, point-to-point noise, skewness) of the detrended curve."""
    low, high = np.percentile(mmag, [1.0, 99.0])
    rms = float(np.std(mmag))
    # Robust point-to-point scatter: slow signals cancel in successive differences, and the
    # MAD ignores the jumps at gaps and the few points of an eclipse's ingress.
    noise = _robust_sigma(np.diff(mmag)) / np.sqrt(2.0)
    centred = mmag - mmag.mean()
    skewness = float(np.mean(centred**3) / rms**3) if rms > 0.0 else 0.0
    return float(high - low), rms, float(noise), skewness


def compute_features(
    time_mjd: np.ndarray, flux: np.ndarray, params: FeatureParams = DEFAULT_PARAMS
) -> Features:
    """The features of one light curve's good points (finite, ``STATUS`` 0), with its class.

    Deterministic: the same points and parameters give the same result.
    """
    series, n_used = _prepared(time_mjd, flux, params)
    if series is None:
        return _too_few(n_used)
    grid = frequency_grid(series, params)
    if grid.size < 3:
        return _too_few(series.n)
    span = series.span
    resolution = 1.0 / span
    tc = series.days - span / 2.0
    y = series.mmag

    spectrum = _amplitudes(series.days, y, grid)
    first = spectrum  # the first periodogram: what the false-alarm probability is of
    accepted = _Fit(np.empty(0), np.empty(0), np.empty(0), y - y.mean())
    origins = np.empty(0)  # the peaks the accepted frequencies were found at
    for _ in range(params.n_frequencies):
        searched = spectrum.copy()
        for f in origins:
            searched[np.abs(grid - f) < MIN_SEPARATION_RESOLUTIONS * resolution] = 0.0
        if not searched.any():
            break
        candidate = _peak(grid, searched)
        trial_origins = np.append(origins, candidate)
        start = np.append(accepted.frequencies, candidate)
        trial = _fit(tc, y, start, trial_origins, resolution, FIT_ITERATIONS)
        trial_spectrum = _amplitudes(series.days, trial.residual, grid)
        noise = _window_means(grid, trial_spectrum, trial.frequencies[-1:], params.noise_window)
        # The candidate's S/N in the residuals after its own removal: were it the last one,
        # this would be the final spectrum of the S/N reported.
        if trial.amplitudes[-1] < params.min_snr * noise[0]:
            break
        accepted, spectrum, origins = trial, trial_spectrum, trial_origins

    frequencies: tuple[Frequency, ...] = ()
    if accepted.frequencies.size:
        # The last joint fit is the final one, and ``spectrum`` its residuals' spectrum.
        final = accepted
        snr = final.amplitudes / _window_means(
            grid, spectrum, final.frequencies, params.noise_window
        )
        # a sin(w tc) + b cos(w tc) = A sin(w tc + atan2(b, a)), and tc = t - epoch - T/2.
        phases = np.mod(
            np.arctan2(final.cos, final.sin) - 2.0 * np.pi * final.frequencies * span / 2.0,
            2.0 * np.pi,
        )
        harmonics = _harmonics(final.frequencies, resolution)
        frequencies = tuple(
            Frequency(
                rank=i + 1,
                frequency=float(final.frequencies[i]),
                amplitude=float(final.amplitudes[i]),
                phase=float(phases[i]) % (2.0 * np.pi),
                snr=float(snr[i]),
                harmonic_of=harmonics[i],
            )
            for i in range(final.frequencies.size)
        )

    total_amplitude, rms, noise_p2p, skewness = _statistics(y)
    features = Features(
        n_used=series.n,
        epoch=series.epoch,
        time_span=span,
        frequencies=frequencies,
        fap=None,
        total_amplitude=total_amplitude,
        rms=rms,
        noise=noise_p2p,
        skewness=skewness,
        var_class=None,
    )
    kinds = frequency_kinds(frequencies, span)
    # The false-alarm probability of the star's highest peak: the first periodogram without
    # the satellite's orbital peaks and the drift (a constant star's highest peak is often the
    # orbit's, whose FAP says nothing about the star).
    searched = first.copy()
    for found, kind in zip(frequencies, kinds, strict=True):
        if kind in ("instrumental", "trend"):
            searched[np.abs(grid - found.frequency) < MIN_SEPARATION_RESOLUTIONS * resolution] = 0.0
    fap = _false_alarm(series, grid, float(searched.max())) if searched.any() else None
    features = replace(
        features,
        fap=fap,
        frequencies=tuple(replace(f, kind=k) for f, k in zip(frequencies, kinds, strict=True)),
    )
    return replace(features, var_class=classify(features))
