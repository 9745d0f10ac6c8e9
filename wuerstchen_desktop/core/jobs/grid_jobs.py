"""A grid as compose jobs, and its labelled image made from the saved compositions.

The command line and the window both submit ``grid_jobs`` (each job with the prior that composes it)
and export with ``export_grid`` once the compositions are on disk.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from wuerstchen_desktop.core.errors import WuerstchenError
from wuerstchen_desktop.core.imagefile.grid_image import GridCell, write_grid
from wuerstchen_desktop.core.imagefile.read import open_pixels, read_record
from wuerstchen_desktop.core.jobs.grid import Batch, Grid
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.library.naming import slug

GRIDS_FOLDER = "grids"


def grid_jobs(grid: Grid, out_dir: Path, name_pattern: str, **extra: object) -> list[tuple[Batch, Job]]:
    """One compose job per batch of the grid, in the order they should run (one prior after another)."""
    return [
        (batch, Job(batch.params, out_dir, "png", name_pattern, kind=JobKind.COMPOSE, **extra))  # type: ignore[arg-type]
        for batch in grid.batches()
    ]


def export_grid(grid: Grid, paths: Mapping[tuple[int, int], Path], folder: Path) -> Path:
    """The labelled grid image of the compositions saved at ``paths`` (by (row, column); a missing or
    unreadable one leaves its cell blank), written under ``folder/grids``. Returns its path."""
    cells: list[GridCell] = []
    for (row, col), path in sorted(paths.items()):
        try:
            record = read_record(path)
            with open_pixels(path) as im:
                image = im.convert("RGB")
        except WuerstchenError:
            continue
        cells.append(GridCell(row, col, image, record, path.name))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    stem = f"{GRIDS_FOLDER}/{stamp}-grid-{slug(grid.base.prompt)}"
    return write_grid(cells, grid.to_dict(), grid.row_labels(), grid.column_labels(), folder, stem)


__all__ = ["GRIDS_FOLDER", "export_grid", "grid_jobs"]
