"""The window's status bar: the engine's state, one progress bar for the whole running job (its stages
weighted by their cost), the step it is at, the time left for the job and the queue, and memory in use."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QMainWindow, QProgressBar, QPushButton

from wuerstchen_desktop.core.engine.sysinfo import memory_in_use
from wuerstchen_desktop.core.jobs.estimate import JobProgress
from wuerstchen_desktop.ui.elided_label import ElidedLabel
from wuerstchen_desktop.worker.generation import GenerationService

BAR_STEPS = 1000  # the bar's range: a tenth of a percent


def duration(seconds: float) -> str:
    """``seconds`` in a person's words: "< 1 s", "8 s", "2 min 5 s", "1 h 3 min"."""
    s = max(0, round(seconds))
    if s == 0:
        return "< 1 s"
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class StatusArea(QObject):
    """Owns the status bar's widgets and follows the generation service's reports."""

    def __init__(self, window: QMainWindow, service: GenerationService) -> None:
        super().__init__(window)
        self.service = service
        self.engine_label = ElidedLabel(self.tr("Starting…"))
        self.stage_label = ElidedLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setToolTip(self.tr("Cancel the running job (Esc)"))
        self.cancel_button.hide()
        self.undo_button = QPushButton(self.tr("Undo"))
        self.undo_button.hide()
        self.previewer_button = QPushButton(self.tr("True-colour previews…"))
        self.previewer_button.setToolTip(
            self.tr("Live previews are approximate: download the live preview model (45 MB)")
        )
        self.previewer_button.hide()
        self.memory_label = QLabel()
        self.memory_label.setToolTip(self.tr("Memory this app uses now"))
        status = window.statusBar()
        for widget in (
            self.previewer_button,
            self.undo_button,
            self.stage_label,
            self.progress,
            self.cancel_button,
            self.engine_label,
            self.memory_label,
        ):
            status.addPermanentWidget(widget)
        self.memory_timer = QTimer(self)
        self.memory_timer.timeout.connect(self.update_memory)
        self.memory_timer.start(2000)
        self.update_memory()
        service.engine_status.connect(self.engine_label.setText)
        service.engine_ready.connect(self.explain_engine)
        service.job_progress.connect(self.show_progress)

    def explain_engine(self, summary: str, reasons: str) -> None:
        """What the engine line's words mean, and why they were chosen, on hover."""
        lines = [
            self.tr("Where and how the models run: the device (CPU or GPU), the number precision "
                    "(bfloat16 and float16 take half the memory of float32) and the memory mode (high keeps "
                    "every model loaded; balanced and low load them in turn, for less memory)."),
        ]  # fmt: skip
        if reasons:
            lines.append(self.tr("Chosen because: {0}.").format(reasons))
        lines.append(self.tr("Change them in Settings (Ctrl+,)."))
        self.engine_label.explanation = "\n".join(lines)

    def update_memory(self) -> None:
        use = memory_in_use()
        parts = []
        if use.ram is not None:
            label = self.tr("RAM peak") if use.ram_is_peak else self.tr("RAM")
            parts.append(f"{label} {use.ram / 1e9:.1f} GB")
        if use.vram is not None:
            parts.append(self.tr("VRAM {0:.1f} GB").format(use.vram / 1e9))
        self.memory_label.setText(" · ".join(parts))

    def job_started(self) -> None:
        self.progress.setRange(0, 0)  # moving, not frozen, while the engine loads before the first step
        self.progress.show()
        self.cancel_button.show()
        self.stage_label.setText(self.tr("Starting…"))

    def show_progress(self, p: JobProgress) -> None:
        names = {"prior": self.tr("Composing"), "decoder": self.tr("Decoding"), "vqgan": self.tr("Finishing")}
        self.progress.setRange(0, BAR_STEPS)
        self.progress.setValue(round(p.fraction * BAR_STEPS))
        parts = [
            self.tr("{0} · step {1}/{2}").format(names.get(p.stage, p.stage), p.step, p.total),
            f"{p.fraction:.0%}",
        ]
        if p.seconds_left >= 0:
            parts.append(self.tr("about {0} left").format(duration(p.seconds_left)))
        if self.service.pending and p.queue_seconds_left >= 0:
            parts.append(self.tr("queue {0}").format(duration(p.queue_seconds_left)))
        self.stage_label.setText(" · ".join(parts))
        self.progress.setToolTip(self.stage_label.text())

    def job_done(self) -> None:
        if not self.service.busy:
            self.progress.hide()
            self.cancel_button.hide()
            self.stage_label.setText("")
