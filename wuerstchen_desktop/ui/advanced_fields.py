"""The prompt panel's plain Quality choice and, folded away below it, the Advanced fields it sets: steps and
guidance per stage, and which prior composes the image. Every field says in a tooltip what it does."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop.core.params import MAX_DECODER_STEPS, MAX_GUIDANCE, MAX_PRIOR_STEPS, PRIOR_VARIANTS

OFFICIAL_CALLS = 29  # model calls of the official Stage C schedule
CUSTOM_QUALITY = "custom"
# name -> (prior steps, None for the official schedule; decoder steps)
QUALITY = {
    "draft": (12, 6),
    "standard": (None, 12),
    "fine": (None, 20),
}
PRIOR_HELP = {
    PRIOR_VARIANTS[0][0]: "The published default: its weights lie between the two others'.",
    PRIOR_VARIANTS[1][0]: "Trained further on images chosen for their looks: more polished, less varied.",
    PRIOR_VARIANTS[2][0]: "The prior as first trained, before that finetuning: more varied, less polished.",
}


def _tr(text: str) -> str:
    return QCoreApplication.translate("AdvancedFields", text)


class AdvancedFields(QWidget):
    """The Quality combo (owned here, placed by the panel) and the collapsible Advanced section."""

    prior_chosen = Signal(str)  # a repository id from PRIOR_VARIANTS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.quality = QComboBox()
        self.quality.setAccessibleName(self.tr("Quality"))
        for key, label, tip in (
            ("draft", self.tr("Draft: fastest"), self.tr("Fewer steps: about twice as fast, rougher")),
            ("standard", self.tr("Standard"), self.tr("The published settings: 29 + 12 steps")),
            ("fine", self.tr("Fine detail"), self.tr("More decoder steps: finer detail, slower")),
        ):
            self.quality.addItem(label, key)
            self.quality.setItemData(self.quality.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.quality.addItem(self.tr("Custom (see Advanced)"), CUSTOM_QUALITY)
        self.quality.setToolTip(self.tr("Quality against speed: sets the steps below"))

        self.toggle = QToolButton()
        self.toggle.setText(self.tr("Advanced"))
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setAutoRaise(True)
        self.toggle.setAccessibleName(self.tr("Show advanced settings"))
        self.body = QWidget()

        self.official = QCheckBox(self.tr("Official schedule"))
        self.official.setChecked(True)
        self.official.setAccessibleName(self.tr("Official prior schedule"))
        self.official.setToolTip(
            self.tr("The published schedule: 29 steps, most of them early, where the layout forms")
        )
        self.prior_steps = QSpinBox()
        self.prior_steps.setRange(1, MAX_PRIOR_STEPS)
        self.prior_steps.setValue(OFFICIAL_CALLS)
        self.prior_steps.setAccessibleName(self.tr("Prior steps"))
        self.prior_steps.setToolTip(
            self.tr("Steps that compose the image (layout, subject, colours). More: steadier, slower")
        )
        self._uniform_steps = 30  # what the box held before the official schedule was ticked
        self.prior_guidance = self._guidance(
            4.0,
            self.tr("Prior guidance"),
            self.tr(
                "How closely the composition follows the prompt. 4 is usual; higher is stricter, harsher"
            ),
        )
        self.decoder_steps = QSpinBox()
        self.decoder_steps.setRange(1, MAX_DECODER_STEPS)
        self.decoder_steps.setValue(12)
        self.decoder_steps.setAccessibleName(self.tr("Decoder steps"))
        self.decoder_steps.setToolTip(
            self.tr("Steps that paint the fine detail onto the composition. More: finer texture, slower")
        )
        self.decoder_guidance = self._guidance(
            0.0,
            self.tr("Decoder guidance"),
            self.tr("How much the detail follows the prompt too. 0 (off) is usual and fastest"),
        )
        self.prior_variant = QComboBox()
        self.prior_variant.setAccessibleName(self.tr("Prior variant"))
        self.prior_variant.setToolTip(
            self.tr("Which Stage C weights compose the image. One not on this computer is downloaded when "
                    "chosen: its size is shown first, and you are asked.")
        )  # fmt: skip
        # A long folder path of the user's own prior must not widen the panel.
        self.prior_variant.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.prior_variant.setMinimumContentsLength(10)
        for repo, label in PRIOR_VARIANTS:
            self.prior_variant.addItem(_tr(label), repo)
            tip = self.tr(PRIOR_HELP[repo]) + " " + self.tr("Its weights: about 4 GB.")
            self.prior_variant.setItemData(self.prior_variant.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.prior_variant.activated.connect(
            lambda _i: self.prior_chosen.emit(self.prior_variant.currentData())
        )
        self._layout()
        self.toggle.toggled.connect(self.set_open)
        self.official.toggled.connect(self._official_toggled)
        self.quality.activated.connect(self._quality_chosen)
        for box in (self.prior_steps, self.decoder_steps):
            box.valueChanged.connect(self._show_quality)
        self.official.toggled.connect(self._show_quality)
        self.prior_steps.setEnabled(False)
        self.set_open(False)
        self._show_quality()

    def _guidance(self, value: float, name: str, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(0.0, MAX_GUIDANCE)
        box.setSingleStep(0.5)
        box.setDecimals(2)
        box.setValue(value)
        box.setAccessibleName(name)
        box.setToolTip(tip)
        return box

    def _layout(self) -> None:
        form = QFormLayout(self.body)
        form.setContentsMargins(12, 0, 0, 0)
        form.addRow(self.official)
        form.addRow(self.tr("Prior steps"), self.prior_steps)
        form.addRow(self.tr("Prior guidance"), self.prior_guidance)
        form.addRow(self.tr("Decoder steps"), self.decoder_steps)
        form.addRow(self.tr("Decoder guidance"), self.decoder_guidance)
        form.addRow(self.tr("Prior"), self.prior_variant)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.addWidget(self.toggle)
        root.addWidget(self.body)

    def fields(self) -> list[QWidget]:
        """The focusable fields in reading order, as far as they are shown."""
        shown = [self.official, self.prior_steps, self.prior_guidance, self.decoder_steps]
        shown += [self.decoder_guidance, self.prior_variant]
        return [self.toggle, *(shown if self.toggle.isChecked() else [])]

    def set_open(self, open_: bool) -> None:
        self.toggle.setChecked(open_)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.body.setVisible(open_)

    # -- quality presets ------------------------------------------------------------------------------
    def steps(self) -> tuple[int | None, int]:
        prior = None if self.official.isChecked() else self.prior_steps.value()
        return prior, self.decoder_steps.value()

    def set_steps(self, prior: int | None, decoder: int) -> None:
        self.official.setChecked(prior is None)
        if prior is not None:
            self.prior_steps.setValue(prior)
        self.decoder_steps.setValue(decoder)

    def _quality_chosen(self) -> None:
        key = self.quality.currentData()
        if key in QUALITY:
            self.set_steps(*QUALITY[key])
        else:
            self.set_open(True)  # "Custom": the fields that make it
        self._show_quality()

    def _show_quality(self) -> None:
        steps = self.steps()
        key = next((k for k, v in QUALITY.items() if v == steps), CUSTOM_QUALITY)
        self.quality.setCurrentIndex(self.quality.findData(key))

    def _official_toggled(self, on: bool) -> None:
        # The greyed box shows the official schedule's own step count; unticking brings back the user's.
        if on:
            self._uniform_steps = self.prior_steps.value()
            self.prior_steps.setValue(OFFICIAL_CALLS)
        else:
            self.prior_steps.setValue(self._uniform_steps)
        self.prior_steps.setEnabled(not on)

    # -- the prior ------------------------------------------------------------------------------------
    def _prior_activated(self) -> None:
        self.prior_chosen.emit(self.prior_variant.currentData())

    def show_prior(self, prior: str) -> None:
        """Show the prior in use: a published variant, or the user's own checkpoints by folder name."""
        if self.prior_variant.findData(prior) < 0:
            self.prior_variant.addItem(self.tr("Custom: {0}").format(Path(prior).name or prior), prior)
            tip = self.tr("Your own prior checkpoints: {0}").format(prior)
            self.prior_variant.setItemData(self.prior_variant.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.prior_variant.setCurrentIndex(self.prior_variant.findData(prior))
        tip = self.prior_variant.itemData(self.prior_variant.currentIndex(), Qt.ItemDataRole.ToolTipRole)
        self.prior_variant.setToolTip(str(tip))
