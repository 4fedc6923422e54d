"""What a response delivers, as the usage statistics count it: a view says how many products
(and of which runs and channels) its response carries; the statistics recorder reads it when
the response has been sent (``vo_node.stats``). Views that deliver no product say nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import g


@dataclass
class Delivered:
    products: int = 0
    runs: set[str] = field(default_factory=set)  # run codes, e.g. 'LRa01'
    channels: set[str] = field(default_factory=set)  # 'exo', 'astero'


def delivered(products: int, runs: Iterable[str] = (), channels: Iterable[str] = ()) -> None:
    """Count ``products`` more in this request's response, from ``runs`` and ``channels``."""
    noted = current()
    noted.products += products
    noted.runs.update(runs)
    noted.channels.update(channels)


def current() -> Delivered:
    """What this request's response delivers so far."""
    if "vo_usage" not in g:
        g.vo_usage = Delivered()
    noted: Delivered = g.vo_usage
    return noted
