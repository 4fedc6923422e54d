"""What the caller asks of the sample generator (:class:`SampleSpec`) and what it got back
(:class:`SampleReport`). Imports nothing from the rest of the project."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SampleSpec:
    """A request for a CoRoT-like sample archive; the same spec always gives the same bytes.

    ``runs`` takes the first K runs of the catalogue (chronological). ``days`` is the length of
    every light curve from the start of its run (0 = the whole run). ``alert_run`` makes some exo
    stars of the first run oversampled, with N1 alert deliveries.
    """

    out_dir: Path
    stars: int = 1000
    runs: int = 4
    seed: int = 1
    days: float = 10.0
    oversampled_fraction: float = 0.03
    earlier_versions_fraction: float = 0.25
    n1_fraction: float = 0.1
    alert_run: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))  # accept a str too
        if self.stars < 1:
            raise ValueError(f"stars must be at least 1, not {self.stars}")
        if not 1 <= self.runs <= 26:
            raise ValueError(f"runs must be 1..26 (the CoRoT exo fields), not {self.runs}")
        if self.days < 0:
            raise ValueError(f"days must be >= 0 (0 = whole run), not {self.days}")
        for name in ("oversampled_fraction", "earlier_versions_fraction", "n1_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, not {value}")


@dataclass
class SampleReport:
    """What :func:`ingest.sample.generate` wrote.

    ``files``/``bytes`` count the FITS files (truth.csv excluded); ``products`` counts the N2 and
    N1 product files (every version, alert daily files excluded); ``alert_files`` the daily alert
    files and ``alert_products`` the light curves ingest will build from them (one per star and
    delivery); ``by_kind`` counts files by name prefix (``EN2_STAR_CHR``, ``AN1_STAR``,
    ``EN1_ALERT``...).
    """

    files: int
    bytes: int
    products: int
    alert_files: int
    truth_path: Path
    by_kind: dict[str, int] = field(default_factory=dict)
    alert_products: int = 0
