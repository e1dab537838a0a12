"""The audit log: every request recorded (committed) before its response is returned.

SQLAlchemy on any URL; by default SQLite in WAL mode (``sqlite:///STATE/audit.sqlite``).
A row holds the time, the caller (the token's name, never the token), the service, a SHA-256
of the request body (not the body: no patient data beyond what the row needs), the bundle
version, the drugs recommended and the rule ids returned, the status and the latency.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
)

metadata = MetaData()
audit_table = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("caller", String(200), nullable=False),
    Column("service", String(200), nullable=False),
    Column("input_sha256", String(64), nullable=False),
    Column("bundle_version", String(200), nullable=False),
    Column("status", Integer, nullable=False),
    Column("recommended", Text, nullable=False),
    Column("rule_ids", Text, nullable=False),
    Column("latency_ms", Float, nullable=False),
)  # fmt: skip
COLUMNS = [c.name for c in audit_table.columns]


class AuditLog:
    """Append-only audit rows; :meth:`record` returns only once the row is committed."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_engine(url, future=True)
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _wal(dbapi_connection, _record):  # every connection: WAL journal, full sync
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.close()
        metadata.create_all(self.engine)

    @classmethod
    def in_folder(cls, folder: str | Path) -> AuditLog:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{folder / 'audit.sqlite'}")

    def record(self, *, caller: str, service: str, input_sha256: str, bundle_version: str, status: int, recommended, rule_ids,
               latency_ms: float) -> None:  # fmt: skip
        row = {"time": dt.datetime.now(dt.UTC), "caller": caller, "service": service, "input_sha256": input_sha256,
               "bundle_version": bundle_version, "status": int(status), "recommended": json.dumps(list(recommended)),
               "rule_ids": json.dumps(sorted(set(rule_ids))), "latency_ms": float(latency_ms)}  # fmt: skip
        with self.engine.begin() as conn:  # commits on leaving the block, or raises
            conn.execute(insert(audit_table).values(**row))

    def rows(self, limit: int = 100, offset: int = 0) -> list[dict]:
        with self.engine.connect() as conn:
            result = conn.execute(select(audit_table).order_by(audit_table.c.id.desc()).limit(limit).offset(offset))
            return [{**row._mapping, "time": row.time.isoformat() if row.time else None} for row in result]

    def count(self) -> int:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_table)).scalar_one())

    def export_csv(self, path: str | Path) -> int:
        """Write every row (oldest first) to ``path``; returns the number of rows."""
        with self.engine.connect() as conn, open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            n = 0
            for row in conn.execute(select(audit_table).order_by(audit_table.c.id)):
                writer.writerow(dict(row._mapping))
                n += 1
        return n
