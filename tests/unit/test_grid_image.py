"""A grid composed through the real job runner on tiny checkpoints, and its labelled image read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wuerstchen_desktop.core.errors import NoParametersFound
from wuerstchen_desktop.core.imagefile.grid_image import GRID_KEY, MIN_CELL, read_grid
from wuerstchen_desktop.core.imagefile.read import read_parameters, read_record
from wuerstchen_desktop.core.jobs.grid import make_grid
from wuerstchen_desktop.core.jobs.grid_jobs import export_grid, grid_jobs
from wuerstchen_desktop.core.jobs.runner import execute
from wuerstchen_desktop.core.params import GenerationParams

BASE = GenerationParams("a fox", width=256, height=256, seed=100, prior_steps=2)


@pytest.fixture(scope="module")
def composed(pipeline, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("grid-out")
    grid = make_grid(BASE, pipeline.prior_source.ref, ["seeds=4", "guidance=2,4,6"])
    paths: dict[tuple[int, int], Path] = {}
    for batch, job in grid_jobs(grid, out, "{time}-{seed}-{slug}"):
        saved, _ = execute(pipeline, job)
        paths.update({(c.row, c.col): p for c, p in zip(batch.cells, saved, strict=True)})
    return grid, paths, out


def test_a_3x4_grid_composes_twelve_compositions_with_their_values(composed) -> None:
    _grid, paths, _out = composed
    assert len(paths) == 12 and len(set(paths.values())) == 12
    for (row, col), path in paths.items():
        record = read_record(path)
        assert record.kind == "composition" and record.latent is not None
        assert record.params.seed == 100 + col
        assert record.params.prior_guidance == (2.0, 4.0, 6.0)[row]
        assert record.params.images == 1 and record.params.prompt == "a fox"


def test_the_grid_image_has_labels_and_every_cell_record(composed) -> None:
    grid, paths, out = composed
    image_path = export_grid(grid, paths, out)
    assert image_path.parent == out / "grids"
    record = read_grid(image_path)
    assert record.axes["column_labels"] == ["seed 100", "seed 101", "seed 102", "seed 103"]
    assert record.axes["row_labels"] == ["guidance 2", "guidance 4", "guidance 6"]
    assert make_grid(BASE, grid.prior, [record.axes["columns"], record.axes["rows"]]) == grid
    assert set(record.cells) == set(paths)
    for place, path in paths.items():
        original = read_record(path)
        assert record.cells[place].params == original.params
        assert record.cells[place].latent is None  # the latents stay in the compositions' own files
        assert record.names[place] == path.name
    # Other tools (and our reader) see the first cell's A1111 text; there is no record of one image.
    shown = read_parameters(image_path)
    assert shown.source == "a1111" and shown.prompt == "a fox" and shown.seed == 100 and shown.guidance == 2.0
    with pytest.raises(NoParametersFound):
        read_record(image_path)
    with Image.open(image_path) as im:
        assert GRID_KEY in im.text
        pixels = np.asarray(im.convert("L")).astype(int)
    # 24x24 previews are enlarged to at least MIN_CELL; a label band on top and on the left.
    h, w = pixels.shape
    cell = 24 * -(-MIN_CELL // 24)
    top, left = h - 3 * cell, w - 4 * cell
    assert top > 16 and left > 16
    for c in range(4):  # each column header holds dark text
        band = pixels[:top, left + c * cell : left + (c + 1) * cell]
        assert (band < 128).sum() > 50, c
    for r in range(3):
        band = pixels[top + r * cell : top + (r + 1) * cell, :left]
        assert (band < 128).sum() > 50, r
    assert (pixels[:top, :left] < 128).sum() == 0  # the corner stays blank
    # The cells hold the compositions, enlarged.
    with Image.open(paths[(1, 2)]) as im:
        small = np.asarray(im.convert("L")).astype(int)
    scale = cell // 24
    placed = pixels[top + cell : top + 2 * cell : scale, left + 2 * cell : left + 3 * cell : scale]
    assert np.abs(placed - small).mean() < 12


def test_reading_an_ordinary_image_as_a_grid_says_so(composed) -> None:
    _grid, paths, _out = composed
    with pytest.raises(NoParametersFound, match="not a grid image"):
        read_grid(paths[(0, 0)])


def test_a_damaged_grid_record_is_a_clear_error(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    from wuerstchen_desktop.core.errors import ImageReadError

    info = PngImagePlugin.PngInfo()
    info.add_text(GRID_KEY, json.dumps({"axes": {}, "cells": [{"row": 0}]}), zip=True)
    path = tmp_path / "broken.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    with pytest.raises(ImageReadError, match="damaged"):
        read_grid(path)
