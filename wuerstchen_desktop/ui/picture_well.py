"""The picture well: the prompt panel's optional picture to start from (image-to-image), and how strongly
the new image departs from it.

A picture arrives dropped, opened, pasted or from the history. It is checked here only as far as a person
needs to know at once (Qt can read it; whether it needs the image encoder); the job reads it properly on
the worker's thread (turned upright, made sRGB, fitted to the job's size) and says what it changed. A pasted
picture has no file, so it is kept as PNG in the app's data folder under its sha256: the image made from it
names that file's sha256, and ``reproduce`` can be given the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QMimeData, QSize, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QImageIOHandler,
    QImageReader,
    QKeyEvent,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.atomicfile import write_bytes_atomic
from wuerstchen_desktop.core.engine.encoder_weights import find_encoder_weights
from wuerstchen_desktop.core.errors import NoParametersFound, SaveError, WuerstchenError
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.imagefile.source import choose_size
from wuerstchen_desktop.core.params import DEFAULT_STRENGTH, composition_size
from wuerstchen_desktop.ui.elided_label import ElidedLabel

THUMB = 72  # logical pixels, the thumbnail's longer side
FILTER = "Pictures (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif)"
_ROTATED = (
    QImageIOHandler.Transformation.TransformationRotate90,
    QImageIOHandler.Transformation.TransformationRotate270,
    QImageIOHandler.Transformation.TransformationMirrorAndRotate90,
    QImageIOHandler.Transformation.TransformationFlipAndRotate90,
)


class PictureWell(QFrame):
    """Holds at most one picture. ``start()`` is what a job needs from it; ``problem()`` says why a job
    cannot start from it yet (the image encoder is missing)."""

    changed = Signal()  # a picture was set or cleared
    size_proposed = Signal(int, int)  # the size jobs from this picture are made at
    encoder_wanted = Signal()  # "Download the image encoder…" was clicked
    message = Signal(str)  # a picture was refused: why, and what to do

    def __init__(
        self, encoder_present: Callable[[], bool] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.encoder_present = encoder_present or (lambda: find_encoder_weights() is not None)
        self.path: Path | None = None
        self.ours = False  # made here: it carries its composition, no encoder needed
        self.made_size: tuple[int, int] | None = None
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(self.tr("Picture to start from"))
        self.setToolTip(self.tr("Drop a picture here, paste one (Ctrl+V), or open one"))

        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name = ElidedLabel()
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.open_button = QPushButton(self.tr("Open…"))
        self.paste_button = QPushButton(self.tr("Paste"))
        self.clear_button = QPushButton(self.tr("Clear"))
        self.clear_button.setToolTip(self.tr("Start from text again"))
        self.open_button.setAccessibleName(self.tr("Open a picture to start from"))
        self.paste_button.setAccessibleName(self.tr("Paste a picture to start from"))
        self.clear_button.setAccessibleName(self.tr("Clear the picture"))
        self.encoder_button = QPushButton(self.tr("Download the image encoder…"))
        self.encoder_button.setToolTip(
            self.tr("Pictures made elsewhere are read by an image encoder, fetched once (about 81 MB)")
        )
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(5, 100)
        self.strength.setSingleStep(5)
        self.strength.setPageStep(10)
        self.strength.setValue(round(DEFAULT_STRENGTH * 100))
        self.strength.setAccessibleName(self.tr("Strength"))
        self.strength.setToolTip(
            self.tr(
                "How much of the picture is drawn anew (the denoising strength). Low keeps it close; "
                "0.85 keeps only its layout and colours; 1 ignores it."
            )
        )
        self.strength_label = QLabel()
        self._layout()
        self.open_button.clicked.connect(self.open_file)
        self.paste_button.clicked.connect(self.paste)
        self.clear_button.clicked.connect(self.clear)
        self.encoder_button.clicked.connect(self.encoder_wanted)
        self.strength.valueChanged.connect(self._show_strength)
        self._show()

    def _layout(self) -> None:
        text = QVBoxLayout()
        text.addWidget(self.name)
        text.addWidget(self.detail)
        text.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.thumb)
        top.addLayout(text, 1)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.paste_button, self.clear_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        slider = QHBoxLayout()
        slider.addWidget(self.strength, 1)
        slider.addWidget(self.strength_label)
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.addLayout(top)
        root.addLayout(buttons)
        root.addLayout(slider)
        root.addWidget(self.encoder_button)

    # -- what jobs read -----------------------------------------------------------------------------
    def value(self) -> float:
        return self.strength.value() / 100

    def start(self) -> tuple[tuple[tuple[str, float], ...], Path | None]:
        """The job changes and the picture a job starts from; strength 1 starts from text."""
        if self.path is None or self.value() >= 1:
            return (), None
        return (("strength", self.value()),), self.path

    def needs_encoder(self, size: tuple[int, int] | None = None) -> bool:
        """Whether starting from the picture at ``size`` goes through the image encoder: a picture made
        elsewhere, or one of ours made at another size."""
        if self.path is None:
            return False
        return not self.ours or (size is not None and size != self.made_size)

    def problem(self, size: tuple[int, int] | None = None) -> str:
        """Why a job at ``size`` cannot start from the picture yet, or ""."""
        if self.start()[1] is None or not self.needs_encoder(size) or self.encoder_present():
            return ""
        self.encoder_button.show()
        if self.ours:
            w, h = self.made_size or (0, 0)
            return self.tr(
                "This picture was composed at {0}×{1}. Make the image at that size, or download the image "
                "encoder to start from it at another."
            ).format(w, h)
        return self.tr(
            "Starting from a picture made elsewhere needs the image encoder, which is not on this computer: "
            "download it (about 81 MB), or start from an image made with this app."
        )

    # -- setting it ---------------------------------------------------------------------------------
    def set_picture(self, path: Path) -> bool:
        """Use the picture at ``path``; a picture Qt cannot read is refused and the well keeps what it had."""
        reader = QImageReader(str(path))
        reader.setAutoTransform(True)
        size = reader.size()
        if not path.is_file() or not reader.canRead() or size.isEmpty():
            why = reader.errorString() if path.is_file() else self.tr("the file is missing")
            self._refuse(path, why, self.tr("Choose a PNG, JPEG, WebP, BMP, TIFF or GIF picture."))
            return False
        if reader.transformation() in _ROTATED:
            size = size.transposed()
        reader.setScaledSize(size.scaled(QSize(THUMB, THUMB) * 2, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if image.isNull():
            self._refuse(path, reader.errorString(), self.tr("Choose another picture."))
            return False
        try:
            record = read_record(path)
        except (NoParametersFound, WuerstchenError):
            record = None
        self.ours = record is not None and record.latent is not None
        # An upscaled image's composition is at its source's size: images from it are made at that size.
        self.made_size = composition_size(record.params) if record is not None else None
        self.path = path
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(2.0)
        self.thumb.setPixmap(pixmap)
        made = self.made_size if self.ours and self.made_size else None
        w, h = made or choose_size(size.width(), size.height())
        self._show(size.width(), size.height(), (w, h))
        self.size_proposed.emit(w, h)
        self.changed.emit()
        return True

    def _refuse(self, path: Path, why: str, hint: str) -> None:
        self.message.emit(self.tr("Cannot start from {0}: {1}. {2}").format(path.name, why, hint))

    def open_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, self.tr("Start from a picture"), "", self.tr(FILTER))
        if name:
            self.set_picture(Path(name))

    def paste(self) -> bool:
        """The clipboard's picture: a file copied in a file manager, or image data (kept as PNG)."""
        return self.take(QGuiApplication.clipboard().mimeData())

    def take(self, data: QMimeData | None) -> bool:
        if data is None:
            return False
        files = [Path(u.toLocalFile()) for u in data.urls() if u.isLocalFile()]
        if files:
            return self.set_picture(files[0])
        if data.hasImage():
            image = QImage(data.imageData())
            if not image.isNull():
                kept = self._keep(image)
                return kept is not None and self.set_picture(kept)
        self.message.emit(self.tr("The clipboard holds no picture. Copy an image or an image file first."))
        return False

    def _keep(self, image: QImage) -> Path | None:
        """A pasted picture as a PNG file in the app's data folder, named by its sha256."""
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; PySide takes str
        data = bytes(buffer.data().data())
        sha = hashlib.sha256(data).hexdigest()
        folder = appdirs.pictures_dir()
        if (folder / f"{sha}.png").is_file():
            return folder / f"{sha}.png"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return write_bytes_atomic(data, folder, sha, ".png")
        except (OSError, SaveError) as exc:
            self.message.emit(self.tr("Cannot keep the pasted picture: {0}").format(exc))
            return None

    def clear(self) -> None:
        self.path, self.ours, self.made_size = None, False, None
        self.thumb.setPixmap(QPixmap())
        self._show()
        self.changed.emit()

    # -- showing it ---------------------------------------------------------------------------------
    def _show(self, width: int = 0, height: int = 0, job: tuple[int, int] = (0, 0)) -> None:
        has = self.path is not None
        for widget in (self.clear_button, self.strength, self.strength_label):
            widget.setVisible(has)
        self.thumb.setVisible(has)
        self.encoder_button.hide()
        if self.path is None:
            self.name.setText(self.tr("Start from a picture (optional)"))
            self.detail.setText(self.tr("Drop one here, paste it, or open it."))
            return
        self.name.setText(self.path.name)
        made = self.tr("made here") if self.ours else self.tr("made elsewhere")
        text = self.tr("{0}×{1}, {2}\nImages from it: {3}×{4}")
        self.detail.setText(text.format(width, height, made, *job))
        self._show_strength()

    def _show_strength(self) -> None:
        value = self.value()
        self.strength_label.setText(self.tr("Strength {0:.2f}").format(value))
        self.strength_label.setToolTip(
            self.tr("1 ignores the picture: the image is made from text") if value >= 1 else ""
        )

    # -- drag and drop, keys --------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        data = event.mimeData()
        if data.hasImage() or any(u.isLocalFile() for u in data.urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.take(event.mimeData()):
            event.acceptProposedAction()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste):
            self.paste()
        elif event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.path is not None:
            self.clear()
        else:
            super().keyPressEvent(event)
