"""``generate`` runs through the job runner the window uses: its checks come before any model loads, its
notes are said, and a job that could save only some of its images says how many and lists them."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.imagefile.read import read_record

FAST = ["--width", "256", "--height", "256", "--prior-steps", "2", "--decoder-steps", "1", "--seed", "3"]
CPU = ["--device", "cpu", "--dtype", "float32"]
LONG = ", ".join(["a castle on a hill"] * 2000)  # 40,000 characters: beyond one JPEG EXIF segment


def generate(prompt: str, prior: Path, decoder: Path, out: Path, *extra: str) -> list[str]:
    return [
        "generate",
        prompt,
        "--prior",
        str(prior),
        "--decoder",
        str(decoder),
        "--out",
        str(out),
        *FAST,
        *CPU,
        *extra,
    ]


def test_a_record_too_long_to_read_back_is_refused_before_any_model_loads(
    decoder_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    # The prior folder does not exist: the prompt is refused before the engine would find that out.
    code = main(generate("🐱" * 400_000, tmp_path / "nowhere", decoder_dir, out))
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("Error: The prompts are too long to be saved with the images")
    assert "nowhere" not in err
    assert not out.exists() or list(out.iterdir()) == []


def test_what_a_jpeg_cannot_carry_is_said(prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(generate(LONG, prior_dir, decoder_dir, tmp_path, "--format", "jpeg")) == 0
    captured = capsys.readouterr()
    path = Path(captured.out.strip())
    assert path.suffix == ".jpg" and read_record(path).params.prompt == LONG  # the record keeps it whole
    notes = [line for line in captured.err.splitlines() if line.startswith("Note: ")]
    assert notes[0].startswith("Note: The prompts are too long for a JPEG's EXIF text")
    assert len(notes) == len(set(notes))  # each said once


def full_disk_after(monkeypatch: pytest.MonkeyPatch, saved: int) -> None:
    """The disk fills up after ``saved`` image files: later writes fail as a full disk does (ENOSPC)."""
    from wuerstchen_desktop.core import atomicfile
    from wuerstchen_desktop.core.imagefile import write as image_write

    count = [0]
    real = image_write.write_bytes_atomic

    def write(data: bytes, folder: Path, stem: str, ext: str) -> Path:
        count[0] += 1
        if count[0] > saved:
            raise atomicfile.save_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), Path(folder))
        return real(data, folder, stem, ext)

    monkeypatch.setattr(image_write, "write_bytes_atomic", write)


def test_images_saved_before_the_disk_filled_up_are_listed_and_counted(
    prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    full_disk_after(monkeypatch, saved=1)
    code = main(generate("a cat", prior_dir, decoder_dir, tmp_path, "--images", "2"))
    captured = capsys.readouterr()
    assert code == 1, captured.err
    (kept,) = [Path(line) for line in captured.out.splitlines()]
    assert kept.is_file() and read_record(kept).params.seed == 3
    assert "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and errors[0].startswith("Error: Only 1 of 2 files were saved. The disk is full")
