"""N1 alert deliveries: daily files concatenated per star, then the alert-mode handler.

A delivery is a directory ``N1-ALERT/<RUN>/<yyyy>W<ww>/`` of daily files (docs/corot-files.md).
The daily files of one star are concatenated into one light curve, ordered by time with
repeated time stamps removed, and written as a new N1 alert product. After the delivery's
products are registered, the handler is called once with the list of new alert light curves:
either a command (JSON on its standard input) or a JSON file in a spool directory that another
system reads.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fitsio
import numpy as np

from ingest.corot import names
from ingest.problems import Problem

# Keywords that describe one day, not the concatenated light curve.
_DAY_KEYWORDS = {"ALERTDAY", "FILENAME", "SIMPLE", "BITPIX", "NAXIS", "EXTEND"}
_V4_MJD_OFFSET = 2400000.0 - 2400000.5  # DATETT is JD - 2400000


@dataclass
class AlertGroup:
    """The daily files of one star in one delivery."""

    delivery: str  # 'LRa01_2008W02'
    week: str  # '2008W02'
    corotid: int
    mode: str
    files: list[Path] = field(default_factory=list)


@dataclass
class Concatenated:
    group: AlertGroup
    path: Path | None
    problems: list[Problem]
    n_duplicates: int = 0


def delivery_of(path: Path) -> tuple[str, str] | None:
    """(delivery, week) of a daily file in ``<RUN>/<yyyy>W<ww>/``; None outside such a
    directory, where the delivery a file belongs to cannot be known."""
    week_dir, run_dir = path.parent.name, path.parent.parent.name
    if not names.DELIVERY_WEEK.match(week_dir) or not names.RUN_CODE.match(run_dir):
        return None
    return f"{run_dir}_{week_dir}", week_dir


def group_daily_files(files: list[Path]) -> list[AlertGroup]:
    """Group daily files by delivery (their directory) and star; files outside a delivery
    directory are left out (the caller rejects them)."""
    groups: dict[tuple[Path, int, str], AlertGroup] = {}
    for path in sorted(files):
        parsed = names.parse_alert_day_name(path.name)
        where = delivery_of(path)
        if parsed is None or where is None:
            continue
        delivery, week_dir = where
        key = (path.parent, parsed.corotid, parsed.mode)
        if key not in groups:
            groups[key] = AlertGroup(delivery, week_dir, parsed.corotid, parsed.mode)
        groups[key].files.append(path)
    return list(groups.values())


def _utc_from_tt(jd_minus_2400000: float, leap: float) -> datetime:
    mjd = jd_minus_2400000 + _V4_MJD_OFFSET
    return datetime(1858, 11, 17, tzinfo=UTC) + timedelta(days=mjd, seconds=-leap)


def _tt_minus_utc(moment: datetime) -> float:
    # TT - UTC over the mission (corot-format.md): 32.184 s + leap seconds.
    if moment < datetime(2009, 1, 1, tzinfo=UTC):
        return 65.184
    if moment < datetime(2012, 7, 1, tzinfo=UTC):
        return 66.184
    return 67.184


def concatenate(group: AlertGroup, out_dir: Path) -> Concatenated:
    """Write the star's light curve of the delivery into ``out_dir``."""
    headers: list[Any] = []
    tables: list[np.ndarray] = []
    problems: list[Problem] = []
    for path in group.files:
        try:
            with fitsio.FITS(str(path)) as fits:
                headers.append(fits[0].read_header())
                tables.append(fits["BAR"].read())
        except (OSError, KeyError, ValueError) as exc:
            problems.append(Problem("LC003", f"{path.name}: {str(exc).splitlines()[0][:160]}"))
    if problems:
        return Concatenated(group, None, problems)
    runs = {str(h.get("RUN_CODE", "")).strip() for h in headers}
    expected_run = group.delivery.split("_", 1)[0]
    stated = {str(h["DELIVERY"]).strip() for h in headers if "DELIVERY" in h}
    if runs != {expected_run} or len({t.dtype for t in tables}) != 1:
        problems.append(
            Problem(
                "LC018", f"runs {sorted(runs)} in delivery of {expected_run}, or columns differ"
            )
        )
    elif stated - {group.delivery}:
        problems.append(Problem("LC018", f"DELIVERY {sorted(stated)} in {group.delivery}"))
    if problems:
        return Concatenated(group, None, problems)
    data = np.concatenate(tables)
    order = np.argsort(data["DATETT"], kind="stable")
    data = data[order]
    keep = np.ones(data.size, dtype=bool)
    keep[1:] = np.diff(data["DATETT"]) > 0  # boundary points repeated by consecutive days
    duplicates = int(data.size - keep.sum())
    data = data[keep]
    if data.size == 0:
        problems.append(Problem("LC007", "no points in the delivery"))
        return Concatenated(group, None, problems)
    first = _utc_from_tt(float(data["DATETT"][0]), 0.0)
    start = _utc_from_tt(float(data["DATETT"][0]), _tt_minus_utc(first))
    end = _utc_from_tt(float(data["DATETT"][-1]), _tt_minus_utc(first))
    name = names.product_file_name(f"EN1_ALERT_{group.mode}", group.corotid, start, end)
    header = [
        {"name": rec["name"], "value": rec["value"], "comment": rec.get("comment", "")}
        for rec in headers[0].records()
        if rec["name"] and rec["name"] not in _DAY_KEYWORDS
    ]
    header.append({"name": "FILENAME", "value": name, "comment": "concatenated alert light curve"})
    header.append({"name": "NDAYS", "value": len(group.files), "comment": "daily files joined"})
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    target.unlink(missing_ok=True)
    with fitsio.FITS(str(target), "rw", clobber=True) as fits:
        fits.write(None, header=header)
        fits.write(data, extname="BAR")
    return Concatenated(group, target, problems, duplicates)


def group_by_delivery(groups: list[AlertGroup]) -> dict[str, list[AlertGroup]]:
    by: dict[str, list[AlertGroup]] = defaultdict(list)
    for group in groups:
        by[group.delivery].append(group)
    return dict(by)


@dataclass
class AlertHandler:
    """Where a delivery's new alert light curves are announced."""

    command: str | None
    spool: Path

    def describe(self) -> str:
        return f"command: {self.command}" if self.command else f"spool: {self.spool}"

    def notify(self, delivery: str, light_curves: list[dict[str, Any]]) -> str:
        """Hand the delivery over; return 'ok' or the reason it failed."""
        message = json.dumps(
            {"delivery": delivery, "light_curves": light_curves}, indent=1, sort_keys=True
        )
        try:
            return self._send(delivery, message)
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            # A handler that cannot be reached never undoes the ingest: the delivery stays
            # pending and the next ingest hands it over again.
            return f"failed: {exc}"

    def _send(self, delivery: str, message: str) -> str:
        if self.command:
            proc = subprocess.run(
                shlex.split(self.command),
                input=message,
                text=True,
                capture_output=True,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0:
                return f"failed: exit {proc.returncode}: {proc.stderr.strip()[:300]}"
            return "ok"
        self.spool.mkdir(parents=True, exist_ok=True)
        # A later announcement for the same delivery (stars added by a re-delivery) gets a
        # file of its own: the reader may not have taken the first one yet.
        target = self.spool / f"{delivery}.json"
        sequence = 1
        while target.exists():
            sequence += 1
            target = self.spool / f"{delivery}.{sequence}.json"
        tmp = self.spool / f".{target.name}.tmp"
        tmp.write_text(message)
        os.replace(tmp, target)  # readers of the spool never see half a file
        return "ok"
