"""The history: a SQLite index (WAL) over the output folder, which stays the source of truth.

The index lives in the platformdirs data folder and only makes the gallery fast (search, sort, cached
thumbnails); when it is missing, damaged (anywhere: see ``history_index``) or stale it is rebuilt from the
files by ``sync``. Favourites are mirrored to ``.favourites.json`` in the output folder, and each sync
reconciles the index with that file, so neither a rebuild nor a lost ``-wal`` loses one. Deleting moves
the file into ``.trash/<token>/`` inside the output folder (same disk, so the move is atomic);
``restore(token)`` is the undo (see ``trash``) and ``empty_trash`` the final step. Folders and files
whose names start with ``.`` are never indexed: the writer's temporary files and the trash among them, so
a half-written image never shows.

One ``History`` object belongs to one thread; several processes may share an index.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.atomicfile import clean_orphans, fsync_dir, move_no_replace
from wuerstchen_desktop.core.errors import HistoryError, WuerstchenError
from wuerstchen_desktop.core.imagefile.read import open_pixels, read_parameters
from wuerstchen_desktop.core.imagefile.record import ImageParameters
from wuerstchen_desktop.core.library.index import connect, discard, is_damage, transaction
from wuerstchen_desktop.core.library.scan import (
    FAVOURITES,
    file_row,
    read_favourites,
    scan,
    write_favourites,
)
from wuerstchen_desktop.core.library.trash import (
    TOKEN,
    TRASH,
    TrashEntry,
    list_entries,
    new_entry,
    restore_folder,
    restore_source,
    write_entry,
)

__all__ = ["FAVOURITES", "TRASH", "History", "Item", "SyncReport", "TrashEntry"]

log = logging.getLogger(__name__)

THUMB_SIZE = 256
_COLUMNS = "id, path, created, prompt, negative, seed, width, height, source, has_latent, favourite, kind"


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
class SyncReport:
    added: int = 0
    updated: int = 0
    removed: int = 0


def default_index_path(output: Path) -> Path:
    """Where the index of ``output`` lives: one file per output folder in the app's data folder."""
    digest = hashlib.sha256(str(Path(output).resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return appdirs.history_dir() / f"{digest}.sqlite3"


class History:
    """The gallery's index over ``output``. Opening it rebuilds a missing or damaged index and, unless
    ``sync=False``, brings it up to date with files added or removed behind the app's back."""

    def __init__(self, output: Path, index_path: Path | None = None, sync: bool = True) -> None:
        self.output = Path(output)
        self.index_path = Path(index_path) if index_path is not None else default_index_path(self.output)
        self.output.mkdir(parents=True, exist_ok=True)
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = connect(self.index_path)
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self._con = discard(self.index_path, exc)
        if sync:
            clean_orphans(self.output)  # temporary files of saves that were killed, in any date folder
            try:
                self.sync()
            except sqlite3.DatabaseError as exc:  # damage the open-time check cannot see (the thumbnails)
                if not is_damage(exc):
                    raise
                self.rebuild(exc)

    def rebuild(self, why: object = "asked to") -> SyncReport:
        """Throw the index away and make it again from the files; favourites come from the favourites file."""
        self._con.close()
        self._con = discard(self.index_path, why)
        return self.sync()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; SQLite failures become a sentence for the user."""
        try:
            with transaction(self._con):
                yield self._con
        except sqlite3.OperationalError as exc:
            if is_damage(exc):
                raise
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
        row = file_row(self.output, rel, self._favourites())
        if row is None:
            raise HistoryError(f"{path} is gone or not a regular file, so the history cannot list it.")
        with self._write() as con:
            self._upsert(con, row)
        item = self._one("path = ?", (rel,))
        assert item is not None
        return item

    def sync(self) -> SyncReport:
        """Bring the index in line with the folder: index new or changed files, forget vanished ones, and
        take the favourites from the favourites file (the index may have lost them with its ``-wal``)."""
        on_disk = scan(self.output)
        favourites = self._favourites()
        known = {r[0]: (r[1], r[2]) for r in self._con.execute("SELECT path, mtime_ns, size FROM items")}
        removed = [rel for rel in known if rel not in on_disk]
        changed = [rel for rel, stamp in on_disk.items() if known.get(rel) != stamp]
        for start in range(0, max(len(removed), len(changed)), 500):
            batch = changed[start : start + 500]
            rows = [r for r in (file_row(self.output, rel, favourites) for rel in batch) if r is not None]
            with self._write() as con:
                con.executemany(
                    "DELETE FROM items WHERE path = ?", [(r,) for r in removed[start : start + 500]]
                )
                for row in rows:
                    self._upsert(con, row)
        self._reconcile_favourites()
        added = sum(1 for rel in changed if rel not in known)
        return SyncReport(added=added, updated=len(changed) - added, removed=len(removed))

    def _reconcile_favourites(self) -> None:
        with self._write() as con:
            indexed = {r[0] for r in con.execute("SELECT path FROM items WHERE favourite = 1")}
            stored = read_favourites(self.output)
            if stored is None:  # unreadable: the index keeps what it knows, the file is left alone
                return
            if not stored and indexed and not (self.output / FAVOURITES).exists():
                write_favourites(self.output, indexed)  # the mirror was deleted: put it back
                return
            con.executemany("UPDATE items SET favourite = 1 WHERE path = ?", [(p,) for p in stored - indexed])
            con.executemany("UPDATE items SET favourite = 0 WHERE path = ?", [(p,) for p in indexed - stored])

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

    def _where(self, query: str, favourites_only: bool, kind: str | None) -> tuple[str, list[Any]]:
        clauses, args = ["1"], []
        for word in query.casefold().split():
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("prompt_fold LIKE ? ESCAPE '\\'")
            args.append(f"%{escaped}%")
        if favourites_only:
            clauses.append("favourite = 1")
        if kind:
            clauses.append("kind = ?")
            args.append(kind)
        return " AND ".join(clauses), args

    def items(
        self,
        query: str = "",
        favourites_only: bool = False,
        newest_first: bool = True,
        limit: int = 100,
        offset: int = 0,
        kind: str | None = None,
    ) -> list[Item]:
        """A page of items whose prompt holds every word of ``query``, sorted by date; ``kind`` ("image" or
        "composition") keeps only that kind."""
        where, args = self._where(query, favourites_only, kind)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} FROM items WHERE {where} ORDER BY created {order}, id {order}"
        return [self._item(r) for r in self._con.execute(sql + " LIMIT ? OFFSET ?", [*args, limit, offset])]

    def count(self, query: str = "", favourites_only: bool = False, kind: str | None = None) -> int:
        where, args = self._where(query, favourites_only, kind)
        return int(self._con.execute(f"SELECT count(*) FROM items WHERE {where}", args).fetchone()[0])

    def decoded_from(self, item_id: int) -> Item | None:
        """The newest image decoded from the composition ``item_id``: same prompt, seed and size, and the
        very latent its file holds (a decode stores the composition's latent unchanged)."""
        composition = self._require(item_id)
        if composition.kind != "composition" or not composition.has_latent:
            return None
        own = read_parameters(composition.path).record
        if own is None or own.latent is None:
            return None
        rows = self._con.execute(
            f"SELECT {_COLUMNS} FROM items WHERE kind = 'image' AND has_latent = 1 AND prompt = ?"
            " AND seed IS ? AND width IS ? AND height IS ? ORDER BY created DESC, id DESC LIMIT 50",
            (composition.prompt, composition.seed, composition.width, composition.height),
        )
        for item in (self._item(r) for r in rows):
            try:
                record = read_parameters(item.path).record
            except WuerstchenError:
                continue  # gone or damaged since it was indexed
            if record is not None and record.latent == own.latent:
                return item
        return None

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
        stored = read_favourites(self.output)
        if stored is None:  # unreadable file: the index's own list, which the next change writes back
            return {r[0] for r in self._con.execute("SELECT path FROM items WHERE favourite = 1")}
        return stored

    def _save_favourites(self, change: str, on: bool) -> None:
        stored = read_favourites(self.output)
        if stored is None or (change in stored) != on:
            favourites = self._favourites() if stored is None else stored
            write_favourites(self.output, favourites | {change} if on else favourites - {change})

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
        entry = new_entry(rel, item.favourite)
        folder = self.output / TRASH / entry.token
        try:
            folder.mkdir(parents=True)
            write_entry(folder, entry)
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
        return list_entries(self.output)

    def restore(self, token: str) -> Item:
        """Put a deleted image back where it was (under a fresh name if that one is taken now). The trash
        record is checked first: nothing is moved out of ``.trash`` or outside the output folder."""
        entry = next((e for e in self.trash() if e.token == token), None) if TOKEN.match(token) else None
        if entry is None:
            raise HistoryError("That image is not in the trash any more.", "It may have been emptied.")
        source, name = restore_source(self.output, entry), Path(entry.relpath)
        try:
            restore_folder(self.output, entry).mkdir(parents=True, exist_ok=True)
            path = move_no_replace(source, restore_folder(self.output, entry), name.stem, name.suffix)
            shutil.rmtree(self.output / TRASH / token)
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
