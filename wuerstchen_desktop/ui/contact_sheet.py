"""The contact sheet of a compose batch: Stage C alone for a few seeds, each result saved as a small
*composition* (the preview image, with the latent in its metadata). ``ContactSheet`` shows them as tiles
while they are composed (from the worker's live previews) and once saved; the user picks some to decode,
or two to blend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import (
    QImage,
    QKeySequence,
    QPainter,
    QPalette,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop.ui.grid_headers import RowHeader, column_header
from wuerstchen_desktop.ui.preview_sheet import (
    Preview,
    fill,
    fit,
    preview_caption,
    preview_images,
)
from wuerstchen_desktop.ui.sheet_tiles import Grid, Tile


class ContactSheet(QWidget):
    """The compositions of the current compose batch: pick some to decode, or two to blend."""

    decode_requested = Signal(list)  # the Items to decode
    blend_requested = Signal(object, object, float)  # item a, item b, the weight of b in [0, 1]
    compose_again_requested = Signal()
    grid_requested = Signal()  # "Grid…": set up a grid of compositions
    export_requested = Signal()  # save the grid as one labelled image
    image_requested = Signal(object)  # the Path of a decoded composition's image, to show it
    composition_shown = Signal(object)  # an Item now on the sheet: the window looks up its decoded image

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(self.tr("Compositions"))
        self.job_id: int | None = None
        self.grid_jobs: dict[int, list[int]] = {}  # a grid's compose job -> the tiles of its images
        self.row_heads: list[RowHeader] = []
        self._progress = ""
        self.decode_button = self._button("", self.tr("Decode the selected compositions into full images"))
        self.decode_button.clicked.connect(lambda: self.decode_requested.emit(self.selected_items()))
        self.blend_button = self._button(self.tr("Blend…"), self.tr("Mix the two selected compositions"))
        self.blend_button.setCheckable(True)
        self.blend_button.toggled.connect(self._update_blend)
        self.select_all_button = self._button(
            self.tr("Select all"), self.tr("Select every composition (Ctrl+A)")
        )
        self.select_all_button.clicked.connect(self.select_all)
        self.compose_again_button = self._button(self.tr("Compose again"), self.tr("Compose with new seeds"))
        self.compose_again_button.clicked.connect(self.compose_again_requested)
        self.grid_button = self._button(
            self.tr("Grid…"), self.tr("Compose a grid: seeds, prompts, guidance, steps, priors or sizes")
        )
        self.grid_button.clicked.connect(self.grid_requested)
        self.export_button = self._button(
            self.tr("Export grid image"), self.tr("Save the grid as one image with its labels")
        )
        self.export_button.clicked.connect(self.export_requested)
        self.status = QLabel()
        self.status.setAccessibleName(self.tr("Compose status"))
        self.status.setWordWrap(True)
        self.help = QLabel(self.tr("Compose shows several compositions in seconds; pick the ones to decode."))
        self.help.setWordWrap(True)
        self.help.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.help.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.grid = Grid()
        self.scroller = QScrollArea()
        self.scroller.setWidgetResizable(True)
        self.scroller.setWidget(self.grid)
        self.scroller.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.blend_panel = QWidget()
        self.blend_hint = QLabel()
        self.blend_hint.setAccessibleName(self.tr("Blend preview"))
        self.blend_hint.setToolTip(
            self.tr("A crossfade of the two pictures as a hint; the blend mixes latents.")
        )
        self.blend_a, self.blend_b, self.blend_label = QLabel(), QLabel(), QLabel()
        self.blend_slider = QSlider(Qt.Orientation.Horizontal)
        self.blend_slider.setRange(0, 100)
        self.blend_slider.setValue(50)
        self.blend_slider.setAccessibleName(self.tr("Blend weight of the second composition"))
        self.blend_slider.valueChanged.connect(self._update_blend)
        self.blend_decode = self._button(self.tr("Decode blend"), self.tr("Decode a mix of the two latents"))
        self.blend_decode.clicked.connect(self._request_blend)
        blend = QHBoxLayout(self.blend_panel)
        blend.setContentsMargins(0, 0, 0, 0)
        for widget in (self.blend_hint, self.blend_a, self.blend_slider, self.blend_b, self.blend_label):
            blend.addWidget(widget)
        blend.setStretchFactor(self.blend_slider, 1)
        blend.addWidget(self.blend_decode)
        self.blend_panel.hide()

        bar = QHBoxLayout()
        for button in (self.decode_button, self.blend_button, self.select_all_button):
            bar.addWidget(button)
        bar.addStretch(1)
        bar.addWidget(self.export_button)
        bar.addWidget(self.grid_button)
        bar.addWidget(self.compose_again_button)
        root = QVBoxLayout(self)
        root.addLayout(bar)
        root.addWidget(self.status)
        root.addWidget(self.blend_panel)
        root.addWidget(self.help, 1)
        root.addWidget(self.scroller, 1)
        shortcut = QShortcut(QKeySequence.StandardKey.SelectAll, self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.select_all)
        self._reset([], (1, 1))

    def _button(self, text: str, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        return button

    # -- filling -------------------------------------------------------------------------------------
    @property
    def tiles(self) -> list[Tile]:
        return list(self.grid.tiles)

    def begin(self, count: int, seeds: list[int], width: int, height: int, job_id: int | None = None) -> None:
        """A new batch: ``count`` waiting tiles of ``width`` x ``height``'s aspect, labelled with their seeds.
        With ``job_id``, previews of other jobs are ignored."""
        self._reset([seeds[i] if i < len(seeds) else None for i in range(count)], (width, height))
        self.job_id = job_id
        self._progress = fill(self.tr("Composing %1 compositions…"), count)
        self._update_status()

    def begin_grid(
        self,
        columns: list[str],
        rows: list[str],
        seeds: list[int],
        size: tuple[int, int],
        jobs: dict[int, list[int]],
    ) -> None:
        """A grid: waiting tiles row by row under headers naming each column's and row's value. ``jobs``
        maps each compose job to the tiles (indexes, row-major) of its images, in order."""
        self._reset(list(seeds), size)
        self.grid_jobs = dict(jobs)
        self.row_heads = [RowHeader(r, text) for r, text in enumerate(rows)] if any(rows) else []
        for head in self.row_heads:
            head.decode_requested.connect(self.decode_row)
        self.grid.set_headers([column_header(text) for text in columns], list(self.row_heads))
        self._progress = fill(self.tr("Composing a grid of %1 compositions…"), len(seeds))
        self._after_change()

    def set_cell(self, index: int, item: Any) -> None:
        """A grid's composition was saved: tile ``index`` shows it."""
        self.grid.tiles[index].set_item(item)
        self.composition_shown.emit(item)
        self._after_change()

    def decode_row(self, row: int) -> None:
        """Decode every saved composition of a grid's ``row``."""
        cols = len(self.grid.column_heads)
        items = [t.item for t in self.grid.tiles[row * cols : (row + 1) * cols] if t.item is not None]
        if items:
            self.decode_requested.emit(items)

    def show_preview(self, preview: Preview) -> None:
        """Show a live Stage C preview in the tiles of its seeds (saved compositions are kept)."""
        places = self.grid_jobs.get(preview.job_id)
        if (self.job_id is not None or self.grid_jobs) and preview.job_id != self.job_id and places is None:
            return
        shown = False
        for i, image in enumerate(preview_images(preview)):
            seed = preview.seeds[i] if i < len(preview.seeds) else None
            tile = self._tile_for(seed, i) if places is None else self.grid.tiles[places[i]]
            if tile is not None and tile.item is None and not image.isNull():
                tile.set_image(image, "preview", preview.approximate)
                shown = True
        if shown:
            self._progress = preview_caption(preview)
            self._update_status()

    def add_composition(self, item: Any) -> None:
        """A composition was saved: its tile (the one showing the same file, else by seed, else the first
        one still waiting) shows the file; the history's item replaces a provisional one for the same file."""
        same = (
            t
            for t in self.grid.tiles
            if t.item is not None and (t.item.id == item.id or t.item.path == item.path)
        )
        tile = next(same, None) or self._tile_for(item.seed, None)
        if tile is None:
            tile = self._add_tile(item.seed)
        tile.set_item(item)
        self.composition_shown.emit(item)
        self._after_change()

    def mark_decoded(self, composition: Path, image: Path) -> None:
        """``image`` was decoded from the composition in ``composition``: its tile says so and links to it."""
        for tile in self.grid.tiles:
            if tile.item is not None and tile.item.path == composition:
                tile.set_decoded(image)

    def set_items(self, items: list[Any]) -> None:
        """Show existing compositions, e.g. picked from the history."""
        first = items[0] if items else None
        self._reset(
            [item.seed for item in items], (getattr(first, "width", 1) or 1, getattr(first, "height", 1) or 1)
        )
        for tile, item in zip(self.grid.tiles, items, strict=True):
            tile.set_item(item)
            self.composition_shown.emit(item)
        self._after_change()

    def stop(self, message: str) -> None:
        """The compose job ended before every composition was saved (cancelled or failed): the tiles
        still waiting go, the saved ones stay, and ``message`` says why."""
        for tile in [t for t in self.grid.tiles if t.item is None]:
            if self.grid.column_heads:  # a grid keeps its places
                tile.set_image(QImage(), "stopped")
                continue
            self.grid.tiles.remove(tile)
            tile.hide()
            tile.deleteLater()
        self.grid.relayout()
        self.job_id = None
        self.grid_jobs = {}
        self._progress = ""
        self._after_change()
        self.status.setText(message)
        self.status.setVisible(True)

    def _tile_for(self, seed: int | None, index: int | None) -> Tile | None:
        tiles = self.grid.tiles
        match = next((t for t in tiles if seed is not None and t.seed == seed and t.item is None), None)
        if match is None and index is not None and 0 <= index < len(tiles) and tiles[index].seed is None:
            match = tiles[index]
        if match is None and index is None:
            match = next((t for t in tiles if t.seed is None and t.item is None), None)
        return match

    def _add_tile(self, seed: int | None) -> Tile:
        tile = Tile(seed, self.grid)
        tile.toggled.connect(self._selection_changed)
        tile.activated.connect(lambda t=tile: self.decode_requested.emit([t.item]))
        tile.navigate.connect(lambda key, t=tile: self._navigate(t, key))
        tile.show_decoded.connect(self.image_requested)
        self.grid.tiles.append(tile)
        tile.show()
        self.grid.relayout()
        return tile

    def _reset(self, seeds: list[int | None], aspect: tuple[int, int]) -> None:
        for tile in self.grid.tiles:
            tile.hide()
            tile.deleteLater()
        self.grid.tiles = []
        self.row_heads = []
        self.grid.set_headers([], [])
        self.grid.aspect = (max(1, aspect[0]), max(1, aspect[1]))
        self.job_id = None
        self.grid_jobs = {}
        self.blend_button.setChecked(False)
        for seed in seeds:
            self._add_tile(seed)
        self.grid.relayout()
        self._progress = ""
        self._after_change()

    def _after_change(self) -> None:
        tiles = self.grid.tiles
        self.help.setVisible(not tiles)
        self.scroller.setVisible(bool(tiles))
        self.status.setVisible(bool(tiles))
        self._update_status()
        self.compose_again_button.setEnabled(bool(tiles))
        self.export_button.setVisible(bool(self.grid.column_heads))
        self.export_button.setEnabled(any(t.item is not None for t in tiles))
        cols = max(1, len(self.grid.column_heads))
        for head in self.row_heads:
            row = tiles[head.row * cols : (head.row + 1) * cols]
            head.decode_button.setEnabled(any(t.item is not None for t in row))
        self._selection_changed()

    def _update_status(self) -> None:
        tiles = self.grid.tiles
        ready = sum(t.item is not None for t in tiles)
        if tiles and ready == len(tiles):
            text = self.tr(
                "Click to select (Space from the keyboard), then Decode selected. Double-click decodes one."
            )
        else:
            done = fill(self.tr("%1 of %2 ready"), ready, len(tiles)) if ready else ""
            text = " · ".join(part for part in (self._progress, done) if part)
        self.status.setText(text)

    # -- selection -----------------------------------------------------------------------------------
    def selected_items(self) -> list[Any]:
        """The items of the selected tiles, in grid order."""
        return [t.item for t in self.grid.tiles if t.isChecked() and t.item is not None]

    def select_all(self) -> None:
        for tile in self.grid.tiles:
            if tile.isCheckable():
                tile.setChecked(True)

    def _selection_changed(self) -> None:
        n = len(self.selected_items())
        self.decode_button.setText(fill(self.tr("Decode selected (%1)"), n))
        self.decode_button.setEnabled(n > 0)
        self.blend_button.setEnabled(n == 2)
        if n != 2:
            self.blend_button.setChecked(False)  # the next pair starts with the row closed
        selectable = [t for t in self.grid.tiles if t.isCheckable()]
        self.select_all_button.setEnabled(any(not t.isChecked() for t in selectable))
        self._update_blend()

    def _navigate(self, tile: Tile, key: int) -> None:
        tiles, cols = self.grid.tiles, self.grid.cols
        i = tiles.index(tile)
        steps = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Up: -cols, Qt.Key.Key_Down: cols}
        ends = {Qt.Key.Key_Home: 0, Qt.Key.Key_End: len(tiles) - 1}
        j = ends.get(Qt.Key(key), i + steps.get(Qt.Key(key), 0))
        if 0 <= j < len(tiles):
            tiles[j].setFocus(Qt.FocusReason.OtherFocusReason)
            self.scroller.ensureWidgetVisible(tiles[j])

    # -- blend ---------------------------------------------------------------------------------------
    def blend_weight(self) -> float:
        return self.blend_slider.value() / 100

    def _update_blend(self) -> None:
        """Show the blend row while "Blend…" is on, with a crossfade of the two tiles' pictures."""
        chosen = [t for t in self.grid.tiles if t.isChecked() and t.item is not None]
        on = self.blend_button.isChecked() and len(chosen) == 2
        self.blend_panel.setVisible(on)
        self.blend_label.setText(fill(self.tr("%1 %"), self.blend_slider.value()))
        if not on:
            return
        self.blend_a.setText(fill(self.tr("Seed %1"), chosen[0].seed))
        self.blend_b.setText(fill(self.tr("Seed %1"), chosen[1].seed))
        a, b = chosen[0].image, chosen[1].image
        ratio = self.devicePixelRatioF() or 1.0
        size = fit(a.width(), a.height(), 72, 72)
        pixmap = QPixmap(round(size.width() * ratio), round(size.height() * ratio))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(self.palette().color(QPalette.ColorRole.Window))
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        target = QRect(0, 0, size.width(), size.height())
        painter.drawImage(target, a)
        painter.setOpacity(self.blend_weight())
        painter.drawImage(target, b)
        painter.end()
        self.blend_hint.setPixmap(pixmap)

    def _request_blend(self) -> None:
        chosen = self.selected_items()
        if len(chosen) == 2:
            self.blend_requested.emit(chosen[0], chosen[1], self.blend_weight())


def _same(a: Any, b: Any) -> bool:
    """Two items for the same composition: the same history id, or the same file."""
    return bool(a.id == b.id or a.path == b.path)
