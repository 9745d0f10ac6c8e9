"""The grid's set-up: what varies across and down, and the values, with the number of compositions and
an estimate of the time they take, or the sentence that says what is wrong."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.jobs.estimate import StageCosts
from wuerstchen_desktop.core.jobs.grid import Grid, grid_seconds, make_grid
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.core.prompts.wildcards import prompt_variants
from wuerstchen_desktop.ui.preview_sheet import fill

# (the axis' name in the text, what the artist sees, an example of its values)
KINDS = (
    ("seeds", "Seeds", "4 (consecutive seeds), or 7, 42, 1234"),
    ("prompt", "Prompt", 'a fox at dawn, "a fox, at dusk"'),
    ("guidance", "Prior guidance", "2, 4, 6"),
    ("steps", "Prior steps", "12, 20, official"),
    ("prior", "Prior", "interpolated, finetuned, base"),
    ("size", "Image size", "1024x1024, 1280x768"),
)
DEFAULTS = {"seeds": "4", "guidance": "2, 4, 6", "steps": "12, official", "prior": "interpolated, finetuned"}


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class GridDialog(QDialog):
    """Two axes, each a kind and its values; OK only when they make a valid grid."""

    def __init__(
        self, base: GenerationParams, prior: str, costs: StageCosts, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Compose a grid"))
        self.base, self.prior, self.costs = base, prior, costs
        self.grid: Grid | None = None
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName(self.tr("Grid summary"))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(self.tr("Compose grid"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.across_kind, self.across = self._axis(False)
        self.down_kind, self.down = self._axis(True)
        self.down_kind.setCurrentIndex(3)  # prior guidance: a 3 x 4 grid to start from
        form = QFormLayout()
        form.addRow(self.tr("Across"), self._row(self.across_kind, self.across))
        form.addRow(self.tr("Down"), self._row(self.down_kind, self.down))
        intro = QLabel(
            self.tr("Every cell is a composition of the prompt panel's settings with these values changed. "
                    "Separate values with commas; quote a value that holds one.")
        )  # fmt: skip
        intro.setWordWrap(True)
        root = QVBoxLayout(self)
        root.addWidget(intro)
        root.addLayout(form)
        root.addWidget(self.summary)
        root.addWidget(self.buttons)
        self._kind_changed(self.across_kind, self.across)
        self._kind_changed(self.down_kind, self.down)
        self.resize(560, self.sizeHint().height())

    def _axis(self, optional: bool) -> tuple[QComboBox, QLineEdit]:
        kind, values = QComboBox(), QLineEdit()
        if optional:
            kind.addItem(self.tr("Nothing (one row)"), "")
        for key, label, _example in KINDS:
            kind.addItem(self.tr(label), key)
        kind.setAccessibleName(self.tr("Down: what varies") if optional else self.tr("Across: what varies"))
        values.setAccessibleName(self.tr("Down: values") if optional else self.tr("Across: values"))
        kind.currentIndexChanged.connect(lambda _i: self._kind_changed(kind, values))
        values.textChanged.connect(self._update)
        return kind, values

    def _row(self, kind: QComboBox, values: QLineEdit) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(kind)
        layout.addWidget(values, 1)
        return row

    def _kind_changed(self, kind: QComboBox, values: QLineEdit) -> None:
        key = kind.currentData()
        example = next((e for k, _l, e in KINDS if k == key), "")
        values.setPlaceholderText(example)
        values.setEnabled(bool(key))
        values.setText(DEFAULTS.get(key, self.base.prompt if key == "prompt" else ""))
        self._update()

    def axes(self) -> list[str]:
        """The axes as text, as ``compose --grid`` takes them."""
        out = []
        for kind, values in ((self.across_kind, self.across), (self.down_kind, self.down)):
            if kind.currentData():
                out.append(f"{kind.currentData()}={values.text()}")
        return out

    def _update(self) -> None:
        try:
            self.grid = make_grid(
                self.base, self.prior, self.axes(), prompt_variants(appdirs.wildcards_dir())
            )
        except InvalidParams as exc:
            self.grid = None
            self.summary.setText(str(exc))
        else:
            rows, cols = self.grid.shape
            seconds = grid_seconds(self.grid, self.costs)
            timed = self.tr("on this computer") if self.costs.known else self.tr("on a 2-core CPU")
            text = fill(
                self.tr("%1 x %2 = %3 compositions, about %4 of composing %5."),
                rows, cols, rows * cols, duration(seconds), timed,
            )  # fmt: skip
            priors = len({b.prior for b in self.grid.batches()})
            if priors > 1:
                text += " " + fill(self.tr("Each of the %1 priors loads once."), priors)
            self.summary.setText(text)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self.grid is not None)
