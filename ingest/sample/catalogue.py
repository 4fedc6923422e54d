"""The generated stars: CoRoT IDs, positions in the run fields, photometry, spectral class,
channel and light-curve type, the runs that observe each, their signal and alert status.

Everything is drawn in one sequential random stream from the spec's seed, in the main process.
Imports ``ingest.corot.runs`` and the sibling modules ``signals``, ``spec`` and ``timescales``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from ingest.corot.runs import FIELD_HEIGHT_DEG, FIELD_WIDTH_DEG, RUNS, CorotRun
from ingest.sample.signals import SignalModel, draw_signal
from ingest.sample.spec import SampleSpec
from ingest.sample.timescales import mjd, utc_to_tt

CHR_LIMIT_R = 14.5  # brighter stars get chromatic light curves
IMAG_SHARE = 0.03
MULTI_RUN_SHARE = 0.10
MISSING_MAG_SHARE = 0.05
EXO_CADENCE_S = 512
ASTERO_CADENCE_S = 32
# Main-sequence colours and temperatures by spectral type: (type, B-V, V-R, R-I, Teff).
_TYPES = (
    ("B5", -0.17, -0.07, -0.06, 15400),
    ("A0", 0.00, 0.00, 0.00, 9600),
    ("A5", 0.15, 0.10, 0.06, 8200),
    ("F0", 0.30, 0.20, 0.17, 7200),
    ("F5", 0.44, 0.28, 0.24, 6500),
    ("G0", 0.58, 0.35, 0.29, 5950),
    ("G2", 0.63, 0.37, 0.31, 5780),
    ("G5", 0.68, 0.39, 0.33, 5650),
    ("K0", 0.81, 0.47, 0.39, 5250),
    ("K2", 0.91, 0.53, 0.44, 4950),
    ("K5", 1.15, 0.68, 0.55, 4400),
    ("M0", 1.40, 0.85, 0.80, 3850),
    ("M2", 1.50, 0.95, 1.10, 3550),
)
# Faint exo targets are mostly F-K dwarfs and K giants; astero targets hot and bright.
_EXO_TYPE_WEIGHTS = (0.01, 0.02, 0.04, 0.08, 0.14, 0.14, 0.10, 0.10, 0.13, 0.10, 0.08, 0.04, 0.02)
_ASTERO_TYPE_WEIGHTS = (0.12, 0.16, 0.20, 0.20, 0.14, 0.08, 0.05, 0.05, 0, 0, 0, 0, 0)


@dataclass(frozen=True)
class Observation:
    """A star in one run: where on the focal plane."""

    run: CorotRun
    ccd: str  # HLFCCDID: 'E1', 'E2' (exo), 'A1', 'A2' (astero)
    win_id: int  # 0..8191, unique within the run


@dataclass(frozen=True)
class Star:
    """One generated star. Magnitudes are true values; ``missing`` names the bands whose
    MAGNIT_* keyword reads 'NAN' in every file of the star."""

    index: int  # position in the catalogue; seeds the star's own random streams
    corotid: int
    channel: str  # 'exo' | 'astero'
    mode: str  # 'CHR' | 'MON' | 'IMAG' (exo) | 'AST' (astero)
    ra_deg: float
    dec_deg: float
    mags: dict[str, float]  # B V R I
    missing: tuple[str, ...]
    spectype: str
    lumclass: str
    coltemp: int
    contfact: float
    observations: tuple[Observation, ...]
    signal: SignalModel
    oversampled: bool = False
    switch_offset_s: int | None = None  # from the start of the first run, on the 512 s grid
    n1: bool = False

    def header_mag(self, band: str) -> float | None:
        """The catalogue magnitude of a band, None where it is missing ('NAN')."""
        return None if band in self.missing else self.mags[band]

    @property
    def cadence_s(self) -> int:
        """Nominal sampling of the star's channel."""
        return ASTERO_CADENCE_S if self.channel == "astero" else EXO_CADENCE_S


def covered_seconds(run: CorotRun, days: float) -> int:
    """Length of a run's light curves: the first ``days`` days, or all of it for 0."""
    full = int((run.end - run.start).total_seconds())
    return full if days <= 0 else min(full, round(days * 86400.0))


def _field_box(run: CorotRun) -> tuple[float, float, float, float]:
    half_ra = 0.5 * FIELD_WIDTH_DEG / np.cos(np.radians(run.dec_deg))
    half_dec = 0.5 * FIELD_HEIGHT_DEG
    return (
        run.ra_deg - half_ra,
        run.ra_deg + half_ra,
        run.dec_deg - half_dec,
        run.dec_deg + half_dec,
    )


def _overlap(a: CorotRun, b: CorotRun) -> tuple[float, float, float, float]:
    box_a, box_b = _field_box(a), _field_box(b)
    box = (
        max(box_a[0], box_b[0]),
        min(box_a[1], box_b[1]),
        max(box_a[2], box_b[2]),
        min(box_a[3], box_b[3]),
    )
    # Fields of the same eye that do not overlap: the star is simply given to both runs.
    return box if box[0] < box[1] and box[2] < box[3] else box_a


def _position(
    rng: np.random.Generator, box: tuple[float, float, float, float]
) -> tuple[float, float]:
    return (
        round(float(rng.uniform(box[0], box[1])), 6),
        round(float(rng.uniform(box[2], box[3])), 6),
    )


def _photometry(
    rng: np.random.Generator, channel: str
) -> tuple[dict[str, float], str, str, int, float]:
    weights = np.array(_EXO_TYPE_WEIGHTS if channel == "exo" else _ASTERO_TYPE_WEIGHTS, float)
    sptype, b_v, v_r, r_i, teff = _TYPES[int(rng.choice(len(_TYPES), p=weights / weights.sum()))]
    cool = sptype[0] in "GKM"
    lumclass = str(rng.choice(["V", "IV", "III"], p=[0.6, 0.1, 0.3] if cool else [0.7, 0.2, 0.1]))
    if lumclass == "III":
        teff -= 250  # giants are cooler than dwarfs of the same colour
    # Interstellar reddening in the galactic plane, where both eyes look.
    ebv = float(rng.uniform(0.0, 0.4 if channel == "exo" else 0.1))
    if channel == "exo":
        r = 11.0 + np.log10(1.0 + rng.random() * (10 ** (0.3 * 5.0) - 1.0)) / 0.3  # counts rise
        v = r + v_r + 0.6 * ebv
    else:
        v = float(rng.uniform(5.5, 9.45))
        r = v - v_r - 0.6 * ebv
    # Photometric scatter on the colours only: the selection magnitude (R exo, V astero) stays
    # inside its documented range.
    scatter = rng.normal(0.0, 0.02, 3)
    mags = {"B": v + b_v + ebv + scatter[0], "V": v, "R": r, "I": r - r_i - 0.5 * ebv + scatter[1]}
    mags[("V" if channel == "exo" else "R")] += scatter[2]
    mags = {k: round(float(m), 3) for k, m in mags.items()}
    coltemp = int(round(teff * float(rng.uniform(0.95, 1.05)), -1))
    contfact = round(float(rng.beta(1.2, 12.0) if channel == "exo" else rng.uniform(0, 0.01)), 4)
    return mags, sptype, lumclass, coltemp, contfact


def _missing(rng: np.random.Generator) -> tuple[str, ...]:
    if rng.random() >= MISSING_MAG_SHARE:
        return ()
    choices = (("B",), ("I",), ("B", "I"), ("V",), ("B", "V", "I"))
    return choices[int(rng.choice(len(choices), p=[0.35, 0.3, 0.15, 0.1, 0.1]))]


def _unique_ids(
    rng: np.random.Generator, count: int, low: int, high: int, taken: set[int]
) -> list[int]:
    ids: list[int] = []
    while len(ids) < count:
        value = int(rng.integers(low, high))
        if value not in taken:
            taken.add(value)
            ids.append(value)
    return sorted(ids)


def chosen_runs(spec: SampleSpec) -> tuple[CorotRun, ...]:
    """The first ``spec.runs`` runs of the catalogue."""
    return RUNS[: spec.runs]


def build_catalogue(spec: SampleSpec) -> list[Star]:
    """Draw ``spec.stars`` stars over the chosen runs (deterministic in ``spec.seed``)."""
    rng = np.random.default_rng([spec.seed, 0xC0])
    runs = chosen_runs(spec)
    # 5-10 astero targets a run, fewer when the sample is tiny (they must leave room for exo).
    per_run_cap = max(0, spec.stars // (5 * len(runs)))
    astero = [min(int(rng.integers(5, 11)), per_run_cap) for _ in runs]
    n_exo = spec.stars - sum(astero)
    pairs = []
    for eye in ("anticenter", "center"):
        of_eye = [i for i, run in enumerate(runs) if run.eye == eye]
        pairs += list(pairwise(of_eye))
    n_multi = round(MULTI_RUN_SHARE * n_exo) if pairs else 0
    multi_pairs = [pairs[int(rng.integers(len(pairs)))] for _ in range(n_multi)]
    single = [(n_exo - n_multi) // len(runs)] * len(runs)
    for i in range((n_exo - n_multi) % len(runs)):
        single[i] += 1

    # Star skeletons (channel, indices of its runs), grouped by first run.
    skeletons: list[tuple[str, tuple[int, ...]]] = []
    for i in range(len(runs)):
        skeletons += [("astero", (i,))] * astero[i] + [("exo", (i,))] * single[i]
        skeletons += [("exo", p) for p in multi_pairs if p[0] == i]
    taken: set[int] = set()
    ids: list[int] = []
    for i in range(len(runs)):
        group = [s for s in skeletons if s[1][0] == i]
        n_ast = sum(1 for s in group if s[0] == "astero")
        ids += _unique_ids(rng, n_ast, 1_000_000, 10_000_000, taken)
        ids += _unique_ids(rng, len(group) - n_ast, 100_000_000, 700_000_000, taken)
    windows = {i: list(rng.permutation(8192)) for i in range(len(runs))}

    stars: list[Star] = []
    for index, ((channel, run_ids), corotid) in enumerate(zip(skeletons, ids, strict=True)):
        members = [runs[i] for i in run_ids]
        box = _overlap(*members) if len(members) == 2 else _field_box(members[0])
        ra, dec = _position(rng, box)
        mags, sptype, lumclass, coltemp, contfact = _photometry(rng, channel)
        if channel == "astero":
            mode = "AST"
        elif rng.random() < IMAG_SHARE:
            mode = "IMAG"
        else:
            mode = "CHR" if mags["R"] < CHR_LIMIT_R else "MON"
        prefix = "A" if channel == "astero" else "E"
        observations = tuple(
            Observation(runs[i], f"{prefix}{int(rng.integers(1, 3))}", int(windows[i].pop()))
            for i in run_ids
        )
        t_ref = float(mjd(utc_to_tt(members[0].start.timestamp())))
        stars.append(
            Star(
                index=index,
                corotid=corotid,
                channel=channel,
                mode=mode,
                ra_deg=ra,
                dec_deg=dec,
                mags=mags,
                missing=_missing(rng),
                spectype=sptype,
                lumclass=lumclass,
                coltemp=coltemp,
                contfact=contfact,
                observations=observations,
                signal=draw_signal(rng, channel, t_ref),
            )
        )
    return _mark_alerts_and_n1(rng, spec, stars)


def _mark_alerts_and_n1(
    rng: np.random.Generator, spec: SampleSpec, stars: list[Star]
) -> list[Star]:
    first = chosen_runs(spec)[0]
    span = covered_seconds(first, spec.days)
    candidates = [
        s.index for s in stars if s.mode in ("CHR", "MON") and s.observations[0].run == first
    ]
    n_exo_first = sum(1 for s in stars if s.channel == "exo" and s.observations[0].run == first)
    count = round(spec.oversampled_fraction * n_exo_first)
    if spec.stars >= 50:
        count = max(count, 3)
    count = min(count, len(candidates)) if spec.alert_run else 0
    chosen = set(int(i) for i in rng.choice(candidates, count, replace=False)) if count else set()
    n1 = set(
        int(i) for i in rng.choice(len(stars), round(spec.n1_fraction * len(stars)), replace=False)
    )
    out: list[Star] = []
    for star in stars:
        switch: int | None = None
        if star.index in chosen:
            # Switch 15-30% into the covered span, on the 512 s grid: with 10 days, day 1.5-3.
            switch = int(span * float(rng.uniform(0.15, 0.30))) // EXO_CADENCE_S * EXO_CADENCE_S
            switch = max(switch, EXO_CADENCE_S)
        out.append(
            replace(
                star, oversampled=switch is not None, switch_offset_s=switch, n1=star.index in n1
            )
        )
    return out
