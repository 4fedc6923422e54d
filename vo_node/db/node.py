"""The node's database as the rest of the code sees it: a cluster plus a database name.

``NodeDatabase.ensure()`` is the one call that takes a machine from nothing to a migrated,
running database; every step is idempotent, so ``make demo`` can run it every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from vo_node.db import migrate
from vo_node.db.cluster import ADMIN_ROLE, QUERY_ROLE, SERVICE_ROLE, Cluster
from vo_node.settings import Settings


@dataclass
class NodeDatabase:
    cluster: Cluster
    dbname: str

    @classmethod
    def from_settings(cls, settings: Settings, extra_conf: str = "") -> NodeDatabase:
        cluster = Cluster(
            data_dir=settings.pg_data_dir,
            socket_dir=settings.pg_socket,
            port=settings.pg_port,
            secrets_file=settings.secrets_file,
            os_user=settings.pg_os_user,
            bin_dir=settings.pg_bin,
            extra_conf=extra_conf,
        )
        return cls(cluster, settings.database)

    def ensure(self) -> list[str]:
        """Create, start, bootstrap and migrate as needed; return migrations applied now."""
        self.cluster.init()
        self.cluster.start()
        self.cluster.bootstrap(self.dbname)
        return self.migrate()

    def migrate(self) -> list[str]:
        with self.admin() as conn:
            return migrate.apply(conn)

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
