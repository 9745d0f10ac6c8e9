"""Compose first, decode later, in the window: the Compose button, live previews, the contact sheet,
and the one-click actions on history items (decode, vary detail, vary composition, more steps, blend).

Every action becomes a job for the generation worker. Jobs made from history items name the item's file
as their source: the worker reads the parameters and the stored composition from the file itself.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QInputDialog, QMenu, QTabWidget, QWidget

from wuerstchen_desktop.core.jobs.job import Job, JobError, JobKind, JobResult, Preview
from wuerstchen_desktop.core.library.history import Item
from wuerstchen_desktop.core.params import (
    DEFAULT_UPSCALE_STRENGTH,
    MAX_DECODER_STEPS,
    UPSCALE_LARGEST,
    GenerationParams,
    random_seed,
)
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.ui.contact_sheet import ContactSheet
from wuerstchen_desktop.ui.grid_flow import GridFlow
from wuerstchen_desktop.ui.image_view import ImageView
from wuerstchen_desktop.ui.preview_sheet import preview_caption, preview_sheet
from wuerstchen_desktop.ui.prompt_panel import PromptPanel
from wuerstchen_desktop.worker.generation import GenerationService
from wuerstchen_desktop.worker.history import HistoryService

# Image-to-image strengths of the two one-click variations, as Fooocus' Vary (Subtle) and Vary (Strong).
VARY_SUBTLE = 0.5
VARY_STRONG = 0.85
PREVIEW_CELL = 512  # logical pixels per image of a live preview in the image view


class ComposeFlow(QObject):
    """Owns the contact sheet's side of the window and turns the artist's picks into jobs."""

    def __init__(
        self,
        service: GenerationService,
        history: HistoryService,
        panel: PromptPanel,
        view: ImageView,
        center: QTabWidget,
        settings: Callable[[], Settings],
        message: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service, self.history, self.panel, self.view = service, history, panel, view
        self.center = center
        self.settings = settings
        self.message = message
        self.sheet = ContactSheet()
        self.center.addTab(self.sheet, self.tr("Compositions"))
        self.compose_job: int | None = None  # the compose job the sheet shows
        self.compose_params: GenerationParams | None = None  # what it composes (seed, size)
        self.compose_paths: set[Path] = set()  # its saved compositions not yet indexed by the history
        self.previewing: int | None = None  # the job whose previews are in the image view
        self._latest: Preview | None = None  # the newest preview, not drawn yet
        self.from_sheet: set[int] = set()  # decode and blend jobs the contact sheet asked for, not done yet
        self.decoding: dict[int, Path] = {}  # decode job -> its composition, to link the tile to the image
        self.queued: dict[int, GenerationParams] = {}  # compose jobs waiting: the sheet is theirs at start
        self.sheet.decode_requested.connect(self.decode)
        self.sheet.blend_requested.connect(self.blend)
        self.sheet.compose_again_requested.connect(lambda: self.compose(again=True))
        self.grids = GridFlow(service, panel, self.sheet, settings, message, self)
        self.grids.began = self._grid_began
        service.preview.connect(self.show_preview)
        service.job_started.connect(self._started)
        service.job_cancelled.connect(lambda job_id: self._stopped(job_id, self.tr("Compose cancelled.")))
        service.job_failed.connect(self._failed)
        history.worker.added.connect(self._indexed)

    # -- jobs ---------------------------------------------------------------------------------------
    def job(self, params: Any, kind: JobKind, sources: tuple[Path, ...] = (), **extra: Any) -> Job:
        """A job of ``kind`` writing where and how the settings say."""
        s = self.settings()
        return Job(params, s.output_dir, s.image_format, s.name_pattern, kind=kind, sources=sources, **extra)

    def panel_job(self, params: GenerationParams, kind: JobKind) -> Job:
        """A job of the prompt panel's: from its picture when the picture well holds one."""
        changes, start = self.panel.picture.start()
        return self.job(params, kind, changes=changes, start=start)

    def compose(self, again: bool = False) -> None:
        """Stage C alone for the panel's prompt and several seeds; the sheet fills as they compose."""
        params = self.panel.job_params(compose=True)
        if params is None:
            return
        if again:
            params = params.replace(seed=random_seed())
        self._start_batch(self.panel_job(params, JobKind.COMPOSE), params)

    def _start_batch(self, job: Job, params: GenerationParams) -> None:
        """Submit a compose job whose compositions the sheet shows, from waiting tiles to saved files. Behind
        other jobs it waits in the queue, and the sheet keeps what it shows until the job starts."""
        if self.service.busy or self.service.pending:
            self.queued[job.id] = params
        else:
            self._begin(job.id, params)
        self.service.submit(job)

    def _begin(self, job_id: int, params: GenerationParams) -> None:
        self.grids.forget()
        self.compose_job, self.compose_params = job_id, params
        seeds = [params.seed + i for i in range(params.images)]
        self.sheet.begin(params.images, seeds, params.width, params.height, job_id)
        self.center.setCurrentWidget(self.sheet)

    def _grid_began(self) -> None:
        self.compose_job, self.compose_params, self.compose_paths = None, None, set()
        self.center.setCurrentWidget(self.sheet)

    def _started(self, job_id: int) -> None:
        params = self.queued.pop(job_id, None)
        if params is not None:
            self._begin(job_id, params)

    def decode(self, items: list[Any]) -> None:
        """Decode each picked composition (or image) with its own seed as the decoder seed."""
        for item in items:
            job_id = self.service.submit(self.job(None, JobKind.DECODE, (item.path,)))
            self.from_sheet.add(job_id)
            self.decoding[job_id] = item.path
        if items:
            self.message(self.tr("Decoding {0} composition(s)…").format(len(items)))

    def blend(self, first: Any, second: Any, weight: float) -> None:
        job = self.job(None, JobKind.BLEND, (first.path, second.path), weight=float(weight))
        self.from_sheet.add(self.service.submit(job))
        self.message(self.tr("Decoding a blend of seeds {0} and {1}…").format(first.seed, second.seed))

    def vary_detail(self, item: Any) -> None:
        """The same composition decoded with a new decoder seed: no Stage C."""
        changes = (("decoder_seed", random_seed()),)
        self.service.submit(self.job(None, JobKind.DECODE, (item.path,), changes=changes))

    def vary_composition(self, item: Any) -> None:
        """A new prior seed, everything else as the item: a new composition (or a new image)."""
        seed = random_seed()
        changes = (("seed", seed), ("decoder_seed", None))
        if getattr(item, "kind", "image") != "composition":
            self.service.submit(self.job(None, JobKind.GENERATE, (item.path,), changes=changes))
            self.center.setCurrentWidget(self.view)
            return
        # A new composition: a batch of one on the contact sheet.
        shown = GenerationParams(item.prompt, width=item.width or 1024, height=item.height or 1024, seed=seed)
        self._start_batch(self.job(None, JobKind.COMPOSE, (item.path,), changes=changes), shown)

    def vary_picture(self, item: Any, strength: float) -> None:
        """A new image started from this one: its composition noised to ``strength``, a new seed."""
        changes = (("seed", random_seed()), ("decoder_seed", None), ("strength", strength))
        job = self.job(None, JobKind.GENERATE, (item.path,), changes=changes, start=item.path)
        self.service.submit(job)
        self.center.setCurrentWidget(self.view)

    def upscale(self, item: Any) -> None:
        """Upscale 2x (experimental): Stage B draws the image again at twice its size, with new detail."""
        changes = (("strength", DEFAULT_UPSCALE_STRENGTH), ("decoder_seed", random_seed()))
        self.service.submit(self.job(None, JobKind.UPSCALE, changes=changes, start=item.path))
        self.center.setCurrentWidget(self.view)

    def add_upscale_action(self, menu: QMenu, item: Any) -> None:
        """ "Upscale 2x", enabled for an image small enough that its double can be made."""
        action = menu.addAction(self.tr("Upscale 2x (experimental)"), lambda: self.upscale(item))
        width, height = getattr(item, "width", 0) or 0, getattr(item, "height", 0) or 0
        fits = 0 < max(width, height) <= UPSCALE_LARGEST
        action.setEnabled(getattr(item, "kind", "image") == "image" and fits)
        action.setToolTip(
            self.tr("A new image at twice the size: the same picture, its fine detail drawn anew (at most "
                    "{0} pixels a side)").format(UPSCALE_LARGEST)
        )  # fmt: skip

    def decode_with_steps(self, item: Any, steps: int | None = None) -> None:
        """Decode the item's composition again with more decoder steps (asked for when not given)."""
        if steps is None:
            parent = self.parent()
            steps, ok = QInputDialog.getInt(
                parent if isinstance(parent, QWidget) else None,
                self.tr("Decode with more steps"),
                self.tr("Decoder steps (the default is 12; more steps refine fine detail):"),
                24,
                1,
                MAX_DECODER_STEPS,
            )
            if not ok:
                return
        self.service.submit(self.job(None, JobKind.DECODE, (item.path,), changes=(("decoder_steps", steps),)))

    def add_to_sheet(self, item: Any) -> None:
        """Put a composition from the history on the contact sheet (to decode or blend it)."""
        self.sheet.add_composition(item)
        self.center.setCurrentWidget(self.sheet)

    def add_menu_actions(self, menu: QMenu, item: Any) -> None:
        """The gallery's context-menu entries for this workflow."""
        has_latent = bool(item.has_latent)
        well = self.panel.picture
        start = menu.addAction(self.tr("Start from this picture"), lambda: well.set_picture(item.path))
        start.setToolTip(self.tr("Put it in the prompt panel's picture well: the next images start from it"))
        if getattr(item, "kind", "image") == "composition":
            decode = menu.addAction(self.tr("Decode"), lambda: self.decode([item]))
            decode.setEnabled(has_latent)
            menu.addAction(self.tr("Vary composition"), lambda: self.vary_composition(item))
            sheet = menu.addAction(self.tr("Add to contact sheet"), lambda: self.add_to_sheet(item))
            sheet.setEnabled(has_latent)
            return
        vary = menu.addAction(self.tr("Vary detail"), lambda: self.vary_detail(item))
        vary.setEnabled(has_latent)
        vary.setToolTip(self.tr("Decode the same composition with a new decoder seed"))
        if item.source == "wuerstchen":
            menu.addAction(self.tr("Vary composition"), lambda: self.vary_composition(item))
        for label, strength, tip in (
            (self.tr("Vary (subtle)"), VARY_SUBTLE, self.tr("A new image close to this one")),
            (self.tr("Vary (strong)"), VARY_STRONG, self.tr("A new image on this one's layout")),
        ):
            action = menu.addAction(label, functools.partial(self.vary_picture, item, strength))
            action.setEnabled(has_latent)
            action.setToolTip(tip)
        more = menu.addAction(self.tr("Decode with more steps…"), lambda: self.decode_with_steps(item))
        more.setEnabled(has_latent)
        self.add_upscale_action(menu, item)

    # -- worker reports -----------------------------------------------------------------------------
    def show_preview(self, preview: Preview) -> None:
        """Keep the newest preview and draw it once the events already waiting are handled: however fast
        the steps come, the window draws one preview per pass of its event loop, the latest."""
        if preview.job_id != self.compose_job:
            self.previewing = preview.job_id
        scheduled = self._latest is not None
        self._latest = preview
        if not scheduled:
            QTimer.singleShot(0, self._draw_preview)

    def _draw_preview(self) -> None:
        preview, self._latest = self._latest, None
        if preview is None:  # its job ended first: the result (or the last image) is shown instead
            return
        if preview.job_id == self.compose_job or self.grids.owns(preview.job_id):
            self.sheet.show_preview(preview)
            return
        if preview.job_id != self.previewing:
            return
        # Shown in the Image tab without switching to it: the artist may be picking compositions.
        self.view.set_pixmap(preview_sheet(preview, PREVIEW_CELL))
        self.view.set_caption(preview_caption(preview))

    def finished(self, result: JobResult) -> str:
        """What the window does with a finished job's files: "sheet" (compositions: the contact sheet
        shows them), "show" (the image, in the Image tab) or "behind" (the image goes to the Image tab, but
        the contact sheet stays in front while more of its decodes are running)."""
        self._latest = None
        if result.kind is JobKind.COMPOSE:
            if self.grids.finished(result):
                return "sheet"
            if result.job_id == self.compose_job and self.compose_params is not None:
                self._fill(result.paths, self.compose_params)
            return "sheet"
        self.from_sheet.discard(result.job_id)
        composition = self.decoding.pop(result.job_id, None)
        if composition is not None and result.paths:
            self.sheet.mark_decoded(composition, result.paths[0])
        on_sheet = self.center.currentWidget() is self.sheet
        return "behind" if on_sheet and self.from_sheet else "show"

    def _failed(self, error: JobError) -> None:
        self.grids.failed(error)
        if error.job_id == self.compose_job and error.paths and self.compose_params is not None:
            self._fill(error.paths, self.compose_params)  # the ones saved stay on the sheet
        self._stopped(error.job_id, self.tr("Compose failed: {0}").format(error.message))

    def _stopped(self, job_id: int, message: str) -> None:
        if self._latest is not None and self._latest.job_id == job_id:
            self._latest = None  # a waiting job taken off the queue leaves the running one's preview
        self.queued.pop(job_id, None)
        self.grids.stopped(job_id, message)
        self.from_sheet.discard(job_id)
        self.decoding.pop(job_id, None)
        if job_id == self.compose_job:
            self.compose_job = None
            self.sheet.stop(message)

    def _fill(self, paths: tuple[Path, ...], params: GenerationParams) -> None:
        """The batch's files on the sheet at once, as provisional items (the history's items, with their
        ids, replace them when indexed): the sheet never waits on the index."""
        self.compose_paths = set(paths)
        for i, path in enumerate(paths):
            p = params.for_image(i)
            provisional = Item(
                -1 - i, path, time.time(), p.prompt, p.negative_prompt, p.seed, p.width, p.height,
                "wuerstchen", True, False, "composition",
            )  # fmt: skip
            self.sheet.add_composition(provisional)

    def _indexed(self, item: Any) -> None:
        if self.grids.indexed(item):
            return
        if item.path in self.compose_paths:
            self.compose_paths.discard(item.path)
            self.sheet.add_composition(item)
