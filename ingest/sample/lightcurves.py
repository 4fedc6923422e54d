"""Simulated light curves: the time grid of a star in a run, its flags, fluxes and noise.

A light curve is simulated on the full regular grid (gap rows included, for ``BARFILL`` and
``BARREG``); ``kept`` marks the rows that exist in ``BAR``. Every random draw comes from streams
keyed by (seed, star, run, purpose), so a light curve does not depend on which process makes it
or in which order. Imports the sibling modules ``catalogue``, ``signals`` and ``timescales``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.corot.runs import RUNS, CorotRun
from ingest.sample.catalogue import (
    ASTERO_CADENCE_S,
    EXO_CADENCE_S,
    Observation,
    Star,
    covered_seconds,
)
from ingest.sample.signals import electrons_per_32s, noise_sigma
from ingest.sample.timescales import DAY_S, light_time_s, mjd, tt_to_utc, utc_to_tt

ORBIT_D = 0.071458  # CoRoT orbital period
SAA_WINDOW = 0.11  # share of each orbit spent in the South Atlantic Anomaly (~11 min)
OUT_OF_RANGE_RATE = 3e-4  # per point
HOT_PIXEL_EVENTS = 0.7  # mean number per light curve
STATUS_OUT_OF_RANGE = 1
STATUS_SAA = 4
STATUS_HOT_PIXEL = 8
STATUS_FILLED = 16
# Purposes of the random streams of one star in one run.
_GAPS, _NOISE, _EVENTS, _SYSTEMATICS = 1, 2, 3, 4
_RUN_STREAM = 0x5AA


def stream(seed: int, *keys: int) -> np.random.Generator:
    """An independent random generator for (seed, keys...)."""
    return np.random.default_rng([seed, *keys])


def run_number(run: CorotRun) -> int:
    """Position of a run in the catalogue; keys the random streams."""
    return RUNS.index(run)


@dataclass(frozen=True)
class TimeGrid:
    """The regular time grid of one light curve on the TT axis, with its gaps."""

    tt_s: np.ndarray  # TT-axis POSIX-like seconds of every grid point
    texp: np.ndarray  # int32 exposure of each point: 512 or 32 s
    kept: np.ndarray  # bool: False inside gaps (rows missing from BAR)

    def utc_s(self) -> np.ndarray:
        """UTC POSIX seconds of the grid points."""
        return tt_to_utc(self.tt_s)


def is_oversampled(star: Star, obs: Observation) -> bool:
    """Whether this light curve switches to 32 s (the star's first run, in alert mode)."""
    return star.oversampled and obs.run == star.observations[0].run


def time_grid(seed: int, days: float, star: Star, obs: Observation) -> TimeGrid:
    """The grid of ``star`` in ``obs.run``: 512 s (exo), 32 s (astero), or 512 s then 32 s."""
    span = covered_seconds(obs.run, days)
    if star.channel == "astero":
        offsets = np.arange(0, span + 1, ASTERO_CADENCE_S, dtype=np.int64)
        texp = np.full(offsets.size, ASTERO_CADENCE_S, dtype=np.int32)
    elif is_oversampled(star, obs):
        switch = int(star.switch_offset_s or 0)
        before = np.arange(0, switch, EXO_CADENCE_S, dtype=np.int64)
        after = np.arange(switch, span + 1, ASTERO_CADENCE_S, dtype=np.int64)
        offsets = np.concatenate([before, after])
        texp = np.concatenate(
            [
                np.full(before.size, EXO_CADENCE_S, dtype=np.int32),
                np.full(after.size, ASTERO_CADENCE_S, dtype=np.int32),
            ]
        )
    else:
        offsets = np.arange(0, span + 1, EXO_CADENCE_S, dtype=np.int64)
        texp = np.full(offsets.size, EXO_CADENCE_S, dtype=np.int32)
    # On-board time is uniform (TT); UTC stamps follow, leap seconds included.
    tt_s = utc_to_tt(obs.run.start.timestamp()) + offsets.astype(float)
    rng = stream(seed, star.index, run_number(obs.run), _GAPS)
    kept = np.ones(offsets.size, dtype=bool)
    for _ in range(int(rng.integers(1, 4))):
        # Interior gaps only, each under 5% of the span: the ends of the light curve stay put.
        length = min(float(rng.uniform(0.02, 0.3)) * DAY_S, 0.05 * span)
        start = float(rng.uniform(0.05, 0.95)) * span - length / 2
        kept &= ~((offsets >= start) & (offsets < start + length))
    return TimeGrid(tt_s, texp, kept)


@dataclass
class LightCurve:
    """One star in one run, on the full grid; fluxes in e- per 32 s."""

    grid: TimeGrid
    utc_s: np.ndarray
    tt_mjd: np.ndarray
    bar_mjd: np.ndarray
    status: np.ndarray  # int32 N2 flags
    white: np.ndarray
    white_dev: np.ndarray
    bands: dict[str, tuple[np.ndarray, np.ndarray]]  # 'RED', 'GREEN', 'BLUE': (flux, dev)
    bg: np.ndarray
    systematics: np.ndarray  # the instrumental factor included in ``white``

    @property
    def rows(self) -> np.ndarray:
        """Indices of the rows that exist (the BAR table)."""
        return np.flatnonzero(self.grid.kept)

    def filled_white(self) -> tuple[np.ndarray, np.ndarray]:
        """White flux on the full grid with gaps and flagged points interpolated (BARFILL)."""
        good = self.grid.kept & (self.status == 0)
        filled = np.interp(self.tt_mjd, self.tt_mjd[good], self.white[good])
        flux = np.where(good, self.white, filled)
        return flux, np.where(good, 0, STATUS_FILLED).astype(np.int32)


def _band_shares(star: Star) -> dict[str, float]:
    # Redder stars put more of their light in the red channel of the chromatic prism.
    v_r = star.mags["V"] - star.mags["R"]
    red = float(np.clip(0.62 + 0.35 * (v_r - 0.37), 0.45, 0.85))
    blue = float(np.clip(0.18 - 0.20 * (v_r - 0.37), 0.05, 0.35))
    return {"RED": red, "GREEN": max(1.0 - red - blue, 0.05), "BLUE": blue}


def _saa(seed: int, run: CorotRun, tt_mjd: np.ndarray) -> np.ndarray:
    # The satellite crosses the anomaly once an orbit: same windows for every star of a run.
    phase0 = float(stream(seed, _RUN_STREAM, run_number(run)).uniform())
    return ((tt_mjd / ORBIT_D + phase0) % 1.0) < SAA_WINDOW


def simulate(seed: int, days: float, star: Star, obs: Observation) -> LightCurve:
    """Simulate ``star`` in ``obs.run`` (the first ``days`` days of the run)."""
    grid = time_grid(seed, days, star, obs)
    key = (star.index, run_number(obs.run))
    tt_mjd = mjd(grid.tt_s)
    bar_mjd = tt_mjd + light_time_s(tt_mjd, star.ra_deg, star.dec_deg) / DAY_S
    t_days = tt_mjd - tt_mjd[0]
    n = tt_mjd.size

    sys_rng = stream(seed, *key, _SYSTEMATICS)
    # Gain drift (ageing of the CCD after a run start) and a weak orbital systematic.
    drift = 1.0 - sys_rng.uniform(0.002, 0.01) * (1.0 - np.exp(-t_days / sys_rng.uniform(15, 60)))
    orbital = 1.0 + sys_rng.uniform(5e-5, 2e-4) * np.sin(
        2.0 * np.pi * t_days / ORBIT_D + sys_rng.uniform(0, 2 * np.pi)
    )
    systematics = drift * orbital
    channel = star.channel
    mean = electrons_per_32s(channel, star.mags["V" if channel == "astero" else "R"])
    model = mean * star.signal.relative_flux(bar_mjd) * systematics

    in_saa = _saa(seed, obs.run, tt_mjd)
    bg0 = sys_rng.uniform(80, 600) if channel == "exo" else sys_rng.uniform(500, 3000)
    bg = bg0 * (1.0 + 0.15 * np.sin(2.0 * np.pi * t_days / ORBIT_D)) * np.where(in_saa, 3.0, 1.0)

    status = np.where(in_saa, STATUS_SAA, 0).astype(np.int32)
    events = stream(seed, *key, _EVENTS)
    extra = np.zeros(n)  # hot-pixel excess, relative to the mean flux
    for _ in range(int(events.poisson(HOT_PIXEL_EVENTS))):
        t0, length = events.uniform(0.05, 0.95) * t_days[-1], events.uniform(0.05, 0.5)
        hit = (t_days >= t0) & (t_days < t0 + length)
        extra += np.where(hit, events.uniform(0.003, 0.02) * np.exp(-(t_days - t0) / length), 0)
        status[hit] |= STATUS_HOT_PIXEL
    wild = events.random(n) < OUT_OF_RANGE_RATE
    status[wild] |= STATUS_OUT_OF_RANGE

    noise = stream(seed, *key, _NOISE)
    # Inside the anomaly protons hit the CCD: noisier points biased upwards.
    saa_factor = np.where(in_saa, 3.0, 1.0)
    shares = _band_shares(star) if star.mode in ("CHR", "IMAG") else {"WHITE": 1.0}
    fluxes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for band, share in shares.items():
        expected = share * model * (1.0 + extra)
        sigma = noise_sigma(channel, share * model, share * bg0, grid.texp)
        flux = expected + noise.normal(0.0, 1.0, n) * sigma * saa_factor
        flux += np.where(in_saa, np.abs(noise.normal(0.0, 2.0, n)) * sigma, 0.0)
        fluxes[band] = (flux, sigma)
    if "WHITE" in fluxes:
        white, white_dev = fluxes.pop("WHITE")
    else:
        white = np.sum([f for f, _ in fluxes.values()], axis=0)
        white_dev = np.sqrt(np.sum([d**2 for _, d in fluxes.values()], axis=0))
    # Out-of-range points: saturated or negative readings, far off the star.
    scale = np.where(noise.random(n) < 0.5, -noise.uniform(0.5, 2.0, n), noise.uniform(3, 30, n))
    white = np.where(wild, mean * scale, white)
    for band, (flux, dev) in list(fluxes.items()):
        fluxes[band] = (np.where(wild, mean * shares[band] * scale, flux), dev)
    return LightCurve(
        grid, grid.utc_s(), tt_mjd, bar_mjd, status, white, white_dev, fluxes, bg, systematics
    )
