"""What a reader extracts from one product file: plain dataclasses, no I/O.

General on purpose: a reader for another mission fills the same records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ingest.problems import Problem


@dataclass
class StarInfo:
    mission: str
    source_id: int
    name: str
    ra: float | None = None
    dec: float | None = None
    mag_b: float | None = None
    mag_v: float | None = None
    mag_r: float | None = None
    mag_i: float | None = None
    spectral_type: str | None = None
    lum_class: str | None = None
    teff: float | None = None
    contamination: float | None = None


@dataclass
class RunInfo:
    mission: str
    code: str
    eye: str | None = None
    kind: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    ra: float | None = None
    dec: float | None = None
    release_date: date | None = None


@dataclass
class CollectionInfo:
    collection_id: str
    mission: str
    title: str
    description: str


@dataclass
class ProductRecord:
    """Everything the archive registers about one product file version."""

    source: Path
    collection: CollectionInfo
    run: RunInfo
    star: StarInfo
    level: str
    product_type: str
    series: str
    version: str
    version_rank: list[int]
    layout: str
    file_name: str
    archive_path: str
    t_min: float
    t_max: float
    time_scale: str
    time_refpos: str
    n_points: int
    n_good: int
    sampling: list[int]
    bands: list[str]
    ccd: str | None
    window_id: int | None
    file_size: int
    sha256: str
    access_group: str
    problems: list[Problem] = field(default_factory=list)


@dataclass
class ReadResult:
    """A record when the file could be read, and every problem found either way."""

    source: Path
    record: ProductRecord | None
    problems: list[Problem]
