"""The prompt panel: everything a job needs, edited as widgets, read back as ``GenerationParams``."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.engine.prompt_weights import A1111
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import (
    ASPECT_RATIOS,
    MAX_IMAGES,
    MAX_SEED,
    MAX_SIZE,
    MIN_SIZE,
    SIZE_STEP,
    GenerationParams,
    random_seed,
    size_for_aspect,
    stage_c_size,
)
from wuerstchen_desktop.core.prompts.lines import check_count
from wuerstchen_desktop.core.prompts.wildcards import expand_images, with_prompt
from wuerstchen_desktop.ui.advanced_fields import AdvancedFields
from wuerstchen_desktop.ui.fields_scroll import FieldsScroll
from wuerstchen_desktop.ui.picture_well import PictureWell
from wuerstchen_desktop.ui.prompt_box import ExpandedLabel, PromptEdit
from wuerstchen_desktop.ui.token_label import TokenLabel

CUSTOM = "custom"


class PromptPanel(QWidget):
    """Emits ``generate_requested`` when the user asks for images; ``params()`` reads the widgets."""

    generate_requested = Signal()
    compose_requested = Signal()  # Stage C alone for ``compose_count`` seeds: a contact sheet to pick from
    prior_chosen = Signal(str)  # a repository id from PRIOR_VARIANTS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt = PromptEdit()
        self.expanded = ExpandedLabel()
        self._queued = 0
        self.prompt.setAccessibleName(self.tr("Prompt"))
        self.prompt.setTabChangesFocus(True)
        self.token_label = TokenLabel()
        self._counter: Any = None
        # The prompt last put in the box from a file, and how its brackets read: an image made before
        # weighting existed is made again the same way until the prompt is changed.
        self._reused: tuple[str, str] | None = None
        self.negative = QPlainTextEdit()
        self.negative.setPlaceholderText(self.tr("What to avoid (optional)"))
        self.negative.setAccessibleName(self.tr("Negative prompt"))
        self.negative.setTabChangesFocus(True)
        self.negative.setMaximumHeight(70)
        self.picture = PictureWell()
        self.picture.size_proposed.connect(self.set_size)

        self.aspect = QComboBox()
        self.aspect.setAccessibleName(self.tr("Image size"))
        for name, ratio in ASPECT_RATIOS.items():
            w, h = size_for_aspect(ratio)
            self.aspect.addItem(f"{name}  ({w}×{h})", (w, h))
        self.aspect.addItem(self.tr("Custom"), CUSTOM)
        self.width_box = self._size_box(self.tr("Width"))
        self.height_box = self._size_box(self.tr("Height"))
        self.latent_label = QLabel()
        self.latent_label.setToolTip(self.tr("Stage C composes the image in a latent of this size."))

        self.seed = QLineEdit("0")
        self.seed.setAccessibleName(self.tr("Seed"))
        self.seed.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{1,19}"), self.seed))
        self.random_seed = QCheckBox(self.tr("Random"))
        self.random_seed.setToolTip(self.tr("Pick a new seed for every job; untick to keep this seed."))
        self.random_seed.setChecked(True)
        self.random_seed.setAccessibleName(self.tr("Random seed for every job"))
        self.images = QSpinBox()
        self.images.setRange(1, MAX_IMAGES)
        self.images.setAccessibleName(self.tr("Images per job"))

        self.advanced = AdvancedFields()
        a = self.advanced
        self.quality, self.official, self.prior_steps = a.quality, a.official, a.prior_steps
        self.prior_guidance, self.decoder_steps, self.decoder_guidance = (
            a.prior_guidance,
            a.decoder_steps,
            a.decoder_guidance,
        )
        self.prior_variant = a.prior_variant
        a.prior_chosen.connect(self.prior_chosen)

        self.generate_button = QPushButton(self.tr("Generate"))
        self.generate_button.setDefault(True)
        self.generate_button.setToolTip(self.tr("Generate (Ctrl+Enter)"))
        self.generate_button.clicked.connect(self.generate_requested)
        self.compose_button = QPushButton(self.tr("Compose"))
        self.compose_button.setToolTip(
            self.tr(
                "Compose (Ctrl+Shift+Enter): only the fast first stage, for several seeds; "
                "pick the compositions worth decoding"
            )
        )
        self.compose_button.setAccessibleName(self.tr("Compose"))
        self.compose_button.clicked.connect(self.compose_requested)
        self.compose_count = QSpinBox()
        self.compose_count.setRange(2, MAX_IMAGES)
        self.compose_count.setValue(4)
        self.compose_count.setSuffix(self.tr(" seeds"))
        self.compose_count.setAccessibleName(self.tr("Compositions per compose"))
        self.compose_count.setToolTip(self.tr("How many compositions Compose makes"))
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d9534f;")
        self.error_label.hide()
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.hide()

        self._layout()
        self._chain_tabs()
        self.advanced.toggle.toggled.connect(self._chain_tabs)
        self.advanced.toggle.toggled.connect(self._refit)
        self.picture.changed.connect(self._refit)
        self.picture.changed.connect(self._chain_tabs)
        self.prompt.textChanged.connect(self._prompts_changed)
        self.seed.textChanged.connect(self._prompts_changed)
        self.aspect.currentIndexChanged.connect(self._aspect_changed)
        self.width_box.valueChanged.connect(self._update_latent_label)
        self.height_box.valueChanged.connect(self._update_latent_label)
        self.random_seed.toggled.connect(lambda on: self.seed.setReadOnly(on))
        self.seed.setReadOnly(True)
        self._aspect_changed()

    @property
    def tab_order(self) -> list[QWidget]:
        """The panel's focusable widgets in reading order, as far as they are shown."""
        well = self.picture
        picture = [well, well.open_button, well.paste_button]
        if well.path is not None:
            picture += [well.clear_button, well.strength]
        return [
            self.prompt, self.negative, *picture, self.aspect, self.width_box, self.height_box, self.seed,
            self.random_seed, self.images, self.quality, *self.advanced.fields(), self.generate_button,
            self.compose_button, self.compose_count,
        ]  # fmt: skip

    def _refit(self) -> None:
        # Fields shown or hidden change the width the panel needs: the splitter must hear of it.
        self.fields_scroll.fields.adjustSize()
        self.fields_scroll.updateGeometry()
        self.updateGeometry()

    def _chain_tabs(self) -> None:
        for first, second in pairwise(self.tab_order):
            QWidget.setTabOrder(first, second)

    def _size_box(self, name: str) -> QSpinBox:
        box = QSpinBox()
        box.setRange(MIN_SIZE, MAX_SIZE)
        box.setSingleStep(SIZE_STEP)
        box.setSuffix(" px")
        box.setAccessibleName(name)
        box.setValue(1024)
        return box

    def _layout(self) -> None:
        # The fields scroll on a short screen; the buttons below them never leave the panel.
        fields = QWidget()
        self.fields_scroll = FieldsScroll(fields)
        outer = QVBoxLayout(self)
        outer.addWidget(self.fields_scroll, 1)
        root = QVBoxLayout(fields)
        root.setContentsMargins(0, 0, 0, 0)
        root.addWidget(QLabel(self.tr("Prompt")))
        root.addWidget(self.prompt, 2)
        root.addWidget(self.token_label)
        root.addWidget(self.expanded)
        root.addWidget(QLabel(self.tr("Negative prompt")))
        root.addWidget(self.negative)
        root.addWidget(self.picture)

        form = QFormLayout()
        form.addRow(self.tr("Size"), self.aspect)
        sizes = QHBoxLayout()
        sizes.addWidget(self.width_box)
        sizes.addWidget(QLabel("×"))
        sizes.addWidget(self.height_box)
        form.addRow("", sizes)
        form.addRow("", self.latent_label)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        form.addRow(self.tr("Seed"), seed_row)
        form.addRow(self.tr("Images"), self.images)

        form.addRow(self.tr("Quality"), self.quality)
        root.addLayout(form)
        root.addWidget(self.advanced)
        outer.addWidget(self.note_label)
        outer.addWidget(self.error_label)
        outer.addWidget(self.generate_button)
        compose_row = QHBoxLayout()
        compose_row.addWidget(self.compose_button, 1)
        compose_row.addWidget(self.compose_count)
        outer.addLayout(compose_row)

    def _aspect_changed(self) -> None:
        data = self.aspect.currentData()
        custom = data == CUSTOM
        self.width_box.setEnabled(custom)
        self.height_box.setEnabled(custom)
        if not custom:
            w, h = data
            self.width_box.setValue(w)
            self.height_box.setValue(h)
        self._update_latent_label()

    def _update_latent_label(self) -> None:
        h, w = stage_c_size(self.width_box.value(), self.height_box.value())
        self.latent_label.setText(self.tr("Stage C latent: {0}×{1}").format(w, h))

    def show_prior(self, prior: str) -> None:
        """Show the prior in use: a published variant, or the user's own checkpoints."""
        self.advanced.show_prior(prior)

    def set_token_counter(self, counter: Any) -> None:
        """Count tokens against CLIP's limit as the user types (the counter comes from the prior's files)."""
        self._counter = counter
        self._update_tokens()

    def _update_tokens(self) -> None:
        seed = min(int(self.seed.text() or "0"), MAX_SEED)
        prompts = self.prompt.prompts()
        self.token_label.show_count(self._counter, prompts, self._weighting(), seed, appdirs.wildcards_dir())

    def _weighting(self) -> str:
        prompts = self.prompt.prompts()
        if self._reused is not None and prompts == [self._reused[0]]:
            return self._reused[1]
        return A1111

    def next_seed(self) -> int:
        """The seed for the next job: a new random one unless the seed is locked."""
        if self.random_seed.isChecked():
            self.seed.setText(str(random_seed()))
        text = self.seed.text() or "0"
        return min(int(text), MAX_SEED)

    def params(self) -> GenerationParams:
        """The job the widgets describe; raises ``InvalidParams`` with a message to show."""
        return GenerationParams(
            prompt=next(iter(self.prompt.prompts()), ""),  # the first line's: see ``jobs``
            negative_prompt=self.negative.toPlainText().strip(),
            width=self.width_box.value(),
            height=self.height_box.value(),
            seed=self.next_seed(),
            images=self.images.value(),
            prior_steps=self.advanced.steps()[0],
            prior_guidance=self.prior_guidance.value(),
            decoder_steps=self.decoder_steps.value(),
            decoder_guidance=self.decoder_guidance.value(),
            weighting=self._weighting(),
        )

    def compose_params(self) -> GenerationParams:
        """The compose job: the widgets' parameters for ``compose_count`` consecutive seeds."""
        return self.params().replace(images=self.compose_count.value())

    def job_params(self, compose: bool = False) -> GenerationParams | None:
        """What Compose (or Generate for one prompt) submits, or None once the panel shows why it cannot."""
        jobs = self.jobs(compose)
        if jobs is not None and len(jobs) > 1:
            self.show_error(self.tr("Compose takes one prompt: keep one line, or Generate them all."))
            return None
        return None if jobs is None else jobs[0]

    def jobs(self, compose: bool = False) -> list[GenerationParams] | None:
        """What Generate submits: a job for each line of the prompt box, all from one seed, wildcards
        expanded (each image's, to say now what is wrong); or None once the panel shows why it cannot."""
        prompts = self.prompt.prompts()
        if not prompts:
            self.show_error(self.tr("Type a prompt first."))
            return None
        try:
            base = self.compose_params() if compose else self.params()
            folder = appdirs.wildcards_dir()
            jobs = [with_prompt(base, text, folder) for text in check_count(prompts)]
            for job in jobs:
                expand_images(job, folder)
        except InvalidParams as exc:
            self.show_error(str(exc))
            return None
        problem = self.picture.problem((base.width, base.height))
        if problem:
            self.show_error(problem)
            return None
        self.show_error("")
        return jobs

    def _prompts_changed(self) -> None:
        prompts = self.prompt.prompts()
        seed = min(int(self.seed.text() or "0"), MAX_SEED)
        self.expanded.show_expansion(prompts, seed, appdirs.wildcards_dir())
        self._show_generate(len(prompts))
        self._update_tokens()

    def set_params(self, p: GenerationParams, *, lock_seed: bool = True) -> None:
        """Fill every widget from ``p``; the seed is locked so the same image can be made again."""
        self._reused = (p.prompt, p.weighting)
        self.prompt.set_prompt(p.prompt)
        self.negative.setPlainText(p.negative_prompt)
        self.set_size(p.width, p.height)
        self.set_seed(p.seed, lock=lock_seed)
        self.images.setValue(p.images)
        self.advanced.set_steps(p.prior_steps, p.decoder_steps)
        self.prior_guidance.setValue(p.prior_guidance)
        self.decoder_guidance.setValue(p.decoder_guidance)

    def set_size(self, width: int, height: int) -> None:
        index = self.aspect.findData((width, height))
        self.aspect.setCurrentIndex(index if index >= 0 else self.aspect.findData(CUSTOM))
        self.width_box.setValue(width)
        self.height_box.setValue(height)

    def set_seed(self, seed: int, *, lock: bool = True) -> None:
        self.seed.setText(str(seed))
        if lock:
            self.random_seed.setChecked(False)

    def current_or_default(self) -> GenerationParams:
        """The panel's job as far as it is valid, without drawing a new random seed."""
        try:
            seed = min(int(self.seed.text() or "0"), MAX_SEED)
            return GenerationParams(
                prompt="",
                width=self.width_box.value(),
                height=self.height_box.value(),
                seed=seed,
                images=self.images.value(),
                prior_steps=self.advanced.steps()[0],
                prior_guidance=self.prior_guidance.value(),
                decoder_steps=self.decoder_steps.value(),
                decoder_guidance=self.decoder_guidance.value(),
            )
        except InvalidParams:
            return GenerationParams("")

    def show_note(self, message: str) -> None:
        """What could not be carried over from a dropped or opened image."""
        self.note_label.setText(message)
        self.note_label.setVisible(bool(message))

    def encoder_arrived(self) -> None:
        """The image encoder is on this computer now: what the panel said about it no longer holds."""
        self.picture.encoder_button.hide()
        if self.picture.needs_encoder():
            self.show_error("")

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def set_busy_hint(self, queued: int) -> None:
        self._queued = queued
        self._show_generate(len(self.prompt.prompts()))

    def _show_generate(self, prompts: int) -> None:
        """The button says how many jobs it makes: one per line of the prompt box."""
        if prompts > 1:
            text = self.tr("Generate {0} prompts") if self._queued == 0 else self.tr("Queue {0} prompts")
            text = text.format(prompts)
        else:
            text = self.tr("Generate") if self._queued == 0 else self.tr("Queue")
        if self._queued:
            text += self.tr(" ({0} waiting)").format(self._queued)
        self.generate_button.setText(text)
        self.generate_button.setToolTip(self.tr("Generate (Ctrl+Enter)"))
        self.generate_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
