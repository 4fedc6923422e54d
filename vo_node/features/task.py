"""One light curve's features, computed from its stored file: the unit of work that a local
process pool or a dask.distributed worker runs.

A task carries everything it needs (the paths of the stored copies, the file's layout, the
parameters), so a worker needs the storage roots mounted at the same paths and nothing else:
no database, no settings. Results go back to the process that submitted them, which alone
writes the database. Must not import Flask or psycopg.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass

import numpy as np

from vo_node.features.model import FeatureParams, Features
from vo_node.features.periodogram import compute_features
from vo_node.products.lightcurve import LightCurve, LightCurveError, read_lightcurve
from vo_node.products.preview import preview_flux


@dataclass(frozen=True)
class Task:
    """A light curve to compute: its product, file layout and stored copies (good ones
    first)."""

    product_id: int
    layout: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What a task produced: the features, or why the file could not be read."""

    product_id: int
    features: Features | None
    error: str | None = None


def good_points(lc: LightCurve) -> tuple[np.ndarray, np.ndarray]:
    """Times (MJD) and fluxes of the points the features are computed from: STATUS == 0,
    finite time and flux, the flux the previews show (white light, else the sum of the
    colours)."""
    found = preview_flux(lc)
    if found is None:
        empty = np.empty(0)
        return empty, empty
    flux = found[1]
    keep = np.isfinite(lc.time) & np.isfinite(flux) & (lc.status == 0)
    return lc.time[keep], flux[keep]


def read_good_points(path: str, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The good points (:func:`good_points`) of the stored file at ``path``, reading only
    the flux columns they are made of. Raises LightCurveError for an unreadable file."""
    return good_points(read_lightcurve(path, layout, columns=_FLUX_COLUMNS))


class MissingCopies(Exception):
    """No copy of the file is where the task says: a storage root not mounted here (a dask
    worker without it), or files moved away. Not a result: the next run tries again."""


def run_task(task: Task, params: FeatureParams) -> Outcome:
    """Compute one light curve's features from the first of its copies that can be read.
    A file that is there but cannot be read as its light curve is an outcome (stored with
    its error; `vo-node features --all` tries it again); no file at all raises
    :class:`MissingCopies`."""
    if not any(os.path.isfile(path) for path in task.paths):
        raise MissingCopies(f"no copy of product {task.product_id} at {', '.join(task.paths)}")
    problems: list[str] = []
    for path in task.paths:
        try:
            time, flux = read_good_points(path, task.layout)
        except LightCurveError as exc:
            problems.append(str(exc))
            continue
        return Outcome(task.product_id, compute_features(time, flux, params))
    reason = "; ".join(problems) or "no stored copy"
    return Outcome(task.product_id, None, reason[:500])


# The photometry the preview flux is made of: reading only these spares the other columns.
_FLUX_COLUMNS = frozenset({"flux_white", "flux_red", "flux_green", "flux_blue"})


def software() -> str:
    """The software that computes the features, with the versions that matter to the result
    (stored with every result: corot.feature_parameters.software)."""
    parts = []
    for name in ("vo-node", "astropy", "numpy"):
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} unknown")
    return "; ".join(parts)
