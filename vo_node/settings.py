"""Typed settings of the node, read from the environment (prefix ``VO_NODE_``).

Every setting has a default that makes ``make demo`` work from a checkout: all state lives under
``var/`` beside the code. Must not import Flask or psycopg.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Where the node keeps its state and how it is reached."""

    model_config = SettingsConfigDict(env_prefix="VO_NODE_", extra="ignore")

    var_dir: Path = Field(
        # Read when the settings are made, not at import: a checkout's var/ by default.
        default_factory=lambda: Path.cwd() / "var",
        description="Root of the node's state: database cluster, storage roots, quarantine.",
    )
    pg_data: Path | None = Field(
        default=None, description="PostgreSQL data directory (default: VAR_DIR/pg/data)."
    )
    pg_socket_dir: Path | None = Field(
        default=None,
        description="Directory of the cluster's Unix socket (default: VAR_DIR/pg/run).",
    )
    pg_port: int = Field(
        default=5499, description="Port number of the cluster (names its Unix socket; no TCP)."
    )
    pg_os_user: str = Field(
        default="postgres",
        description="Unprivileged account that runs PostgreSQL when the node is set up as root.",
    )
    pg_bin: Path | None = Field(
        default=None,
        description="Directory of initdb/pg_ctl (default: found from pg_config or Debian's path).",
    )
    database: str = Field(default="vo_node", description="Database name inside the cluster.")
    storage_roots: Annotated[tuple[Path, Path] | None, NoDecode] = Field(
        default=None,
        description=(
            "The two independent storage roots ('two buildings'), comma-separated in the "
            "environment (default: VAR_DIR/storage/a, VAR_DIR/storage/b)."
        ),
    )
    quarantine_dir: Path | None = Field(
        default=None, description="Where rejected files and their reports go (VAR_DIR/quarantine)."
    )
    alert_hook: str | None = Field(
        default=None,
        description=(
            "Alert-mode handler: a command run once per N1 alert delivery with the list of new "
            "alert light curves as JSON on standard input. Without it, a JSON file per delivery "
            "is written to ALERT_SPOOL."
        ),
    )
    alert_spool: Path | None = Field(
        default=None, description="Spool directory for alert deliveries (VAR_DIR/alerts)."
    )
    preview_dir: Path | None = Field(
        default=None,
        description="Cache of the rendered light-curve previews, PNG files keyed by the "
        "product file's checksum; safe to empty at any time (VAR_DIR/previews).",
    )
    runs_dir: Path | None = Field(
        default=None,
        description="Cache of the complete-run archives (tar, zip), one file per run, channel, "
        "format and set of products; safe to empty at any time (VAR_DIR/runs).",
    )
    download_max_ids: int = Field(
        default=10_000,
        description="Most products one selection download (POST /download) may name.",
    )
    host: str = Field(default="127.0.0.1", description="Address the web server listens on.")
    port: int = Field(default=8000, description="Port the web server listens on.")
    workers: int = Field(default=2, description="gunicorn worker processes.")
    threads: int = Field(default=8, description="Threads per gunicorn worker (gthread).")
    base_url: str | None = Field(
        default=None, description="Public base URL of the node (default: http://HOST:PORT)."
    )
    authority: str = Field(
        default="vo-node.example",
        description="IVOA naming authority of the node: identifiers are ivo://AUTHORITY/...",
    )
    node_title: str = Field(
        default="CoRoT light-curve archive", description="Title shown on the landing page."
    )
    publisher: str = Field(
        default="CoRoT archive operators",
        description="The organisation that publishes the node (VOResource curation/publisher).",
    )
    contact_name: str = Field(
        default="CoRoT archive help desk", description="Contact of the node's registry records."
    )
    contact_email: str = Field(
        default="corot-archive@vo-node.example",
        description="E-mail address of the contact of the node's registry records.",
    )
    oai_page_size: int = Field(
        default=100, description="Records per OAI-PMH response before a resumption token."
    )
    registry_check_s: float = Field(
        default=30.0,
        description="Seconds between checks, per server process, whether the registry records "
        "need regenerating (after an ingest, a release, a change of settings).",
    )
    feature_workers: int = Field(
        default=1,
        ge=0,
        description="Processes the worker (`vo-node worker`) uses to compute the pulsation "
        "features of newly ingested light curves; 0 leaves them to `vo-node features --all`.",
    )
    feature_poll_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between the worker's looks for light curves without features "
        "(an ingest wakes it at once).",
    )
    maxrec_default: int = Field(default=20000, description="TAP rows returned without MAXREC.")
    maxrec_hard: int = Field(default=10_000_000, description="Most rows any TAP query returns.")
    sync_timeout: int = Field(
        default=60,
        description="Execution limit of sync queries, s (for BINARY2 results, sending the "
        "rows included).",
    )
    async_timeout: int = Field(default=3600, description="Execution limit of async jobs, s.")
    job_retention: int = Field(default=172800, description="Default lifetime of async jobs, s.")
    job_retention_hard: int = Field(default=1209600, description="Longest lifetime of jobs, s.")
    upload_limit: int = Field(
        default=20_000_000,
        description="Largest table upload accepted (bytes; the whole request at most this "
        "plus 1 MiB of form fields).",
    )
    upload_rows: int = Field(default=1_000_000, description="Most rows of one uploaded table.")
    upload_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "Hosts (name or name:port, comma-separated) whose http(s) URLs TAP may fetch as "
            "uploads; none by default, so only inline uploads are accepted."
        ),
    )
    fsync: bool = Field(
        default=True, description="fsync product copies before they are registered."
    )
    stats_flush_s: float = Field(
        default=5.0,
        description="Seconds between writes of the usage statistics that each server process "
        "keeps in memory (also written when STATS_BATCH rows wait, and when the process exits).",
    )
    stats_batch: int = Field(
        default=500, description="Usage records waiting that trigger a write before its time."
    )
    stats_queue: int = Field(
        default=100_000,
        description="Usage records a server process holds at most while the database is slow "
        "or away; more are dropped (and logged) rather than slowing the requests.",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Addresses (comma-separated) of reverse proxies whose X-Forwarded-For the "
        "usage statistics believe; none by default: the client is the connection's peer.",
    )

    @field_validator("storage_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        # The environment gives "a,b"; Python callers give a sequence.
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if len(parts) != 2:
                raise ValueError("STORAGE_ROOTS needs exactly two paths, comma-separated")
            return tuple(parts)
        return value

    @field_validator("upload_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(h.strip() for h in value.split(",") if h.strip())
        return value

    @property
    def pg_data_dir(self) -> Path:
        return self.pg_data or self.var_dir / "pg" / "data"

    @property
    def pg_socket(self) -> Path:
        return self.pg_socket_dir or self.var_dir / "pg" / "run"

    @property
    def roots(self) -> tuple[Path, Path]:
        if self.storage_roots:
            return self.storage_roots
        return (self.var_dir / "storage" / "a", self.var_dir / "storage" / "b")

    @property
    def quarantine(self) -> Path:
        return self.quarantine_dir or self.var_dir / "quarantine"

    @property
    def spool(self) -> Path:
        return self.alert_spool or self.var_dir / "alerts"

    @property
    def preview_root(self) -> Path:
        return self.preview_dir or self.var_dir / "previews"

    @property
    def runs_root(self) -> Path:
        return self.runs_dir or self.var_dir / "runs"

    @property
    def secrets_file(self) -> Path:
        """Generated role passwords (mode 0600), written by ``vo-node init``."""
        return self.var_dir / "pg" / "secrets.json"

    def published_config(self) -> dict[str, str]:
        """What the published views need to know about the node (archive.node_config)."""
        return {"base_url": self.public_url, "did_base": f"ivo://{self.authority}/corot"}

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")
