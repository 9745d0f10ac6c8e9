"""Files that appear whole, never replace another, follow the umask, and leave no temporary files behind."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wuerstchen_desktop.core import atomicfile
from wuerstchen_desktop.core.atomicfile import clean_orphans, write_bytes_atomic, write_temp
from wuerstchen_desktop.core.errors import SaveError
from wuerstchen_desktop.core.imagefile.record import ImageRecord
from wuerstchen_desktop.core.imagefile.write import write_image
from wuerstchen_desktop.core.params import GenerationParams

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions and link semantics")


def no_hard_links(monkeypatch: pytest.MonkeyPatch, before: Callable[[], None] = lambda: None) -> None:
    """``link()`` fails as on FAT or exFAT (EPERM) unless the name is taken (EEXIST), as the kernel does."""

    def link(src: object, dst: object) -> None:
        before()
        if os.path.lexists(dst):  # type: ignore[arg-type]
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), str(dst))

    monkeypatch.setattr(atomicfile.os, "link", link)


def slow(call: Callable[..., None]) -> Callable[..., None]:
    def later(*args: object) -> None:
        time.sleep(0.02)
        call(*args)

    return later


def test_two_writers_without_hard_links_keep_both_files(tmp_path: Path, monkeypatch) -> None:
    rounds, writers = 30, 2
    state = threading.local()
    gate = [threading.Barrier(writers)]

    def together() -> None:  # both writers reach the name at the same moment, with their files written
        if not getattr(state, "waited", False):
            state.waited = True
            gate[0].wait(timeout=10)

    no_hard_links(monkeypatch, together)
    for name in ("rename", "replace"):  # a network mount: each rename takes a while to reach the server
        monkeypatch.setattr(atomicfile.os, name, slow(getattr(os, name)))
    paths: list[Path] = []
    errors: list[BaseException] = []

    def writer(index: int, name: str) -> None:
        try:
            paths.append(write_bytes_atomic(f"writer {index} of {name}".encode(), tmp_path, name, ".png"))
        except BaseException as exc:
            errors.append(exc)

    for r in range(rounds):
        gate[0] = threading.Barrier(writers)
        threads = [threading.Thread(target=writer, args=(i, f"same-{r}")) for i in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert len(set(paths)) == rounds * writers  # every writer got its own name...
    assert len({p.read_bytes() for p in paths}) == rounds * writers  # ...and kept its own bytes there
    assert sorted(tmp_path.iterdir()) == sorted(paths)  # no temporary file or empty claim left over


def test_without_hard_links_an_existing_file_is_never_replaced(tmp_path: Path, monkeypatch) -> None:
    no_hard_links(monkeypatch)
    (tmp_path / "a.png").write_bytes(b"the user's own file")
    path = write_bytes_atomic(b"new", tmp_path, "a", ".png")
    assert path.name == "a-2.png" and path.read_bytes() == b"new"
    assert (tmp_path / "a.png").read_bytes() == b"the user's own file"


def test_without_hard_links_the_final_name_is_empty_until_complete(tmp_path: Path, monkeypatch) -> None:
    no_hard_links(monkeypatch)
    seen: list[int] = []
    real_replace = os.replace

    def replace(src: object, dst: object) -> None:
        seen.append(os.stat(dst).st_size)  # type: ignore[arg-type]  # what a reader finds there now
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(atomicfile.os, "replace", replace)
    path = write_bytes_atomic(b"x" * 10_000, tmp_path, "a", ".png")
    assert seen == [0] and path.read_bytes() == b"x" * 10_000

    def fail(src: object, dst: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(atomicfile.os, "replace", fail)
    with pytest.raises(SaveError):
        write_bytes_atomic(b"y", tmp_path, "b", ".png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # no claim, no temporary file


@posix_only
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_images_follow_the_umask(tmp_path: Path, umask: int, mode: int, monkeypatch) -> None:
    image = Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8))
    old = os.umask(umask)
    try:
        path = write_image(image, ImageRecord(GenerationParams("a")), tmp_path, "png")
        no_hard_links(monkeypatch)
        claimed = write_image(image, ImageRecord(GenerationParams("a")), tmp_path, "png")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE(claimed.stat().st_mode) == mode and claimed != path


def age(path: Path, seconds: float) -> Path:
    past = time.time() - seconds
    os.utime(path, (past, past))
    return path


def test_clean_orphans_removes_only_our_old_temporary_files(tmp_path: Path) -> None:
    day = tmp_path / "2024-05-01"
    orphans = [
        write_temp(b"half an image", day, ".png"),  # the writer's own naming scheme
        write_temp(b"half", tmp_path, ".jpg"),
        write_temp(b"half", tmp_path / "a" / "b", ".webp"),
        tmp_path / ".tmp-k2j_9x0a.png",  # the scheme of earlier versions (mkstemp)
    ]
    fresh = write_temp(b"a save in progress", day, ".png")  # another writer may be about to rename it
    kept = [
        day / "120000-1-cat.png",
        day / "tmp-0123456789abcdef.png",
        day / ".tmp-notes.png",
        day / ".tmp-0123456789abcdef.txt",
        tmp_path / ".trash" / "1-ab" / ".tmp-0123456789abcdef.png",  # hidden folders are not entered
    ]
    for path in orphans[3:] + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"someone's file")
    for path in orphans + kept:
        age(path, 3600)
    link = day / ".tmp-fedcba9876543210.png"
    link.symlink_to(kept[0])
    assert clean_orphans(tmp_path) == len(orphans)
    assert not any(p.exists() for p in orphans)
    assert all(p.exists() for p in kept) and fresh.exists() and link.is_symlink()
    assert clean_orphans(tmp_path, older_than_s=0) == 1 and not fresh.exists()


KILLED_SAVE = """
import os, sys
from pathlib import Path
from PIL import Image
from wuerstchen_desktop.core import atomicfile
from wuerstchen_desktop.core.imagefile.write import write_image
from wuerstchen_desktop.core.imagefile.record import ImageRecord
from wuerstchen_desktop.core.params import GenerationParams

atomicfile.move_no_replace = lambda *args: os._exit(9)  # killed once the temporary file is on disk
write_image(Image.new("RGB", (8, 8)), ImageRecord(GenerationParams("a")), Path(sys.argv[1]), "png")
"""


def test_a_killed_save_leaves_an_orphan_that_is_cleaned(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    done = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(tmp_path)], cwd=root, timeout=120)
    assert done.returncode == 9
    (orphan,) = (p for p in tmp_path.rglob("*") if p.is_file())
    assert orphan.name.startswith(".tmp-") and orphan.stat().st_size > 0
    assert clean_orphans(tmp_path) == 0  # too fresh: it could be a save still running
    assert clean_orphans(tmp_path, older_than_s=0) == 1 and not orphan.exists()


def test_the_first_save_into_a_folder_sweeps_its_orphans(tmp_path: Path) -> None:
    day = tmp_path / "2024-05-01"
    orphan = age(write_temp(b"half an image", day, ".png"), 3600)
    deeper = age(write_temp(b"half an image", day / "sub", ".png"), 3600)
    image = Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8))
    saved = write_image(image, ImageRecord(GenerationParams("a")), tmp_path, "png", "2024-05-01/{slug}")
    assert not orphan.exists() and deeper.exists()  # only the folder saved into: a save stays cheap
    assert sorted(p.name for p in day.iterdir()) == sorted([saved.name, "sub"])
