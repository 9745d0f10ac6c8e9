"""First run: what the model files cost in disk space, then the download with speed and time left, or a
folder the user already has. Not modal: the window stays usable throughout. While the server asks for a
pause, the dialog says why and for how long; after the download, what could not be checked or fetched
stays in the dialog until the user closes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop.core.hub.catalogue import ENCODER_BYTES, lookup
from wuerstchen_desktop.core.hub.units import duration, human
from wuerstchen_desktop.worker.downloads import DownloadService


class FirstRunDialog(QDialog):
    """Emits ``ready`` once every needed file is on disk, ``folders_chosen`` for folders the user has, and
    ``go_online`` when the user turns offline mode off here."""

    ready = Signal()
    folders_chosen = Signal(object)  # {"prior": folder, "decoder": folder}, either or both
    go_online = Signal()

    def __init__(
        self,
        downloads: DownloadService,
        repos: list[str],
        offline: bool,
        parent: QWidget | None = None,
        *,
        previewer_only: bool = False,
        encoder_only: bool = False,
    ) -> None:
        super().__init__(parent)
        # With no repositories and ``previewer_only`` or ``encoder_only``, it fetches just that optional
        # model: the live-preview model, or the image encoder (out of its training checkpoint).
        self.previewer_only, self.encoder_only = previewer_only, encoder_only
        titles = (self.tr("Live preview model"), self.tr("Image encoder"), self.tr("Model files needed"))
        self.setWindowTitle(titles[0] if previewer_only else titles[1] if encoder_only else titles[2])
        self.setModal(False)
        self.setMinimumWidth(520)
        self.downloads = downloads
        self.repos = repos
        self.offline = offline
        self.plan: Any = None
        self.planning = True
        self.followed = False  # the encoder follows the models in this dialog: ``ready`` was said
        self.message = QLabel(self.tr("Checking what needs to be downloaded…"))
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.hide()
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.download_button = QPushButton(self.tr("Download"))
        self.download_button.setEnabled(False)
        self.folder_button = QPushButton(self.tr("Use folders I already have…"))
        self.folder_button.setToolTip(self.needs())
        self.online_button = QPushButton(self.tr("Turn offline mode off"))
        self.online_button.setToolTip(self.tr("The same as unticking Offline in Settings"))
        self.online_button.setVisible(offline and not (previewer_only or encoder_only))
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.later_button = QPushButton(self.tr("Not now"))
        self.close_button = QPushButton(self.tr("Close"))
        self.close_button.hide()
        self.encoder_box = QCheckBox(
            self.tr("Start from a picture: image encoder, {0}").format(human(ENCODER_BYTES))
        )
        self.encoder_box.setToolTip(
            self.tr("For image-to-image, Vary and Upscale; fetched after the models. Optional.")
        )
        self.encoder_box.setVisible(not (previewer_only or encoder_only) and not _encoder_on_disk())

        buttons = QHBoxLayout()
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.online_button)
        buttons.addStretch(1)
        for button in (self.later_button, self.cancel_button, self.download_button, self.close_button):
            buttons.addWidget(button)
        root = QVBoxLayout(self)
        root.addWidget(self.message)
        root.addWidget(self.progress)
        root.addWidget(self.detail)
        root.addWidget(self.encoder_box)
        root.addLayout(buttons)
        self.folder_button.setVisible(not (previewer_only or encoder_only))

        self.download_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(downloads.cancel)
        self.later_button.clicked.connect(self.reject)
        self.close_button.clicked.connect(self.accept)
        self.folder_button.clicked.connect(self.choose_folder)
        self.online_button.clicked.connect(self.go_online)
        w = downloads.worker
        w.planned.connect(self._planned)
        w.progress.connect(self._progress)
        w.finished.connect(self._finished)
        w.failed.connect(self._failed)
        w.cancelled.connect(self._cancelled)
        w.imported.connect(self._imported)
        w.whole_needed.connect(self._whole_needed)
        self._ask()

    def _ask(self) -> None:
        if self.encoder_only and self.offline:
            self._failed(
                self.tr(
                    "The app is set to work offline. Turn offline mode off in Settings to download the "
                    "image encoder."
                )
            )
        elif self.encoder_only:
            self.downloads.plan_encoder()
        else:
            self.downloads.plan(self.repos, self.offline)

    def reject(self) -> None:
        """Not now: a plan still waiting on the server stops; a running download goes on in the background."""
        if self.planning:
            self.downloads.cancel()
        super().reject()

    def replan(self) -> None:
        self.planning = True
        self.say(self.tr("Checking what needs to be downloaded…"))
        self.download_button.setEnabled(False)
        self.cancel_button.setText(self.tr("Cancel"))
        self.cancel_button.show()
        self._ask()

    def needs(self) -> str:
        """Which model folders the app needs, in words, from the repositories missing."""
        sides = {"prior": self.tr("the prior"), "decoder": self.tr("the decoder")}
        parts = []
        for repo in self.repos:
            entry = lookup(repo)
            side = sides.get(entry.side, repo) if entry is not None else repo
            parts.append(self.tr("{0} (a copy of {1})").format(side, repo))
        return self.tr("Needed: {0}. Choose the folder of each, or one folder that holds both.").format(
            self.tr(" and ").join(parts)
        )

    def say(self, text: str) -> None:
        """Show ``text`` in full: the dialog grows to fit a long, wrapped message, centred on the window."""
        self.message.setText(text)
        self.adjustSize()
        self.centre()

    def centre(self) -> None:
        parent = self.parentWidget()
        if parent is not None and parent.isVisible():
            mid = parent.frameGeometry().center()
            self.move(mid - QPoint(self.frameGeometry().width() // 2, self.frameGeometry().height() // 2))

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.centre()

    def _planned(self, plan: Any) -> None:
        self.plan = plan
        self.planning = False
        self.cancel_button.hide()
        self.download_button.setText(self.tr("Download"))
        if self.previewer_only:
            self._planned_previewer(plan)
            return
        if self.encoder_only:
            self._planned_encoder(plan)
            return
        text = self.tr(
            "Würstchen needs its model files before it can make images: {0} to download{1}. "
            "Free space on that disk: {2}. After this, the app works without the internet."
        ).format(
            human(plan.to_fetch),
            self.tr(" ({0} already here)").format(human(plan.on_disk)) if plan.on_disk else "",
            human(plan.free),
        )
        self.say(text)
        self.detail.setText(self.tr("Files go to {0}").format(plan.cache))
        if plan.fits:
            self.download_button.setEnabled(True)
            self.download_button.setFocus()
        else:
            self.detail.setText(
                self.tr(
                    "There is not enough free space. Free some space, or choose a folder you already have."
                )
            )

    def _planned_previewer(self, plan: Any) -> None:
        if plan.to_fetch == 0:
            # Nothing to fetch: the Space could not be reached (the plan says why), or it is already here.
            self.say(" ".join(plan.warnings) or self.tr("The live preview model is already here."))
            if not plan.warnings:
                self._finished()
            return
        self.say(
            self.tr(
                "The live preview model shows each image's colours while it is composed, instead of an "
                "approximation: {0} to download. Free space on that disk: {1}."
            ).format(human(plan.to_fetch), human(plan.free))
        )
        self.detail.setText(self.tr("Files go to {0}").format(plan.cache))
        self.download_button.setEnabled(plan.fits)
        self.download_button.setFocus()

    def _planned_encoder(self, plan: Any) -> None:
        self.say(
            self.tr(
                "Starting from a picture needs the image encoder: {0} to download, only its part of the "
                "Würstchen authors' training checkpoint. Free space on that disk: {1}."
            ).format(human(plan.to_fetch), human(plan.free))
        )
        self.detail.setText(self.tr("Files go to {0}").format(plan.cache))
        self.download_button.show()
        self.download_button.setEnabled(plan.fits)
        self.download_button.setFocus()
        if self.encoder_box.isChecked() and plan.fits:  # asked for with the models: it follows them
            self.start()

    def _whole_needed(self, why: str, plan: Any) -> None:
        """The server sends no parts of files: the whole checkpoint, only if the user says so."""
        self.plan = plan
        self.progress.hide()
        self._reset_buttons()
        self.say(
            self.tr(
                "{0} Download all of it ({1}; free space on that disk: {2}), keep the image encoder and "
                "delete the rest?"
            ).format(why, human(plan.to_fetch), human(plan.free))
        )
        self.download_button.setText(self.tr("Download all {0}").format(human(plan.to_fetch)))
        self.download_button.setEnabled(plan.fits)

    def start(self) -> None:
        if self.plan is None:  # planning failed or was cancelled: "Retry" asks the server again
            self.replan()
            return
        self.download_button.hide()
        self.later_button.hide()
        self.folder_button.setEnabled(False)
        self.cancel_button.setText(self.tr("Cancel download"))
        self.cancel_button.show()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.show()
        self.adjustSize()
        self.downloads.download(self.plan)

    def _progress(self, p: Any) -> None:
        done = self.tr("{0} of {1}").format(human(p.done), human(p.total))
        if p.phase == "waiting":  # nothing moves until the server's pause is over: a busy bar, and why
            self.progress.setRange(0, 0)
            self.detail.setText(f"{p.note} · {done}" if p.note else done)
            self.adjustSize()  # the note takes two lines: grow rather than cut it
            return
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * p.done / p.total) if p.total else 0)
        speed = self.tr("{0}/s").format(human(p.speed)) if p.speed else ""
        left = self.tr("about {0} left").format(duration(p.eta)) if p.eta is not None else ""
        checking = self.tr("checking {0}").format(p.file) if p.phase == "verifying" and p.file else ""
        self.detail.setText(" · ".join(x for x in (done, speed, left, checking) if x))

    def _finished(self, warnings: list[str] | None = None) -> None:
        if self.encoder_only:
            ready = self.tr("The image encoder is ready.")
        elif self.previewer_only:
            ready = self.tr("The live preview model is ready.")
        else:
            ready = self.tr("The model files are ready.")
            self.ready.emit()
            if self.encoder_box.isChecked():  # then the image encoder, asked for with the models
                self.encoder_only, self.plan, self.followed = True, None, True
                self.encoder_box.setEnabled(False)
                self.replan()
                return
        if (self.encoder_only or self.previewer_only) and not self.followed:
            self.ready.emit()
        if not warnings:
            self.say(ready)
            self.accept()
            return
        # Said here, not only in the log: the files are in use, and the user decides what to make of it.
        self.say("\n\n".join([ready, *warnings]))
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.detail.setText("")
        self.cancel_button.hide()
        self.close_button.show()
        self.close_button.setFocus()

    def _reset_buttons(self) -> None:
        self.planning = False
        self.cancel_button.hide()
        self.download_button.show()
        # With no plan (planning failed or was cancelled), "Retry" asks the server again.
        self.download_button.setEnabled(not self.offline and (self.plan is None or self.plan.fits))
        self.download_button.setText(self.tr("Retry"))
        self.later_button.show()
        self.folder_button.setEnabled(True)

    def _failed(self, message: str) -> None:
        plain = self.plan is not None or not self.repos  # an optional model: nothing more to choose
        self.say(message if plain else f"{message}\n\n{self.needs()}")
        self._reset_buttons()

    def _cancelled(self) -> None:
        if self.plan is None:
            self.say(self.tr("Stopped asking the server what to download. Try again when you like."))
        else:
            self.say(
                self.tr("Download cancelled. What was downloaded is kept; the next try goes on from there.")
            )
        self._reset_buttons()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.needs())
        if folder:
            self.use_folder(Path(folder))

    def use_folder(self, folder: Path) -> None:
        self.say(self.tr("Checking {0}…").format(folder))
        self.downloads.import_folder(folder)

    def _imported(self, found: dict[str, str]) -> None:
        self.folders_chosen.emit(found)


def _encoder_on_disk() -> bool:
    """By name only: reading the file's header would load torch on the GUI thread."""
    from wuerstchen_desktop.core import appdirs

    return any(appdirs.encoder_dir().glob("effnet-*.safetensors"))
