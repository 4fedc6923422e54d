"""The node's database as the rest of the code sees it: a cluster plus a database name.

``NodeDatabase.ensure()`` is the one call that takes a machine from nothing to a migrated,
running database; every step is idempotent, so ``make demo`` can run it every time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tap_schema import METADATA
from vo_node.db import migrate
from vo_node.db.cluster import (
    ADMIN_ROLE,
    MAX_SOCKET_PATH,
    QUERY_ROLE,
    SERVICE_ROLE,
    Cluster,
    account_can_reach,
)
from vo_node.db.publish import publish
from vo_node.settings import Settings

FALLBACK_ROOT = Path("/var/lib/vo-node")


def cluster_dirs(settings: Settings) -> tuple[Path, Path]:
    """Where the cluster's data and socket live: under VAR_DIR, unless the account that runs
    PostgreSQL cannot reach it (a checkout in /root, set up by root) or the socket path would
    be too long; then in a directory of its own under /var/lib/vo-node, named after VAR_DIR so
    that each node keeps its own cluster."""
    data, socket = settings.pg_data_dir, settings.pg_socket
    if settings.pg_data is not None or (data / "PG_VERSION").exists():
        return data, socket
    tag = hashlib.sha256(str(settings.var_dir.resolve()).encode()).hexdigest()[:12]
    fallback = FALLBACK_ROOT / tag
    if (fallback / "data" / "PG_VERSION").exists():
        return fallback / "data", fallback / "run"
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    socket_file = socket / f".s.PGSQL.{settings.pg_port}"
    if (
        account_can_reach(settings.var_dir, settings.pg_os_user)
        and len(str(socket_file)) <= MAX_SOCKET_PATH
    ):
        return data, socket
    fallback.mkdir(parents=True, exist_ok=True)
    fallback.chmod(0o755)
    return fallback / "data", fallback / "run"


@dataclass
class NodeDatabase:
    cluster: Cluster
    dbname: str

    @classmethod
    def from_settings(cls, settings: Settings, extra_conf: str = "") -> NodeDatabase:
        data_dir, socket_dir = cluster_dirs(settings)
        cluster = Cluster(
            data_dir=data_dir,
            socket_dir=socket_dir,
            port=settings.pg_port,
            secrets_file=settings.secrets_file,
            os_user=settings.pg_os_user,
            bin_dir=settings.pg_bin,
            extra_conf=extra_conf,
        )
        return cls(cluster, settings.database)

    def ensure(self, config: dict[str, str] | None = None) -> list[str]:
        """Create, start, bootstrap and migrate as needed; return migrations applied now."""
        self.cluster.init()
        self.cluster.start()
        self.cluster.bootstrap(self.dbname)
        return self.migrate(config)

    def migrate(self, config: dict[str, str] | None = None) -> list[str]:
        """Apply new migrations, then publish TAP_SCHEMA and the node configuration."""
        with self.admin() as conn:
            applied = migrate.apply(conn)
            publish(conn, METADATA, config or {})
        return applied

    def admin(self, **kwargs: object) -> psycopg.Connection:
        """A connection as the admin role: migrations and ingest."""
        return self.cluster.connect(ADMIN_ROLE, self.dbname, **kwargs)

    def service(self, **kwargs: object) -> psycopg.Connection:
        """A connection as the service role: what the web tier uses."""
        return self.cluster.connect(SERVICE_ROLE, self.dbname, **kwargs)

    def query_conninfo(self) -> str:
        """Connection string of the read-only role that runs user queries."""
        return self.cluster.conninfo(QUERY_ROLE, self.dbname)

    def service_conninfo(self) -> str:
        return self.cluster.conninfo(SERVICE_ROLE, self.dbname)
