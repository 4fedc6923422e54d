"""The files of benchmarks/lightcurves.py: a big light curve made from a generated one, and
``vo-node ingest`` run on the benchmark's throwaway node, as an operator would run it."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

# The benchmark next to this one: its node environment (it also puts the checkout on
# sys.path).
from tap import ROOT, node_env

from ingest.corot.names import format_stamp, parse_product_name, product_file_name
from vo_node.db.node import NodeDatabase
from vo_node.settings import Settings

CADENCE_S = 32
# The big file's tables whose rows follow BAR's time grid (docs/corot-files.md).
_GRID_TABLES = ("BAR", "BARFILL", "SYSTEMATIC")
_TIME_COLUMNS = ("DATETT", "DATEBARTT")
_STRUCTURE = re.compile(r"(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|T(TYPE|FORM)\d+)\Z")


def ingest(settings: Settings, db: NodeDatabase, path: Path) -> str:
    """``vo-node ingest PATH``; its summary line. Ends the run when a file is rejected."""
    done = subprocess.run(
        [sys.executable, "-m", "vo_node", "ingest", str(path)],
        env=node_env(settings, db),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(
            f"vo-node ingest {path} failed ({done.returncode}):\n{done.stdout[-2000:]}"
            f"{done.stderr[-2000:]}\n(the reasons are in {settings.quarantine})"
        )
    return done.stdout.strip().splitlines()[-1]


def big_file(source: Path, out_dir: Path, rows: int, corotid: int) -> Path:
    """A v4 exo N2 file of ``rows`` points at 32 s, made from ``source`` (see the module
    docstring), written under ``out_dir/<its version directory>/``."""
    with fits.open(source) as hdul:
        primary = hdul[0].header.copy()
        tables = {name: hdul[name] for name in _GRID_TABLES}
        bar = tables["BAR"].data
        # The first point's UTC date and times: the new grid starts there.
        start = np.datetime64(bar["DATE"][0].strip(), "s")
        steps = np.arange(rows, dtype="f8") * (CADENCE_S / 86400.0)
        dates = np.datetime_as_string(start + np.arange(rows) * np.timedelta64(CADENCE_S, "s"))
        first = {name: float(bar[name][0]) for name in _TIME_COLUMNS}
        hdus: list[fits.BinTableHDU] = []
        for name, table in tables.items():
            columns = []
            for column in table.columns:
                if column.name == "DATE":
                    values: np.ndarray = dates.astype("S20")
                elif column.name in _TIME_COLUMNS:
                    values = first[column.name] + steps
                elif column.name == "TEXP":
                    values = np.full(rows, CADENCE_S, dtype="i4")
                else:  # fluxes, errors, flags: the source's values over and over
                    values = np.resize(np.asarray(table.data[column.name]), rows)
                columns.append(
                    fits.Column(
                        name=column.name, format=column.format, unit=column.unit, array=values
                    )
                )
            header = fits.Header(
                [card for card in table.header.cards if not _STRUCTURE.match(card.keyword)]
            )
            hdus.append(fits.BinTableHDU.from_columns(columns, header=header, name=name))
    parsed = parse_product_name(source.name)
    if parsed is None:
        raise ValueError(f"{source.name} is not a product file name")
    end = datetime.fromisoformat(str(dates[-1])).replace(tzinfo=UTC)
    name = product_file_name(parsed.product_type, corotid, parsed.start, end)
    primary["COROTID"] = corotid
    primary["FILENAME"] = name
    primary["EXPTIME"] = CADENCE_S
    primary.add_history(
        f"benchmarks/lightcurves.py: {rows} points at {CADENCE_S} s made from {source.name} "
        f"(to {format_stamp(end)})"
    )
    # The version directory the ingest reads the product's version from (N2-4.4).
    path = out_dir / source.parents[3].name / name
    path.parent.mkdir(parents=True)
    fits.HDUList([fits.PrimaryHDU(header=primary), *hdus]).writeto(path)
    return path


def v4_chr_file(sample: Path) -> Path:
    """The first generated v4 ``EN2_STAR_CHR`` file of the sample (version 4 directories)."""
    for path in sorted(sample.glob("N2-4.*/*/*/*/EN2_STAR_CHR_*.fits")):
        with fits.open(path) as hdul:
            if {"BAR", "BARFILL", "SYSTEMATIC"} <= {h.name for h in hdul}:
                return path
    sys.exit(f"no v4 EN2_STAR_CHR file in {sample}")
