"""``compose --grid`` and ``decode`` on the command line, through the real job runner on tiny checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import job_line, run_user_error
from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.imagefile.grid_image import read_grid
from wuerstchen_desktop.core.imagefile.read import read_record


def compose(prior: Path | str, decoder: Path, out: Path, *extra: str) -> list[str]:
    return job_line("compose", "a fox", prior, decoder, out, "--seed", "40", *extra)


def test_compose_a_grid_then_decode_a_row(capsys, prior_dir: Path, decoder_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(compose(prior_dir, decoder_dir, out, "--grid", "seeds=3", "--grid", "guidance=2,5"))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    lines = [Path(line) for line in printed.out.splitlines()]
    *compositions, grid_path = lines
    assert len(compositions) == 6
    assert all(p.parent == out / "compositions" and p.is_file() for p in compositions)
    assert grid_path.parent == out / "grids"
    grid = read_grid(grid_path)
    assert grid.axes["column_labels"] == ["seed 40", "seed 41", "seed 42"]
    assert grid.axes["row_labels"] == ["guidance 2", "guidance 5"]
    by_name = {p.name: p for p in compositions}
    for (row, col), record in grid.cells.items():
        own = read_record(by_name[grid.names[(row, col)]])
        assert own.kind == "composition" and own.params == record.params
        assert (own.params.seed, own.params.prior_guidance) == (40 + col, (2.0, 5.0)[row])

    row = [by_name[grid.names[(1, col)]] for col in range(3)]
    out2 = tmp_path / "decoded"
    code = main(["decode", *map(str, row), "--out", str(out2)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    images = [Path(line) for line in printed.out.splitlines()]
    assert len(images) == 3
    for composition, image in zip(row, images, strict=True):
        made, own = read_record(image), read_record(composition)
        assert made.kind == "image" and made.latent == own.latent
        assert made.params.seed == own.params.seed == made.params.decoder_seed
        assert made.params.prior_guidance == 5.0


def test_a_grid_over_priors_loads_each_prior_once(
    capsys, monkeypatch, prior_dir: Path, decoder_dir: Path, tmp_path: Path
) -> None:
    from wuerstchen_desktop import cli
    from wuerstchen_desktop.testing.checkpoints import write_prior_repo

    other = write_prior_repo(tmp_path / "other-prior", seed=9)
    loaded: list[str] = []
    real = cli._engine

    def engine(prior: str, decoder: str, args):  # counts the loads, then builds the real pipeline
        loaded.append(prior)
        return real(prior, decoder, args)

    monkeypatch.setattr(cli, "_engine", engine)
    out = tmp_path / "out"
    code = main(compose(prior_dir, decoder_dir, out, "--grid", f"prior={other},{prior_dir}", "--seeds", "2"))
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert loaded == [str(prior_dir), str(other)]
    grid = read_grid(Path(printed.out.splitlines()[-1]))
    assert grid.axes["column_labels"] == ["seed 40", "seed 41"]
    assert grid.axes["row_labels"] == ["prior other-prior", "prior wuerstchen-prior"]
    for (row, _col), record in grid.cells.items():
        assert record.prior_model == (str(other), str(prior_dir))[row]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--grid", "colour=red"], "is not one of seed"),
        (["--grid", "seeds=9", "--grid", "guidance=1,2,3,4,5,6,7,8"], "at most 64"),
        (["--grid", "seeds=2", "--grid", "guidance=2", "--grid", "steps=3"], "at most two axes"),
        (["--grid", "size=300"], "The width 300 is not supported"),
    ],
)
def test_a_bad_grid_is_one_line_before_any_model_loads(
    capsys, tmp_path: Path, extra: list[str], said: str
) -> None:
    # A prior that does not exist: the grid is refused before it would be looked for.
    line = run_user_error(capsys, compose(tmp_path / "no-prior", tmp_path / "no-decoder", tmp_path, *extra))
    assert said in line


def test_decoding_a_file_that_is_no_composition_is_one_line(capsys, tmp_path: Path) -> None:
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (16, 16)).save(photo)
    line = run_user_error(capsys, ["decode", str(photo), "--out", str(tmp_path / "out")])
    assert "photo.png" in line
