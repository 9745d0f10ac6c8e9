"""A grid of compositions in the window: the dialog, one compose job per batch (each with the prior that
composes it), the contact sheet in grid mode as they arrive, cancelling the rest, and the grid image."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.errors import WuerstchenError
from wuerstchen_desktop.core.jobs.grid import Batch, Grid, make_grid
from wuerstchen_desktop.core.jobs.job import Job, JobError, JobKind, JobResult
from wuerstchen_desktop.core.library.history import Item
from wuerstchen_desktop.core.prompts.wildcards import prompt_variants
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.ui.contact_sheet import ContactSheet
from wuerstchen_desktop.ui.grid_dialog import GridDialog
from wuerstchen_desktop.ui.prompt_panel import PromptPanel
from wuerstchen_desktop.worker.generation import GenerationService


class GridFlow(QObject):
    """The grid the contact sheet shows, and the jobs that compose it."""

    def __init__(
        self,
        service: GenerationService,
        panel: PromptPanel,
        sheet: ContactSheet,
        settings: Callable[[], Settings],
        message: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service, self.panel, self.sheet, self.settings, self.message = (
            service, panel, sheet, settings, message,
        )  # fmt: skip
        self.grid: Grid | None = None
        self.jobs: dict[int, Batch] = {}  # the grid's compose jobs not finished yet
        self.paths: dict[tuple[int, int], Path] = {}  # (row, column) -> its composition's file
        self.last_export: Path | None = None
        self.began: Callable[[], None] = lambda: None  # the sheet is the grid's from now on
        sheet.grid_requested.connect(self.ask)
        sheet.export_requested.connect(self.export)

    def ask(self) -> None:
        """The dialog over the prompt panel's settings; its grid is composed when accepted."""
        base = self.panel.job_params(compose=True)
        if base is None:
            return
        parent = self.parent()
        dialog = GridDialog(
            base.replace(images=1), self.settings().prior, self.service.costs,
            parent if isinstance(parent, QWidget) else None,
        )  # fmt: skip
        if dialog.exec() and dialog.grid is not None:
            self.start(dialog.grid)

    def start_axes(self, axes: list[str]) -> Grid | None:
        """Compose the grid of ``axes`` (as ``compose --grid`` takes them) over the panel's settings."""
        base = self.panel.job_params(compose=True)
        if base is None:
            return None
        try:
            grid = make_grid(
                base.replace(images=1), self.settings().prior, axes, prompt_variants(appdirs.wildcards_dir())
            )
        except WuerstchenError as exc:
            self.panel.show_error(str(exc))
            return None
        self.start(grid)
        return grid

    def start(self, grid: Grid) -> None:
        self.cancel()
        self.began()
        s = self.settings()
        changes, picture = self.panel.picture.start()
        self.grid, self.paths, self.jobs = grid, {}, {}
        _rows, cols = grid.shape
        places: dict[int, list[int]] = {}
        jobs = []
        for batch in grid.batches():
            prior = None if batch.prior == s.prior else batch.prior
            job = Job(
                batch.params, s.output_dir, "png", s.name_pattern, kind=JobKind.COMPOSE,
                changes=changes, start=picture, prior=prior,
            )  # fmt: skip
            self.jobs[job.id] = batch
            places[job.id] = [c.row * cols + c.col for c in batch.cells]
            jobs.append(job)
        seeds = [c.params.seed for c in grid.cells()]
        size = (grid.base.width, grid.base.height)
        self.sheet.begin_grid(grid.column_labels(), grid.row_labels(), seeds, size, places)
        for job in jobs:
            self.service.submit(job)
        self.message(
            self.tr("Composing a grid of {0} compositions ({1})…").format(len(seeds), grid.describe())
        )

    def forget(self) -> None:
        """The sheet shows something else now; jobs still running are left to finish."""
        self.grid, self.jobs, self.paths = None, {}, {}

    def owns(self, job_id: int) -> bool:
        return job_id in self.jobs

    def finished(self, result: JobResult) -> bool:
        """True if the result is one of the grid's jobs: its compositions go to their cells."""
        batch = self.jobs.pop(result.job_id, None)
        if batch is None:
            return False
        self._fill(batch, result.paths)
        if not self.jobs:
            self.message(self.tr("The grid is composed: decode cells or rows, or export the grid image."))
        return True

    def failed(self, error: JobError) -> None:
        batch = self.jobs.get(error.job_id)
        if batch is not None:
            self._fill(batch, error.paths)  # the ones saved stay in their cells
            self.stopped(error.job_id, self.tr("The grid stopped: {0}").format(error.message))

    def stopped(self, job_id: int, message: str) -> None:
        """One of the grid's jobs was cancelled or failed: the rest of the grid is cancelled too."""
        if job_id not in self.jobs:
            return
        self.jobs.pop(job_id)
        self.cancel()
        self.sheet.stop(message)

    def cancel(self) -> None:
        """Take the grid's waiting jobs off the queue and stop its running one."""
        jobs, self.jobs = list(self.jobs), {}
        for job_id in jobs:
            if not self.service.remove(job_id):
                running = self.service.running
                if running is not None and running.id == job_id:
                    self.service.cancel_current()

    def indexed(self, item: Any) -> bool:
        """The history indexed one of the grid's compositions: its cell shows the history's item."""
        if item.path in self.paths.values():
            self.sheet.add_composition(item)
            return True
        return False

    def export(self) -> Path | None:
        """The grid as one labelled image under the output folder's ``grids``; says where."""
        if self.grid is None or not self.paths:
            return None
        from wuerstchen_desktop.core.jobs.grid_jobs import export_grid

        try:
            path = export_grid(self.grid, self.paths, self.settings().output_dir)
        except WuerstchenError as exc:
            self.message(str(exc))
            return None
        self.last_export = path
        self.message(self.tr("Grid image saved: {0}").format(path))
        return path

    def _fill(self, batch: Batch, paths: tuple[Path, ...]) -> None:
        _rows, cols = self.grid.shape if self.grid else (1, 1)
        for cell, path in zip(batch.cells, paths, strict=False):
            self.paths[(cell.row, cell.col)] = path
            p = cell.params
            provisional = Item(
                -1 - (cell.row * cols + cell.col), path, time.time(), p.prompt, p.negative_prompt, p.seed,
                p.width, p.height, "wuerstchen", True, False, "composition",
            )  # fmt: skip
            self.sheet.set_cell(cell.row * cols + cell.col, provisional)


__all__ = ["GridFlow"]
