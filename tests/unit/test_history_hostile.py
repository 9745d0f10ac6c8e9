"""Hostile entries in the output folder, a damaged index, a lost ``-wal``, an edited trash record: the
gallery still lists every good image, keeps the favourites, and nothing leaves the output folder."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.images import save
from wuerstchen_desktop.core.errors import HistoryError
from wuerstchen_desktop.core.library.history import History
from wuerstchen_desktop.core.library.index import is_damage

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def index(tmp_path: Path) -> Path:
    return tmp_path / "index" / "history.sqlite3"


@posix_only
def test_a_fifo_named_png_is_skipped_not_opened(out: Path, index: Path) -> None:
    good = save(out, "good", seed=1)
    os.mkfifo(out / "pipe.png")
    # In a child, so that a regression hangs there (and fails here) instead of hanging the test run.
    code = textwrap.dedent(
        """
        import sys
        from wuerstchen_desktop.core.library.history import History
        from wuerstchen_desktop.core.errors import ImageReadError
        from wuerstchen_desktop.core.imagefile.read import open_pixels
        with History(sys.argv[1], sys.argv[2]) as history:
            print(sorted(i.path.name for i in history.items()))
            try:
                history.add(history.output / "pipe.png")
            except Exception as exc:
                print(type(exc).__name__)
        try:
            with open_pixels(history.output / "pipe.png"):
                pass
        except ImageReadError as exc:
            print(exc.message)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(out), str(index)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines == [
        str([good.name]),
        "HistoryError",
        "pipe.png is not a regular file (a pipe or a device), so it is not read.",
    ]
    assert "pipe.png: not a regular file" in run.stderr  # logged, not silent


@posix_only
def test_a_symlink_loop_is_skipped_and_the_rest_listed(out: Path, index: Path) -> None:
    good = save(out, "good", seed=1)
    (out / "loop.png").symlink_to("loop.png")
    (out / "sub").mkdir()
    (out / "sub" / "a.png").symlink_to("b.png")
    (out / "sub" / "b.png").symlink_to("a.png")
    linked = out / "linked.png"
    linked.symlink_to(good)  # a link to a real image still counts
    with History(out, index) as history:
        assert sorted(i.path.name for i in history.items()) == sorted([good.name, "linked.png"])


def corrupt_a_late_page(index: Path) -> int:
    """Overwrite the header of the last table b-tree leaf page of the file; returns its page number."""
    data = bytearray(index.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    pages = len(data) // page_size
    late = next(n for n in range(pages - 1, 1, -1) if data[n * page_size] == 0x0D)
    data[late * page_size : late * page_size + 12] = b"\x0d\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    index.write_bytes(bytes(data))
    return late


def test_damage_on_a_late_page_rebuilds_keeping_favourites(out: Path, index: Path) -> None:
    long = "a long prompt about a castle in the fog " * 40  # rows of kilobytes: many pages
    with History(out, index) as history:
        items = [history.add(save(out, f"{i} {long}", seed=i, size=16)) for i in range(80)]
        for item in items[::20]:
            history.set_favourite(item.id)
    for suffix in ("-wal", "-shm"):
        assert not Path(f"{index}{suffix}").exists()  # closed: every page is in the main file
    page = corrupt_a_late_page(index)
    assert page > 20
    with History(out, index) as rebuilt:
        assert rebuilt.count() == 80
        assert sorted(i.seed for i in rebuilt.items(favourites_only=True)) == [0, 20, 40, 60]
        assert rebuilt._con.execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_a_closed_index_is_misuse_not_damage(out: Path, index: Path) -> None:
    """Only a damaged file throws the index away: a call on a closed connection is a bug to report, and
    rebuilding would hide it at the cost of the whole index."""
    save(out, "one", seed=1)
    history = History(out, index)
    history.close()
    with pytest.raises(sqlite3.ProgrammingError) as err:
        history.count()
    assert not is_damage(err.value)


def test_favourites_after_a_lost_wal(out: Path, index: Path) -> None:
    with History(out, index) as history:
        a, b, c = (history.add(save(out, name, seed=i)) for i, name in enumerate("abc"))
        history.set_favourite(c.id)
        history._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        history.set_favourite(a.id)  # these two changes live only in the -wal now
        history.set_favourite(c.id, False)
        without_wal = index.read_bytes()
    index.write_bytes(without_wal)  # the index as a crash that lost its -wal leaves it
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    with History(out, index) as reopened:
        assert [i.prompt for i in reopened.items(favourites_only=True)] == ["a"]
        assert reopened.get(b.id) is not None and not reopened.get(b.id).favourite  # type: ignore[union-attr]


def test_a_deleted_favourites_file_is_written_again_from_the_index(out: Path, index: Path) -> None:
    with History(out, index) as history:
        history.set_favourite(history.add(save(out, "fav")).id)
    (out / ".favourites.json").unlink()
    with History(out, index) as reopened:
        assert [i.prompt for i in reopened.items(favourites_only=True)] == ["fav"]
    assert len(json.loads((out / ".favourites.json").read_text())["paths"]) == 1


def edit_entry(out: Path, token: str, relpath: str) -> None:
    path = out / ".trash" / token / "entry.json"
    data = json.loads(path.read_text())
    data["relpath"] = relpath
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("where", ["parent", "absolute", "trash", "symlinked folder"])
def test_undo_never_moves_an_image_out_of_the_output_folder(
    out: Path, index: Path, tmp_path: Path, where: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    with History(out, index) as history:
        item = history.add(save(out, "trashed", seed=1))
        entry = history.delete(item.id)
        name = item.path.name
        if where == "parent":
            edit_entry(out, entry.token, f"../outside/{name}")
        elif where == "absolute":
            edit_entry(out, entry.token, str(outside / name))
        elif where == "trash":
            edit_entry(out, entry.token, f".trash/{name}")
        else:
            (out / "escape").symlink_to(outside, target_is_directory=True)
            edit_entry(out, entry.token, f"escape/{name}")
        with pytest.raises(HistoryError) as err:
            history.restore(entry.token)
        assert "points outside the output folder" in str(err.value)
        assert list(outside.iterdir()) == []
        assert (out / ".trash" / entry.token / name).is_file()  # still in the trash, untouched
        assert [e.token for e in history.trash()] == [entry.token]


def test_undo_refuses_a_trashed_file_that_leads_out_of_the_trash(
    out: Path, index: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    with History(out, index) as history:
        item = history.add(save(out, "trashed", seed=1))
        entry = history.delete(item.id)
        trashed = out / ".trash" / entry.token / item.path.name
        trashed.unlink()
        trashed.symlink_to(secret)
        with pytest.raises(HistoryError):
            history.restore(entry.token)
        folder = out / ".trash" / entry.token
        shutil.rmtree(folder)
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / item.path.name).write_bytes(secret.read_bytes())
        (tmp_path / "elsewhere" / "entry.json").write_text(json.dumps(entry.__dict__))
        folder.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        with pytest.raises(HistoryError):
            history.restore(entry.token)
        assert (tmp_path / "elsewhere" / item.path.name).is_file() and not item.path.exists()


def test_undo_still_restores_into_a_subfolder(out: Path, index: Path) -> None:
    with History(out, index) as history:
        path = save(out / "2024-01-02", "dated", seed=1)
        entry = history.delete(history.add(path).id)
        shutil.rmtree(out / "2024-01-02")  # its folder went away meanwhile: made again
        assert history.restore(entry.token).path == path and path.is_file()


def test_a_favourites_file_that_cannot_be_written_is_said_and_changes_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    """A full disk while starring an image: a sentence about saving the favourites (not about reading the
    history), and the index keeps the old state, so the two never disagree."""
    import errno

    from wuerstchen_desktop.core import atomicfile

    out, index = tmp_path / "out", tmp_path / "index.sqlite3"
    with History(out, index) as history:
        item = history.add(save(out, "a star", seed=1))

        def full(*args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(atomicfile, "write_temp", full)
        with pytest.raises(HistoryError, match="Could not save the favourites") as info:
            history.set_favourite(item.id)
        assert "No space left on device" in str(info.value)
        assert history.items(favourites_only=True) == []
