"""Pulsation features (vo_node/features/periodogram.py) at the real CoRoT cadence: light
curves per second per core, and what a second worker process adds, measured in the same run.

The curves: ``--curves`` generated light curves of ``--points`` good points at each cadence,
512 s (exoplanet channel: 25,000 good points span ~166 days) and 32 s (asteroseismology
channel, ~10 days), on the CoRoT grid (an SAA crossing every 103-minute orbit left out, as STATUS
leaves it out), with the sample's signals drawn as the sample draws them
(ingest/sample/signals.py: most exoplanet-channel stars constant, then pulsators, rotation,
transits, eclipsing binaries; most asteroseismology targets pulsators) and its noise model.

Measured:

1. In this process, per curve (median of the set, CPU time): ``compute_features`` against
   the baseline, one astropy Lomb-Scargle periodogram of the same prepared curve on the same
   frequency grid (``LombScargle(...).power(grid, method="fast")``, astropy's own defaults);
   and ``amplitude_spectrum`` (the spectrum the product page plots). Printed as curves per
   second per core and as ratios to the baseline: how many periodograms a curve's features
   cost. The design budget is 1 s of CPU per 25,000-point curve.
2. The same set through ``concurrent.futures.ProcessPoolExecutor`` (spawned, as the runner's
   pool) with 1 and with 2 workers, each pool warmed up first (its workers' imports are not
   timed): wall-clock curves per second and the speed-up of 2 workers over 1.

BLAS threads: numpy's OpenBLAS starts a thread per core for the small matrix products of the
least-squares fits and spins them, which doubles the CPU time for no gain on the wall clock
and would oversubscribe a pool. ``--blas-threads`` (default 1) is set in the environment
before numpy is imported, and the workers inherit it. A process pool that computes
features should do the same.

Ratios are printed, never asserted. Defaults take well under a minute on two cores.

    python benchmarks/features.py [--curves 24] [--points 25000] [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--curves", type=int, default=24, help="light curves per cadence")
    parser.add_argument("--points", type=int, default=25_000, help="points of each curve")
    parser.add_argument("--seed", type=int, default=8, help="seed of the generated curves")
    parser.add_argument(
        "--blas-threads", type=int, default=1, help="OPENBLAS/OMP/MKL threads (0: leave as is)"
    )
    return parser.parse_args()


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None and ARGS.blas_threads > 0:
    # Before numpy is imported, here and (through the environment) in the workers.
    for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = str(ARGS.blas_threads)

import multiprocessing  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
from astropy.timeseries import LombScargle  # noqa: E402

from ingest.sample.lightcurves import ORBIT_D, SAA_WINDOW  # noqa: E402
from ingest.sample.signals import (  # noqa: E402
    draw_signal,
    electrons_per_32s,
    noise_sigma,
)
from vo_node.features.periodogram import (  # noqa: E402
    amplitude_spectrum,
    compute_features,
    frequency_grid,
    prepare,
)

DAY_S = 86400.0
CHANNELS = {512: "exo", 32: "astero"}
Curve = tuple[np.ndarray, np.ndarray, str]  # good times (MJD), fluxes, the signal's kind


def generate(seed: int, index: int, cadence: int, points: int) -> Curve:
    """One light curve of ``points`` good points at ``cadence`` seconds."""
    channel = CHANNELS[cadence]
    rng = np.random.default_rng([seed, cadence, index])
    # Enough grid rows for ``points`` once the SAA crossings are left out.
    rows = int(points / (1.0 - SAA_WINDOW)) + 200
    t_days = np.arange(rows) * cadence / DAY_S
    good = ((t_days / ORBIT_D + rng.uniform()) % 1.0) >= SAA_WINDOW
    t_days = t_days[good][:points]
    time_mjd = 54500.0 + float(rng.uniform(0, 1500)) + t_days
    signal = draw_signal(rng, channel, float(time_mjd[0]))
    if channel == "exo":
        magnitude = 11.0 + np.log10(1.0 + rng.random() * (10**1.5 - 1.0)) / 0.3
    else:
        magnitude = float(rng.uniform(5.5, 9.45))
    mean = electrons_per_32s(channel, magnitude)
    drift = 1.0 - rng.uniform(0.002, 0.01) * (1.0 - np.exp(-t_days / rng.uniform(15, 60)))
    orbital = 1.0 + rng.uniform(5e-5, 2e-4) * np.sin(2 * np.pi * t_days / ORBIT_D)
    model = mean * signal.relative_flux(time_mjd) * drift * orbital
    sigma = noise_sigma(channel, model, float(rng.uniform(80, 600)), np.full(points, cadence))
    return time_mjd, model + rng.normal(0.0, 1.0, points) * sigma, signal.kind


def _features(curve: Curve) -> str | None:
    """What a worker computes: the features of one curve (its class, sent back)."""
    return compute_features(curve[0], curve[1]).var_class


def _baseline(curve: Curve) -> None:
    """One astropy fast Lomb-Scargle periodogram of the prepared curve, astropy's defaults."""
    series = prepare(curve[0], curve[1])
    assert series is not None
    grid = frequency_grid(series)
    LombScargle(series.days, series.mmag).power(grid, method="fast")


def _spectrum(curve: Curve) -> None:
    series = prepare(curve[0], curve[1])
    assert series is not None
    amplitude_spectrum(series)


def _cpu_each(action: object, curves: list[Curve]) -> list[float]:
    """CPU seconds of ``action`` on each curve, in this process."""
    seconds = []
    for curve in curves:
        start = time.process_time()
        action(curve)  # type: ignore[operator]
        seconds.append(time.process_time() - start)
    return seconds


def _pool_wall(curves: list[Curve], workers: int) -> float:
    """Wall-clock seconds of the set's features on a warmed-up pool of ``workers``."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        # Warm-up: every worker started, numpy and astropy imported, one curve computed.
        list(pool.map(_features, curves[:workers]))
        start = time.perf_counter()
        list(pool.map(_features, curves, chunksize=1))
        return time.perf_counter() - start


def _measure(cadence: int, curves: list[Curve]) -> list[str]:
    span = statistics.median(float(c[0][-1] - c[0][0]) for c in curves)
    kinds = ", ".join(
        f"{k} {sum(c[2] == k for c in curves)}" for k in sorted({c[2] for c in curves})
    )
    _cpu_each(_features, curves[:2])  # warm-up: first calls import and allocate
    features = statistics.median(_cpu_each(_features, curves))
    baseline = statistics.median(_cpu_each(_baseline, curves))
    spectrum = statistics.median(_cpu_each(_spectrum, curves))
    one = _pool_wall(curves, 1)
    two = _pool_wall(curves, 2)
    n = len(curves)
    return [
        f"{cadence} s cadence: {n} curves of {curves[0][0].size:,} points over {span:.1f} days "
        f"({kinds})",
        f"   in process, median CPU per curve: compute_features {features * 1000:.0f} ms "
        f"({1 / features:.1f} curves/s per core; {100 * features:.0f}% of the 1 s budget), "
        f"baseline periodogram {baseline * 1000:.0f} ms, amplitude_spectrum "
        f"{spectrum * 1000:.0f} ms",
        f"   ratio compute_features / baseline: {features / baseline:.2f}; "
        f"amplitude_spectrum / baseline: {spectrum / baseline:.2f}",
        f"   process pool, wall: 1 worker {n / one:.2f} curves/s, 2 workers {n / two:.2f} "
        f"curves/s: speed-up {one / two:.2f}",
    ]


def main() -> None:
    assert ARGS is not None
    began = time.perf_counter()
    print(
        f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; "
        f"{os.cpu_count()} CPUs; numpy {np.__version__}",
        flush=True,
    )
    out: list[str] = []
    for cadence in CHANNELS:
        curves = [generate(ARGS.seed, i, cadence, ARGS.points) for i in range(ARGS.curves)]
        out += _measure(cadence, curves)
        print(out[-4], "measured", flush=True)
    print()
    print("\n".join(out))
    print(f"total run time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
