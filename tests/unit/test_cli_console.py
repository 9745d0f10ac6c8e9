"""The command line against unlucky set-ups: a console that cannot show a file name or went away, an
output folder that cannot take images, a record holding a number JSON cannot say."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from tests.helpers.cli import FAST, generate, run_user_error
from tests.helpers.images import save
from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.errors import OutputFolderError
from wuerstchen_desktop.core.imagefile.record import ImageRecord, record_to_json
from wuerstchen_desktop.core.library.outputdir import check_output_dir
from wuerstchen_desktop.core.params import GenerationParams

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "猫の絵 🐱 at night"


def cli(args: list[str], encoding: str, **kwargs) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": encoding, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "wuerstchen_desktop", *args], env=env, stderr=subprocess.PIPE, **kwargs
    )


def generate_args(prior: Path, decoder: Path, out: Path) -> list[str]:
    return ["generate", PROMPT, "--prior", str(prior), "--decoder", str(decoder), "--out", str(out), *FAST]


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_a_console_that_cannot_show_the_name_loses_no_image(
    prior_dir, decoder_dir, tmp_path, encoding
) -> None:
    out = tmp_path / "出力"
    child = cli(
        [*generate_args(prior_dir, decoder_dir, out), "--images", "2"], encoding, stdout=subprocess.PIPE
    )
    stdout, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, stderr.decode(errors="replace")
    written = sorted(out.glob("*.png"))
    assert len(written) == 2 and all("猫の絵" in p.name for p in written)
    lines = stdout.decode("ascii").splitlines()  # escaped, but one line per image
    assert len(lines) == 2 and all("\\u732b" in line for line in lines)


@pytest.mark.skipif(sys.platform == "win32", reason="a closed pipe reads differently on Windows")
def test_a_console_that_went_away_loses_no_image(prior_dir, decoder_dir, tmp_path) -> None:
    out = tmp_path / "out"
    read_end, write_end = os.pipe()
    os.close(read_end)  # `generate ... | head -0`: the first line printed finds nobody reading
    try:
        child = cli([*generate_args(prior_dir, decoder_dir, out), "--images", "2"], "utf-8", stdout=write_end)
    finally:
        os.close(write_end)
    _, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, stderr.decode(errors="replace")
    assert len(list(out.glob("*.png"))) == 2


def test_output_folder_that_is_a_file_is_refused_before_the_job(decoder_dir, tmp_path, capsys) -> None:
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"x")
    # The prior folder is missing too: the output folder is checked first, before any model loads.
    line = run_user_error(capsys, generate(tmp_path / "nowhere", decoder_dir, taken))
    assert line == (
        f"Error: The output folder {taken} is a file, not a folder. "
        "Choose another output folder, or make this one writable."
    )
    line = run_user_error(capsys, generate(tmp_path / "nowhere", decoder_dir, taken / "inside"))
    assert f"The output folder {taken / 'inside'} cannot be created" in line
    assert taken.read_bytes() == b"x"


@pytest.fixture
def read_only_folder(tmp_path: Path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    immutable = False
    if os.name != "nt" and os.geteuid() == 0:  # root writes anywhere chmod allows nothing
        immutable = shutil.which("chattr") is not None and (
            subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        )
        if not immutable:
            pytest.skip("running as root without chattr: no folder here is read-only")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(stat.S_IRWXU)


def test_read_only_output_folder_is_refused_before_the_job(
    prior_dir, decoder_dir, read_only_folder, tmp_path, capsys
) -> None:
    line = run_user_error(capsys, generate(tmp_path / "nowhere", decoder_dir, read_only_folder))
    assert line.startswith(f"Error: Images cannot be saved in the output folder {read_only_folder}: ")
    assert line.endswith("Choose another output folder, or make this one writable.")
    assert list(read_only_folder.iterdir()) == []


def test_reproduce_checks_the_output_folder_before_the_job(tmp_path, capsys) -> None:
    image = save(tmp_path / "images", "a cat", seed=3)
    taken = tmp_path / "taken"
    taken.write_text("x")
    line = run_user_error(
        capsys, ["reproduce", str(image), "--prior", str(tmp_path / "nowhere"), "--out", str(taken)]
    )
    assert "is a file, not a folder" in line


def test_check_output_dir_makes_the_folder_and_leaves_nothing(tmp_path) -> None:
    folder = tmp_path / "a" / "b"
    check_output_dir(folder)
    assert folder.is_dir() and list(folder.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputFolderError):
        check_output_dir(tmp_path / "file")


def test_read_never_prints_invalid_json(tmp_path, capsys) -> None:
    """JSON has no infinity: a record holding 1e999 is refused as damaged, in one line, and nothing that
    is not JSON reaches standard output."""
    text = record_to_json(ImageRecord(GenerationParams("x", seed=1)))
    assert '"prior_schedule":[]' in text
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "wuerstchen", text.replace('"prior_schedule":[]', '"prior_schedule":[1e999,-1e999,0.5]'), zip=True
    )
    Image.new("RGB", (8, 8)).save(tmp_path / "inf.png", pnginfo=info)
    assert main(["read", str(tmp_path / "inf.png")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "parameters stored in this image are damaged (the number 1e999 is out of range)" in captured.err
