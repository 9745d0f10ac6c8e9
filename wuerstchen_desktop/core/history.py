"""The history: a SQLite index (WAL) over the output folder, which stays the source of truth.

The index lives in the platformdirs data folder and only makes the gallery fast (search, sort, cached
thumbnails); when it is missing, damaged or stale it is rebuilt from the files by ``sync``. Favourites are
mirrored to ``.favourites.json`` in the output folder so a rebuild keeps them. Deleting moves the file into
``.trash/<token>/`` inside the output folder (same disk, so the move is atomic); ``restore(token)`` is the
undo and ``empty_trash`` the final step. Folders and files whose names start with ``.`` are never indexed:
the writer's temporary files and the trash among them, so a half-written image never shows.

One ``History`` object belongs to one thread; several processes may share an index.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image

from wuerstchen_desktop.core.errors import WuerstchenError
from wuerstchen_desktop.core.imagefile import (
    EXTENSIONS,
    ImageReadError,
    NoParametersFound,
    fsync_dir,
    move_no_replace,
    open_pixels,
    read_parameters,
)
from wuerstchen_desktop.core.metadata import ImageParameters

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: the kind column (images and compositions)
TRASH = ".trash"
FAVOURITES = ".favourites.json"
THUMB_SIZE = 256
_TOKEN = re.compile(r"^\d+-[0-9a-f]{8}$")
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
_COLUMNS = "id, path, created, prompt, negative, seed, width, height, source, has_latent, favourite, kind"


class HistoryError(WuerstchenError):
    """The history index or the trash could not do what was asked."""


@dataclass(frozen=True)
class Item:
    """One image of the history. ``source`` is "wuerstchen", "a1111", "none" (no parameters) or "broken";
    ``kind`` is "image", or "composition" for a Stage C result not decoded yet (its file is the preview)."""

    id: int
    path: Path
    created: float
    prompt: str
    negative_prompt: str
    seed: int | None
    width: int | None
    height: int | None
    source: str
    has_latent: bool
    favourite: bool
    kind: str = "image"


@dataclass(frozen=True)
class TrashEntry:
    token: str
    relpath: str
    deleted: float
    favourite: bool


@dataclass(frozen=True)
class SyncReport:
    added: int = 0
    updated: int = 0
    removed: int = 0


def default_index_path(output: Path) -> Path:
    """Where the index of ``output`` lives: one file per output folder in the platformdirs data folder."""
    from platformdirs import user_data_path

    digest = hashlib.sha256(str(Path(output).resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return user_data_path("Wuerstchen Desktop", appauthor=False) / "history" / f"{digest}.sqlite3"


def _parse_created(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except (ValueError, OverflowError, OSError):
        return None


class History:
    """The gallery's index over ``output``. Opening it rebuilds a missing or damaged index and, unless
    ``sync=False``, brings it up to date with files added or removed behind the app's back."""

    def __init__(self, output: Path, index_path: Path | None = None, sync: bool = True) -> None:
        self.output = Path(output)
        self.index_path = Path(index_path) if index_path is not None else default_index_path(self.output)
        self.output.mkdir(parents=True, exist_ok=True)
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = self._connect()
        except sqlite3.DatabaseError as exc:  # not a database, malformed, or from another version
            log.warning("history index %s is damaged (%s); rebuilding it", self.index_path, exc)
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.index_path}{suffix}")
            self._con = self._connect()
        if sync:
            self.sync()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.index_path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA synchronous=NORMAL")
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version}")
            if version == 0:
                with self._transaction(con):
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            con.execute(statement)
                    con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            con.execute("SELECT id, path, favourite FROM items LIMIT 1").fetchall()
            con.execute("SELECT item_id, px, data FROM thumbs LIMIT 1").fetchall()
        except BaseException:
            con.close()
            raise
        return con

    @staticmethod
    @contextlib.contextmanager
    def _transaction(con: sqlite3.Connection) -> Iterator[None]:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if con.in_transaction:  # SQLite ends the transaction itself on some errors (a full disk)
                con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; SQLite failures become a sentence for the user."""
        try:
            with self._transaction(self._con):
                yield self._con
        except sqlite3.OperationalError as exc:
            full = "full" in str(exc)
            raise HistoryError(
                f"Could not update the history index: {'the disk is full' if full else exc}.",
                "Free some disk space; your images are safe, and the index is rebuilt from them when needed.",
            ) from exc

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files to rows --------------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        try:
            return Path(os.path.abspath(path)).relative_to(os.path.abspath(self.output)).as_posix()
        except ValueError as exc:
            raise HistoryError(f"{path} is not inside the output folder {self.output}.") from exc

    def _scan(self) -> dict[str, tuple[int, int]]:
        """Every visible image under the output folder: relative path to (mtime_ns, size)."""
        found: dict[str, tuple[int, int]] = {}
        stack = [(str(self.output), "")]
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = os.scandir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, f"{prefix}{name}/"))
                    elif name[name.rfind(".") :].lower() in EXTENSIONS:
                        with contextlib.suppress(FileNotFoundError):
                            st = entry.stat()
                            found[prefix + name] = (st.st_mtime_ns, st.st_size)
        return found

    def _row(self, rel: str) -> tuple[Any, ...] | None:
        path = self.output / rel
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        info: ImageParameters | None = None
        source = "none"
        try:
            info = read_parameters(path)
            source = info.source
        except NoParametersFound:
            pass
        except ImageReadError:
            if not path.exists():
                return None
            source = "broken"
        record = info.record if info is not None else None
        created = _parse_created(record.created) if record is not None else None
        prompt = info.prompt if info else ""
        return (
            rel, st.st_mtime_ns, st.st_size, created if created is not None else st.st_mtime_ns / 1e9,
            prompt, prompt.casefold(), info.negative_prompt if info else "", info.seed if info else None,
            info.width if info else None, info.height if info else None, source,
            int(record is not None and record.latent is not None), int(rel in self._favourites()),
            record.kind if record is not None else "image",
        )  # fmt: skip

    def _upsert(self, con: sqlite3.Connection, row: tuple[Any, ...]) -> None:
        con.execute(
            "INSERT INTO items (path, mtime_ns, size, created, prompt, prompt_fold, negative, seed, width,"
            " height, source, has_latent, favourite, kind) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (path) DO UPDATE SET mtime_ns=excluded.mtime_ns, size=excluded.size,"
            " created=excluded.created, prompt=excluded.prompt, prompt_fold=excluded.prompt_fold,"
            " negative=excluded.negative, seed=excluded.seed, width=excluded.width, height=excluded.height,"
            " source=excluded.source, has_latent=excluded.has_latent, favourite=excluded.favourite,"
            " kind=excluded.kind",
            row,
        )
        con.execute("DELETE FROM thumbs WHERE item_id = (SELECT id FROM items WHERE path = ?)", (row[0],))

    def add(self, path: Path) -> Item:
        """Index one image just saved (or changed); returns its item."""
        rel = self._rel(path)
        row = self._row(rel)
        if row is None:
            raise HistoryError(f"{path} does not exist, so it cannot be added to the history.")
        with self._write() as con:
            self._upsert(con, row)
        item = self._one("path = ?", (rel,))
        assert item is not None
        return item

    def sync(self) -> SyncReport:
        """Bring the index in line with the folder: index new or changed files, forget vanished ones."""
        on_disk = self._scan()
        known = {r[0]: (r[1], r[2]) for r in self._con.execute("SELECT path, mtime_ns, size FROM items")}
        removed = [rel for rel in known if rel not in on_disk]
        changed = [rel for rel, stamp in on_disk.items() if known.get(rel) != stamp]
        for start in range(0, max(len(removed), len(changed)), 500):
            rows = [r for r in map(self._row, changed[start : start + 500]) if r is not None]
            with self._write() as con:
                con.executemany(
                    "DELETE FROM items WHERE path = ?", [(r,) for r in removed[start : start + 500]]
                )
                for row in rows:
                    self._upsert(con, row)
        added = sum(1 for rel in changed if rel not in known)
        return SyncReport(added=added, updated=len(changed) - added, removed=len(removed))

    # -- queries --------------------------------------------------------------------------------
    def _item(self, r: tuple[Any, ...]) -> Item:
        return Item(
            r[0], self.output / r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]), bool(r[10]), r[11]
        )

    def _one(self, where: str, args: tuple[Any, ...]) -> Item | None:
        row = self._con.execute(f"SELECT {_COLUMNS} FROM items WHERE {where}", args).fetchone()
        return self._item(row) if row else None

    def get(self, item_id: int) -> Item | None:
        return self._one("id = ?", (item_id,))

    def _where(self, query: str, favourites_only: bool) -> tuple[str, list[Any]]:
        clauses, args = ["1"], []
        for word in query.casefold().split():
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("prompt_fold LIKE ? ESCAPE '\\'")
            args.append(f"%{escaped}%")
        if favourites_only:
            clauses.append("favourite = 1")
        return " AND ".join(clauses), args

    def items(
        self,
        query: str = "",
        favourites_only: bool = False,
        newest_first: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Item]:
        """A page of items whose prompt holds every word of ``query``, sorted by date."""
        where, args = self._where(query, favourites_only)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} FROM items WHERE {where} ORDER BY created {order}, id {order}"
        return [self._item(r) for r in self._con.execute(sql + " LIMIT ? OFFSET ?", [*args, limit, offset])]

    def count(self, query: str = "", favourites_only: bool = False) -> int:
        where, args = self._where(query, favourites_only)
        return int(self._con.execute(f"SELECT count(*) FROM items WHERE {where}", args).fetchone()[0])

    def parameters(self, item_id: int) -> ImageParameters:
        """The parameters read from the file itself, the source of truth."""
        return read_parameters(self._require(item_id).path)

    def _require(self, item_id: int) -> Item:
        item = self.get(item_id)
        if item is None:
            raise HistoryError("That image is no longer in the history.", "Refresh the gallery.")
        return item

    # -- thumbnails -----------------------------------------------------------------------------
    def thumbnail(self, item_id: int, logical: int = THUMB_SIZE, scale: float = 1.0) -> bytes:
        """WebP bytes fitting ``logical`` points at screen ``scale`` (2.0 on HiDPI), cached per pixel size."""
        px = max(16, round(logical * scale))
        row = self._con.execute(
            "SELECT data FROM thumbs WHERE item_id = ? AND px = ?", (item_id, px)
        ).fetchone()
        if row is not None:
            return bytes(row[0])
        item = self._require(item_id)
        with open_pixels(item.path, draft=(px, px)) as im:
            thumb = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
        thumb.thumbnail((px, px), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        thumb.save(buf, format="WEBP", quality=82)
        data = buf.getvalue()
        with self._write() as con:
            con.execute(
                "INSERT OR REPLACE INTO thumbs (item_id, px, data) VALUES (?, ?, ?)", (item_id, px, data)
            )
        return data

    # -- favourites -----------------------------------------------------------------------------
    def _favourites(self) -> set[str]:
        try:
            data = json.loads((self.output / FAVOURITES).read_text("utf-8"))
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", FAVOURITES, exc)
            return set()
        paths = data.get("paths") if isinstance(data, dict) else None
        return {p for p in paths if isinstance(p, str)} if isinstance(paths, list) else set()

    def _save_favourites(self, change: str, on: bool) -> None:
        favourites = self._favourites()
        if (change in favourites) == on:
            return
        favourites = favourites | {change} if on else favourites - {change}
        tmp = self.output / f".favourites-{secrets.token_hex(4)}.tmp"
        tmp.write_text(json.dumps({"version": 1, "paths": sorted(favourites)}, ensure_ascii=False), "utf-8")
        os.replace(tmp, self.output / FAVOURITES)

    def set_favourite(self, item_id: int, on: bool = True) -> None:
        rel = self._rel(self._require(item_id).path)
        with self._write() as con:  # the write lock also serialises the favourites file between processes
            con.execute("UPDATE items SET favourite = ? WHERE id = ?", (int(on), item_id))
            self._save_favourites(rel, on)

    # -- delete, restore --------------------------------------------------------------------------
    def delete(self, item_id: int) -> TrashEntry:
        """Move the image into the output folder's ``.trash``; ``restore(entry.token)`` undoes it."""
        item = self._require(item_id)
        rel = self._rel(item.path)
        entry = TrashEntry(f"{time.time_ns()}-{secrets.token_hex(4)}", rel, time.time(), item.favourite)
        folder = self.output / TRASH / entry.token
        try:
            folder.mkdir(parents=True)
            (folder / "entry.json").write_text(json.dumps(entry.__dict__, ensure_ascii=False), "utf-8")
            os.rename(item.path, folder / item.path.name)
            fsync_dir(folder)
            fsync_dir(item.path.parent)
        except OSError as exc:
            raise HistoryError(f"Could not delete {item.path.name}: {exc.strerror or exc}.") from exc
        with self._write() as con:
            con.execute("DELETE FROM items WHERE id = ?", (item_id,))
            if item.favourite:
                self._save_favourites(rel, False)
        return entry

    def trash(self) -> list[TrashEntry]:
        """What can be restored, newest first."""
        entries = []
        for folder in (self.output / TRASH).glob("*"):
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                data = json.loads((folder / "entry.json").read_text("utf-8"))
                entry = TrashEntry(
                    folder.name, data["relpath"], float(data["deleted"]), bool(data["favourite"])
                )
                if _TOKEN.match(entry.token) and (folder / Path(entry.relpath).name).is_file():
                    entries.append(entry)
        return sorted(entries, key=lambda e: e.deleted, reverse=True)

    def restore(self, token: str) -> Item:
        """Put a deleted image back where it was (under a fresh name if that one is taken now)."""
        entry = next((e for e in self.trash() if e.token == token), None) if _TOKEN.match(token) else None
        if entry is None:
            raise HistoryError("That image is not in the trash any more.", "It may have been emptied.")
        folder = self.output / TRASH / token
        name = Path(entry.relpath)
        dst_dir = self.output / name.parent
        try:
            dst_dir.mkdir(parents=True, exist_ok=True)
            path = move_no_replace(folder / name.name, dst_dir, name.stem, name.suffix)
            shutil.rmtree(folder)
        except OSError as exc:
            raise HistoryError(f"Could not restore {name.name}: {exc.strerror or exc}.") from exc
        item = self.add(path)
        if entry.favourite:
            self.set_favourite(item.id, True)
            item = self._require(item.id)
        return item

    def empty_trash(self, older_than: float = 0.0) -> int:
        """Delete for good what has been in the trash longer than ``older_than`` seconds; returns a count."""
        cutoff, gone = time.time() - older_than, 0
        for entry in self.trash():
            if entry.deleted <= cutoff:
                shutil.rmtree(self.output / TRASH / entry.token, ignore_errors=True)
                gone += 1
        return gone
