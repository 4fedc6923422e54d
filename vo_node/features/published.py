"""A light curve's pulsation features as a caller may read them: its row of corot.features,
its frequencies and its parameter set, read through the published views under the policy of
the light curve (the product page and the periodogram documents show them).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from datetime import datetime

import psycopg

from vo_node.features.model import FeatureParams

_FEATURES = (
    "SELECT f.var_class, f.dominant_frequency, f.dominant_period, f.dominant_amplitude,"
    " f.dominant_snr, f.fap, f.n_frequencies, f.total_amplitude, f.rms, f.noise, f.skewness,"
    " f.n_used, f.epoch, f.time_span, f.params_id, f.computed_at, f.obs_publisher_did,"
    " fp.algorithm_version, fp.software, fp.parameters"
    " FROM corot.features f JOIN corot.feature_parameters fp ON fp.params_id = f.params_id"
    " WHERE f.product_id = %s"
)
_FREQUENCIES = (
    "SELECT rank, frequency, period, amplitude, phase, snr, harmonic_of, kind"
    " FROM corot.frequencies"
    " WHERE product_id = %s ORDER BY rank"
)


@dataclass(frozen=True)
class PublishedFrequency:
    """A row of corot.frequencies."""

    rank: int
    frequency: float  # c/d
    period: float  # d
    amplitude: float  # mmag
    phase: float  # rad
    snr: float
    harmonic_of: int | None
    kind: str  # signal | instrumental | trend | weak


@dataclass(frozen=True)
class PublishedFeatures:
    """A light curve's row of corot.features, its frequencies and its parameter set."""

    product_id: int
    var_class: str | None
    dominant_frequency: float | None
    dominant_period: float | None
    dominant_amplitude: float | None
    dominant_snr: float | None
    fap: float | None
    n_frequencies: int
    total_amplitude: float | None
    rms: float | None
    noise: float | None
    skewness: float | None
    n_used: int
    epoch: float | None
    time_span: float | None
    params_id: int
    computed_at: datetime
    obs_publisher_did: str
    algorithm_version: str
    software: str
    parameters: str  # JSON
    frequencies: tuple[PublishedFrequency, ...]

    @property
    def has_spectrum(self) -> bool:
        """Whether the light curve had enough good points for a periodogram."""
        return self.epoch is not None and self.time_span is not None

    def params(self) -> FeatureParams:
        """The parameters the features were computed with (a key this release does not know
        is left out; one it lacks takes its default)."""
        stored = json.loads(self.parameters)
        known = {f.name for f in fields(FeatureParams)}
        return FeatureParams(**{k: v for k, v in stored.items() if k in known})

    def cache_tag(self) -> str:
        """Names this computation of the features: part of the plot's cache key."""
        text = f"{self.params_id}|{self.computed_at.isoformat()}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def unreadable(conn: psycopg.Connection, product_id: int) -> bool:
    """Whether the last computation of ``product_id``'s features could not read its file
    (such results are not published; the row is read under the light curve's policy)."""
    row = conn.execute(
        "SELECT error IS NOT NULL FROM archive.features WHERE product_id = %s", (product_id,)
    ).fetchone()
    return bool(row and row[0])


def published_features(conn: psycopg.Connection, product_id: int) -> PublishedFeatures | None:
    """The features of ``product_id`` as the caller of ``conn`` may read them (the policy of
    the light curve applies); None when there are none, or none the caller may see."""
    row = conn.execute(_FEATURES, (product_id,)).fetchone()
    if row is None:
        return None
    frequencies = tuple(
        PublishedFrequency(
            rank=int(rank),
            frequency=float(frequency),
            period=float(period),
            amplitude=float(amplitude),
            phase=float(phase),
            snr=float(snr),
            harmonic_of=None if harmonic_of is None else int(harmonic_of),
            kind=str(kind),
        )
        for rank, frequency, period, amplitude, phase, snr, harmonic_of, kind in conn.execute(
            _FREQUENCIES, (product_id,)
        )
    )
    names = [f.name for f in fields(PublishedFeatures)][1:-1]
    return PublishedFeatures(
        product_id=product_id,
        frequencies=frequencies,
        **dict(zip(names, row, strict=True)),
    )
