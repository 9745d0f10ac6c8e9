"""The history index over real files in a real folder, with a real SQLite database."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.images import T0, save
from wuerstchen_desktop.core.errors import HistoryError
from wuerstchen_desktop.core.library.history import History, default_index_path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def history(tmp_path: Path, out: Path):
    with History(out, tmp_path / "index" / "history.sqlite3") as h:
        yield h


def test_add_sort_and_search(history: History, out: Path) -> None:
    for i, prompt in enumerate(["a red cat", "a blue dog", "Große Straße at night", "red sky"]):
        history.add(save(out, prompt, seed=i, when=T0 + i))
    assert [i.prompt for i in history.items()] == [
        "red sky",
        "Große Straße at night",
        "a blue dog",
        "a red cat",
    ]
    assert [i.seed for i in history.items(newest_first=False, limit=2)] == [0, 1]
    assert [i.seed for i in history.items(limit=2, offset=2)] == [1, 0]
    assert [i.prompt for i in history.items("RED")] == ["red sky", "a red cat"]
    assert [i.prompt for i in history.items("cat red")] == ["a red cat"]
    assert [i.prompt for i in history.items("strasse")] == ["Große Straße at night"]
    assert history.items("100%_") == [] and history.count("red") == 2
    item = history.items("dog")[0]
    assert item.source == "wuerstchen" and item.has_latent and item.path.is_file()
    assert history.parameters(item.id).record.params.prompt == "a blue dog"  # type: ignore[union-attr]


def test_index_lives_in_the_platform_data_folder(tmp_path: Path) -> None:
    path = default_index_path(tmp_path)
    assert path.suffix == ".sqlite3" and "history" in path.parts
    assert default_index_path(tmp_path) == path != default_index_path(tmp_path / "other")


def test_wal_mode(history: History, tmp_path: Path) -> None:
    con = sqlite3.connect(history.index_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_latent_decodes_again(history: History, out: Path) -> None:
    from wuerstchen_desktop.core.imagefile.read import read_record
    from wuerstchen_desktop.core.jobs.records import record_latent

    item = history.add(save(out, "x", seed=7))
    latent = record_latent(read_record(item.path))
    assert item.has_latent
    assert latent.shape == (1, 16, 3, 3) and float(latent[0, 0, 0, 0]) == 7.0


def test_favourites_survive_a_rebuild(history: History, out: Path, tmp_path: Path) -> None:
    a = history.add(save(out, "keep me", seed=1))
    history.add(save(out, "other", seed=2))
    history.set_favourite(a.id)
    assert [i.prompt for i in history.items(favourites_only=True)] == ["keep me"]
    history.close()
    os.unlink(history.index_path)
    with History(out, history.index_path) as rebuilt:
        assert [i.prompt for i in rebuilt.items(favourites_only=True)] == ["keep me"]
        rebuilt.set_favourite(rebuilt.items(favourites_only=True)[0].id, False)
        assert rebuilt.count(favourites_only=True) == 0


def test_delete_and_restore(history: History, out: Path) -> None:
    path = save(out, "undo me", seed=3)
    item = history.add(path)
    history.set_favourite(item.id)
    original = path.read_bytes()
    entry = history.delete(item.id)
    assert not path.exists() and history.count() == 0
    assert [e.token for e in history.trash()] == [entry.token]
    with History(out, history.index_path) as again:  # a rescan never brings the trash back
        assert again.count() == 0
    restored = history.restore(entry.token)
    assert restored.path == path and path.read_bytes() == original and restored.favourite
    assert history.trash() == [] and history.count() == 1
    with pytest.raises(HistoryError):
        history.restore(entry.token)
    with pytest.raises(HistoryError):
        history.restore("../../etc")


def test_restore_never_overwrites(history: History, out: Path) -> None:
    path = save(out, "same", seed=4)
    entry = history.delete(history.add(path).id)
    shutil.copy(save(out, "newcomer", seed=5, when=T0 + 1), path)  # the name is taken meanwhile
    taken = path.read_bytes()
    restored = history.restore(entry.token)
    assert restored.path != path and path.read_bytes() == taken and restored.prompt == "same"


def test_empty_trash(history: History, out: Path) -> None:
    entry = history.delete(history.add(save(out, "bye")).id)
    assert history.empty_trash(older_than=3600) == 0
    assert history.empty_trash() == 1 and history.trash() == []
    assert not (out / ".trash" / entry.token).exists()


def test_thumbnails_cached_per_pixel_size(history: History, out: Path) -> None:
    item = history.add(save(out, "wide", size=300))
    small = history.thumbnail(item.id, 64)
    hidpi = history.thumbnail(item.id, 64, scale=2.0)
    assert Image.open(io.BytesIO(small)).size == (64, 64)
    assert Image.open(io.BytesIO(hidpi)).size == (128, 128)
    item.path.unlink()  # served from the cache now, without the file
    assert history.thumbnail(item.id, 64, scale=2.0) == hidpi


def test_rebuilds_a_damaged_index(history: History, out: Path) -> None:
    for i in range(3):
        history.add(save(out, f"p{i}", seed=i))
    history.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{history.index_path}{suffix}").unlink(missing_ok=True)
    data = history.index_path.read_bytes()
    history.index_path.write_bytes(b"not a database" + data[14:4096])
    with History(out, history.index_path) as rebuilt:
        assert sorted(i.prompt for i in rebuilt.items()) == ["p0", "p1", "p2"]


def test_stale_index_catches_up(history: History, out: Path) -> None:
    kept = history.add(save(out, "kept"))
    gone = history.add(save(out, "gone", seed=1))
    history.close()
    gone.path.unlink()
    behind = save(out / "elsewhere", "added behind its back", seed=2)
    (out / ".tmp-abc.png").write_bytes(b"half an image")  # a writer's temporary file is never shown
    (out / "notes.txt").write_text("not an image")
    with History(out, history.index_path) as h:
        assert sorted(i.path.name for i in h.items()) == sorted([kept.path.name, behind.name])
    with History(out, history.index_path, sync=False) as h:
        report = h.sync()
    assert (report.added, report.removed) == (0, 0)


def test_foreign_and_broken_files_are_listed(history: History, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(out / "plain.png")
    (out / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    history.sync()
    by_name = {i.path.name: i for i in history.items()}
    assert by_name["plain.png"].source == "none" and by_name["broken.jpg"].source == "broken"
    with pytest.raises(Exception) as err:
        history.thumbnail(by_name["broken.jpg"].id)
    assert "broken.jpg" in str(err.value)


def test_add_outside_the_folder_is_refused(history: History, tmp_path: Path) -> None:
    with pytest.raises(HistoryError):
        history.add(save(tmp_path / "elsewhere", "x"))
