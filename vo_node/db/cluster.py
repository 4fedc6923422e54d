"""The node's own PostgreSQL cluster: initdb, start, stop, bootstrap of roles and database.

PostgreSQL refuses to run as root, so when the node is set up by root the cluster's files belong
to an unprivileged account (setting ``pg_os_user``) and its programs run through ``runuser``.
The cluster listens on a Unix socket only (no TCP), and every role logs in with a generated
password (scram-sha-256), so the role separation is real even on one machine.

Imports psycopg (it is part of ``db/``); must not import Flask.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from vo_node.errors import SetupError

# The roles of the node, by trust (DESIGN.md, security model). Names are fixed so that
# migrations can GRANT to them.
SUPERUSER = "vo_super"
ADMIN_ROLE = "vo_admin"  # owns the schema: migrations and ingest
SERVICE_ROLE = "vo_service"  # the web services
QUERY_ROLE = "vo_query"  # user ADQL: read-only, NOINHERIT, logs in as itself
ROLES = (ADMIN_ROLE, SERVICE_ROLE, QUERY_ROLE)

# Settings appended to postgresql.conf: a small footprint suited to one node on one machine.
_CONF = """
# --- written by vo-node ---
listen_addresses = ''
port = {port}
unix_socket_directories = '{socket}'
unix_socket_permissions = 0770
max_connections = 60
shared_buffers = 128MB
client_connection_check_interval = 2s
log_min_messages = warning
{extra}
"""


# A Unix socket's path must fit in sockaddr_un (108 bytes with the terminating NUL).
MAX_SOCKET_PATH = 107


def account_can_reach(path: Path, os_user: str) -> bool:
    """Whether ``os_user`` can walk down to ``path`` (which must exist)."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(["runuser", "-u", os_user, "--", "test", "-x", str(path)], check=False)
    return probe.returncode == 0


def find_pg_bin() -> Path:
    """The directory of initdb/pg_ctl: Debian's newest version that has pgSphere installed,
    then the PATH (a newer server without pgSphere would fail at CREATE EXTENSION)."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    with_sphere = [
        v
        for v in versions
        if Path(f"/usr/share/postgresql/{v.parent.name}/extension/pg_sphere.control").exists()
    ]
    for candidate in with_sphere or versions:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise SetupError(
        "PostgreSQL server programs (initdb, pg_ctl) not found: install postgresql-15 "
        "(make demo and make test do this on Debian)"
    )


@dataclass
class Cluster:
    """One PostgreSQL cluster in a directory of its own."""

    data_dir: Path
    socket_dir: Path
    port: int
    secrets_file: Path
    os_user: str = "postgres"
    bin_dir: Path | None = None
    # Extra postgresql.conf lines, e.g. "fsync = off" for a throwaway test cluster.
    extra_conf: str = ""

    # -- running programs as the cluster's owner -------------------------------------------
    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        bindir = self.bin_dir or find_pg_bin()
        cmd = [str(bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise SetupError(f"{args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _own(self, path: Path) -> None:
        """Give a directory to the cluster's account when we are root."""
        path.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            try:
                entry = pwd.getpwnam(self.os_user)
            except KeyError as exc:
                raise SetupError(
                    f"account {self.os_user!r} does not exist; PostgreSQL cannot run as root. "
                    "Create it or set VO_NODE_PG_OS_USER"
                ) from exc
            os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o700)

    def _check_reachable(self) -> None:
        # The account must be able to walk down to the data directory; a checkout under a
        # private home directory is the usual trap.
        if not account_can_reach(self.data_dir.parent, self.os_user):
            raise SetupError(
                f"account {self.os_user!r} cannot reach {self.data_dir.parent}; "
                "set VO_NODE_PG_DATA and VO_NODE_PG_SOCKET_DIR to a path it can reach"
            )

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.secrets_file.exists()

    def init(self) -> bool:
        """Create the cluster if it does not exist. Returns True when it was created now."""
        if self.initialised:
            return False
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise SetupError(
                f"{self.data_dir} is not empty but holds no complete vo-node cluster; "
                "move it away or choose another VO_NODE_PG_DATA"
            )
        self._own(self.data_dir.parent)
        self._own(self.data_dir)
        self._own(self.socket_dir)
        self._check_reachable()
        passwords = {role: secrets.token_urlsafe(24) for role in (SUPERUSER, *ROLES)}
        pwfile = self.data_dir.parent / ".initdb-pw"
        pwfile.write_text(passwords[SUPERUSER] + "\n")
        try:
            if self._as_root:
                entry = pwd.getpwnam(self.os_user)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            pwfile.chmod(0o600)
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = _CONF.format(port=self.port, socket=self.socket_dir, extra=self.extra_conf)
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write(conf)
        self.secrets_file.parent.mkdir(parents=True, exist_ok=True)
        self.secrets_file.write_text(json.dumps(passwords, indent=1))
        self.secrets_file.chmod(0o600)
        return True

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def start(self) -> None:
        """Start the cluster if it is not running, and wait until it accepts connections."""
        if self.running():
            return
        log = self.data_dir / "server.log"
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(log))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.connect(SUPERUSER, dbname="postgres").close()
                return
            except SetupError:
                time.sleep(0.2)
        raise SetupError(f"PostgreSQL did not accept connections; see {log}")

    def stop(self) -> None:
        """Stop the cluster and wait until it has; nothing to do when it is not running.
        Asked of pg_ctl directly rather than after a status check, so that a status that
        could not be read never leaves a running cluster behind."""
        if not self.data_dir.exists():
            return
        proc = self._run(
            "pg_ctl", "stop", "-m", "fast", "-w", "-D", str(self.data_dir), check=False
        )
        if proc.returncode != 0 and self.running():
            raise SetupError(f"pg_ctl stop failed: {proc.stderr.strip() or proc.stdout.strip()}")

    # -- connections ---------------------------------------------------------------------------
    def password(self, role: str) -> str:
        try:
            return str(json.loads(self.secrets_file.read_text())[role])
        except (OSError, KeyError, ValueError) as exc:
            raise SetupError(
                f"no password for role {role!r} in {self.secrets_file}; run `vo-node init`"
            ) from exc

    def conninfo(self, role: str, dbname: str) -> str:
        return psycopg.conninfo.make_conninfo(
            host=str(self.socket_dir),
            port=self.port,
            dbname=dbname,
            user=role,
            password=self.password(role),
            application_name="vo-node",
        )

    def connect(self, role: str, dbname: str, **kwargs: object) -> psycopg.Connection:
        try:
            return psycopg.connect(self.conninfo(role, dbname), **kwargs)  # type: ignore[arg-type]
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "refused"
            raise SetupError(
                f"cannot connect to database {dbname!r} as {role}: {reason}",
                hint="check VO_NODE_DATABASE, and that the cluster runs: `vo-node init` starts it",
            ) from exc

    def bootstrap(self, dbname: str) -> None:
        """Create the node's roles, its database and the pgSphere extension (idempotent).

        Cluster-level objects need the superuser; everything inside the database is then
        created by migrations running as the admin role.
        """
        with self.connect(SUPERUSER, dbname="postgres", autocommit=True) as conn:
            for role in ROLES:
                exists = conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
                ).fetchone()
                verb = "ALTER" if exists else "CREATE"
                options = "LOGIN NOINHERIT" if role == QUERY_ROLE else "LOGIN"
                conn.execute(
                    sql.SQL("{} ROLE {} " + options + " PASSWORD {}").format(
                        sql.SQL(verb), sql.Identifier(role), sql.Literal(self.password(role))
                    )
                )
            conn.execute(
                sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(
                    sql.Identifier(QUERY_ROLE)
                )
            )
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(ADMIN_ROLE)
                    )
                )
        self.secure_database(dbname)

    def secure_database(self, dbname: str) -> None:
        """pgSphere and the database-level rights of the roles (idempotent). A database made
        from a template starts with PostgreSQL's default rights: call this for it too."""
        with self.connect(SUPERUSER, dbname=dbname, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_sphere")
            # A user query must not be able to change its own identity (DESIGN.md).
            conn.execute("REVOKE EXECUTE ON FUNCTION set_config(text, text, boolean) FROM PUBLIC")
            # The translator reads pgSphere's output in radians: no session may change it.
            conn.execute("REVOKE EXECUTE ON FUNCTION set_sphere_output(cstring) FROM PUBLIC")
            # Other sessions' query text carries their caller tickets (and other people's
            # queries): the query role may not read it, even for sessions of its own role.
            # The admin and service roles keep what PostgreSQL gives every role.
            for revoked in (
                "SELECT ON pg_catalog.pg_stat_activity",
                "EXECUTE ON FUNCTION pg_catalog.pg_stat_get_activity(integer)",
                "EXECUTE ON FUNCTION pg_catalog.pg_stat_get_backend_activity(integer)",
            ):
                conn.execute(f"REVOKE {revoked} FROM PUBLIC")
                conn.execute(f"GRANT {revoked} TO {ADMIN_ROLE}, {SERVICE_ROLE}")
            # What cancelling a job's query needs instead (vo_node/uws/cancel.py): when a
            # query-role session began, and nothing else about it.
            conn.execute(
                "CREATE OR REPLACE FUNCTION public.query_backend_start(wanted integer)"
                " RETURNS timestamptz LANGUAGE sql STABLE SECURITY DEFINER"
                " SET search_path = pg_catalog AS $$"
                " SELECT backend_start FROM pg_stat_activity"
                f" WHERE pid = wanted AND usename = '{QUERY_ROLE}' $$"
            )
            conn.execute("REVOKE ALL ON FUNCTION public.query_backend_start(integer) FROM PUBLIC")
            conn.execute(
                f"GRANT EXECUTE ON FUNCTION public.query_backend_start(integer) TO {QUERY_ROLE}"
            )
            conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname))
            )
            for role in ROLES:
                conn.execute(
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                        sql.Identifier(dbname), sql.Identifier(role)
                    )
                )
            # TAP uploads: the query role loads them into temporary tables that live for
            # one transaction (vo_node/query.py), before the transaction turns read-only.
            conn.execute(
                sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(
                    sql.Identifier(dbname), sql.Identifier(QUERY_ROLE)
                )
            )
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
