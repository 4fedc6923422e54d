"""Serving the app with gunicorn's threaded workers (DESIGN.md: slow downloads must not block)."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from vo_node.settings import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        for key, value in {
            "bind": f"{s.host}:{s.port}",
            "worker_class": "gthread",
            "workers": s.workers,
            "threads": s.threads,
            "timeout": 120,
            "graceful_timeout": 10,
            "accesslog": "-",
            # gunicorn's control socket sits at one path per account: two nodes (or a demo
            # and the tests) would share it. Nothing here uses it.
            "control_socket_disable": True,
        }.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Each worker builds its own app (and its own connection pools) after the fork.
        from vo_node.app import create_app

        return create_app(self.settings)


def serve(settings: Settings) -> None:
    _Gunicorn(settings).run()
