"""The files side of the history: which files of the output folder are images, what each row says about
one, and the favourites mirror ``.favourites.json``. Any one bad entry (a FIFO, a symlink loop, a folder
we may not read, a file that breaks the reader) is skipped or listed as broken, with a line in the log:
it never empties the gallery, and nothing but a regular file is ever opened."""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

from wuerstchen_desktop.core.atomicfile import replace_atomic
from wuerstchen_desktop.core.errors import HistoryError, ImageReadError, NoParametersFound
from wuerstchen_desktop.core.imagefile.read import read_parameters
from wuerstchen_desktop.core.imagefile.record import ImageParameters
from wuerstchen_desktop.core.imagefile.write import EXTENSIONS

log = logging.getLogger(__name__)

FAVOURITES = ".favourites.json"


def scan(output: Path) -> dict[str, tuple[int, int]]:
    """Every visible image under ``output``: relative path to (mtime_ns, size).

    Names starting with ``.`` (temporary files, the trash) are never listed; symlinked folders are not
    followed; a symlinked file counts when it leads to a regular file.
    """
    found: dict[str, tuple[int, int]] = {}
    stack = [(str(output), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("history: skipping the folder %s: %s", folder, exc)
            continue
        with entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError as exc:
                    log.warning("history: skipping %s: %s", entry.path, exc)
                    continue
                if is_dir:
                    stack.append((entry.path, f"{prefix}{name}/"))
                elif name[name.rfind(".") :].lower() in EXTENSIONS:
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue
                    except OSError as exc:  # a symlink loop, a link into a folder we may not read
                        log.warning("history: skipping %s: %s", entry.path, exc)
                        continue
                    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
                        log.warning("history: skipping %s: not a regular file", entry.path)
                        continue
                    found[prefix + name] = (st.st_mtime_ns, st.st_size)
    return found


def _parse_created(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except (ValueError, OverflowError, OSError):
        return None


def file_row(output: Path, rel: str, favourites: set[str]) -> tuple[Any, ...] | None:
    """The index row for ``output/rel``, or None when it is gone or not a regular file."""
    path = output / rel
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("history: skipping %s: %s", path, exc)
        return None
    if not stat.S_ISREG(st.st_mode):
        log.warning("history: skipping %s: not a regular file", path)
        return None
    info: ImageParameters | None = None
    source = "none"
    try:
        info = read_parameters(path)
        source = info.source
    except NoParametersFound:
        pass
    except ImageReadError:
        if not os.path.lexists(path):
            return None
        source = "broken"
    except Exception:  # a reader bug on one hostile file must not empty the gallery
        log.exception("history: reading %s failed", path)
        source = "broken"
    record = info.record if info is not None else None
    created = _parse_created(record.created) if record is not None else None
    prompt = info.prompt if info else ""
    return (
        rel, st.st_mtime_ns, st.st_size, created if created is not None else st.st_mtime_ns / 1e9,
        prompt, prompt.casefold(), info.negative_prompt if info else "", info.seed if info else None,
        info.width if info else None, info.height if info else None, source,
        int(record is not None and record.latent is not None), int(rel in favourites),
        record.kind if record is not None else "image",
    )  # fmt: skip


def read_favourites(output: Path) -> set[str] | None:
    """The favourites file's paths; an empty set when there is none, None when it is unreadable."""
    try:
        data = json.loads((output / FAVOURITES).read_text("utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as exc:
        log.warning("history: ignoring unreadable %s: %s", FAVOURITES, exc)
        return None
    paths = data.get("paths") if isinstance(data, dict) else None
    if not isinstance(paths, list):
        log.warning("history: ignoring %s: it holds no list of paths", FAVOURITES)
        return None
    return {p for p in paths if isinstance(p, str)}


def write_favourites(output: Path, favourites: set[str]) -> None:
    data = json.dumps({"version": 1, "paths": sorted(favourites)})  # ASCII escapes: any name, any console
    try:
        replace_atomic(data.encode("ascii"), output / FAVOURITES)
    except OSError as exc:
        raise HistoryError(
            f"Could not save the favourites in {output / FAVOURITES}: {exc.strerror or exc}.",
            "Free some disk space or make the output folder writable; the favourite was not changed.",
        ) from exc
