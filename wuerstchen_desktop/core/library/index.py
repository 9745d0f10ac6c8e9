"""The history's SQLite file: opening it in WAL mode with its schema, checking it for damage, and throwing a
damaged one away (the files in the output folder are the truth, so nothing is lost but time)."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: the kind column (images and compositions)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    created REAL NOT NULL, prompt TEXT NOT NULL, prompt_fold TEXT NOT NULL, negative TEXT NOT NULL,
    seed INTEGER, width INTEGER, height INTEGER, source TEXT NOT NULL, has_latent INTEGER NOT NULL,
    favourite INTEGER NOT NULL DEFAULT 0, kind TEXT NOT NULL DEFAULT 'image');
CREATE INDEX IF NOT EXISTS items_created ON items (created DESC, id DESC);
CREATE TABLE IF NOT EXISTS thumbs (
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE, px INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (item_id, px));
"""
_CORRUPT, _NOTADB = 11, 26  # SQLite's primary result codes for a damaged file
BUSY_S = 30  # how long a process waits for another one using the index


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether ``exc`` says the index file is damaged (rebuild it), not busy or out of space (keep it),
    nor a call the connection refused (closed, wrong arguments: a bug that rebuilding would only hide)."""
    if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return False
    if not isinstance(exc, sqlite3.OperationalError):
        return True  # malformed, not a database, or a schema from another version
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (_CORRUPT, _NOTADB)


@contextlib.contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[None]:
    con.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if con.in_transaction:  # SQLite ends the transaction itself on some errors (a full disk)
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def connect(index_path: Path) -> sqlite3.Connection:
    """The index, created if missing; ``sqlite3.DatabaseError`` if it is damaged or of another version."""
    con = sqlite3.connect(index_path, timeout=BUSY_S, isolation_level=None)
    try:
        _use_wal(con)
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA synchronous=NORMAL")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"schema version {version}")
        if version == 0:
            with transaction(con):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        # Damage anywhere in the rows the gallery lists, not only on the first page. The thumbnail cache
        # is left out: checking it costs ~200 ms per 250 MB, and its damage is caught when it is read.
        problems = [r[0] for r in con.execute("PRAGMA quick_check(items)").fetchmany(3)]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError(f"quick_check: {'; '.join(problems)}")
        con.execute("SELECT item_id, px, data FROM thumbs LIMIT 1").fetchall()
    except BaseException:
        con.close()
        raise
    return con


def _use_wal(con: sqlite3.Connection) -> None:
    """Write-ahead logging. Switching a new index to it needs SQLite's exclusive lock, which SQLite asks
    for without waiting: processes opening a new index at once (two ``generate`` started together, the
    window and the command line) wait for each other here instead of failing. Once set, it stays."""
    deadline, delay = time.monotonic() + BUSY_S, 0.005
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == 5  # SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def discard(index_path: Path, why: object) -> sqlite3.Connection:
    """Delete a damaged index and start an empty one (``History.sync`` then fills it from the files)."""
    log.warning("history index %s is damaged (%s); rebuilding it from the files", index_path, why)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{index_path}{suffix}")
    return connect(index_path)
