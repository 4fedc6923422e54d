"""What the ``vo-node`` commands share: the group that turns the node's errors into one line,
the progress bar, and opening the node's database and storage."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from pydantic import ValidationError
from tqdm import tqdm

from vo_node.errors import NodeError
from vo_node.settings import Settings


@contextmanager
def progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; nothing when output goes to a file or CI log."""
    bar = tqdm(total=total, desc=label, unit="file", disable=not sys.stderr.isatty(), leave=False)
    try:
        yield bar.update
    finally:
        bar.close()


def fail(message: str) -> None:
    click.echo(f"vo-node: {message}", err=True)
    sys.exit(2)


class NodeGroup(click.Group):
    """Turns the node's own errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NodeError as exc:
            fail(str(exc))
        except ValidationError as exc:
            problems = "; ".join(
                f"VO_NODE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                for e in exc.errors()
            )
            fail(f"invalid setting: {problems}")
        except OSError as exc:
            # Disks and permissions: say which file and why, not where in the code.
            where = f" ({exc.filename})" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}")
        except KeyboardInterrupt:
            click.echo("vo-node: interrupted", err=True)
            sys.exit(130)


def database(settings: Settings) -> Any:
    from vo_node.db.node import NodeDatabase

    db = NodeDatabase.from_settings(settings)
    if not db.cluster.initialised:
        raise NodeError(f"no database cluster at {db.cluster.data_dir}", hint="run `vo-node init`")
    db.cluster.start()
    return db


def store(settings: Settings) -> Any:
    from vo_node.storage import MirroredStore

    return MirroredStore.from_roots(settings.roots, fsync=settings.fsync)
