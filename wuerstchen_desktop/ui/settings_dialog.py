"""Settings, kept with QSettings and validated by ``core.settings`` (bad values fall back to defaults)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop.core.choices import AUTO
from wuerstchen_desktop.core.errors import OutputFolderError
from wuerstchen_desktop.core.library.outputdir import check_output_dir
from wuerstchen_desktop.core.settings import CHOICES, Settings, server_url
from wuerstchen_desktop.worker.remote_http import ServerProbe
from wuerstchen_desktop.worker.remote_jobs import load_token, save_token


def output_folder_problem(folder: Path) -> str | None:
    """Why images cannot be saved in ``folder``, as a sentence that says what to do; None if they can.
    A folder that does not exist yet is fine when it can be made (nothing is created here)."""
    try:
        check_output_dir(folder, create=False)
    except OutputFolderError as exc:
        return str(exc)
    return None


class SettingsStore:
    """``Settings`` in a QSettings file (the platform's native place unless a file is given).

    ``for_session`` holds the values command-line options gave this session: ``save`` keeps the stored
    value of each while it is unchanged, and saves every other change the user makes."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.qsettings = qsettings if qsettings is not None else QSettings()
        self.for_session: dict[str, Any] = {}

    def load(self) -> tuple[Settings, list[str]]:
        data = {key: self.qsettings.value(key) for key in self.qsettings.allKeys()}
        return Settings.from_mapping(data)

    def session(self, overrides: dict[str, Any]) -> Settings:
        """The stored settings with ``overrides`` (None: not given) applied for this session only."""
        stored, _warnings = self.load()  # each bad value was logged and replaced by its default
        given = {k: v for k, v in overrides.items() if v is not None}
        settings = dataclasses.replace(stored, **given)
        self.for_session = {k: v for k, v in settings.to_mapping().items() if k in given}
        return settings

    def save(self, settings: Settings) -> None:
        for key, value in settings.to_mapping().items():
            if key in self.for_session and self.for_session[key] == value:
                continue  # still the command line's value: the stored one stays
            self.qsettings.setValue(key, value)
            self.for_session.pop(key, None)
        self.qsettings.sync()


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, auto_choice: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Settings"))
        self.setMinimumWidth(560)
        # The values come from core's table; a value without a label here is shown as it is.
        labels = {
            "device": {"cpu": "CPU", "cuda": "NVIDIA CUDA", "mps": "Apple MPS"},
            "image_format": {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"},
            "memory": {
                "high": self.tr("High: every model stays loaded"),
                "balanced": self.tr("Balanced: only the running stage on the GPU"),
                "low": self.tr("Low: one stage at a time, loaded from disk"),
            },
            "theme": {"system": self.tr("System"), "dark": self.tr("Dark"), "light": self.tr("Light")},
            "run_on": {"local": self.tr("This computer"), "server": self.tr("A server")},
        }
        self.combos: dict[str, QComboBox] = {}
        for name, choices in CHOICES.items():
            combo = QComboBox()
            for value in choices:
                label = self.tr("Automatic") if value == AUTO else labels.get(name, {}).get(value, value)
                combo.addItem(label, value)
            combo.setCurrentIndex(combo.findData(getattr(settings, name)))
            self.combos[name] = combo
        self.auto_label = QLabel(auto_choice)
        self.auto_label.setWordWrap(True)
        output_row, self.output_dir = self._path_row(str(settings.output_dir), self.tr("Output folder"))
        prior_row, self.prior = self._path_row(settings.prior, self.tr("Prior checkpoints"))
        decoder_row, self.decoder = self._path_row(settings.decoder, self.tr("Decoder checkpoints"))
        self.name_pattern = QLineEdit(settings.name_pattern)
        self.name_pattern.setAccessibleName(self.tr("File name pattern"))
        self.name_pattern.setToolTip(
            self.tr("Fields: {date} {time} {stamp} {seed} {slug} {width} {height}; / makes a subfolder.")
        )
        models_row, self.models_dir = self._path_row(settings.models_dir, self.tr("Models folder"))
        self.models_dir.setPlaceholderText(self.tr("The standard Hugging Face cache"))
        self.compile = QCheckBox(self.tr("Compile the models (torch.compile: the first image is slower)"))
        self.compile.setChecked(settings.compile)
        self.offline = QCheckBox(self.tr("Never use the network"))
        self.offline.setChecked(settings.offline)
        server_rows = self._server_rows(settings)

        form = QFormLayout()
        form.addRow(self.tr("Run on"), self.combos["run_on"])
        for label, widget in server_rows:
            form.addRow(label, widget)
        form.addRow(self.tr("Device"), self.combos["device"])
        form.addRow(self.tr("Precision"), self.combos["dtype"])
        form.addRow(self.tr("Memory"), self.combos["memory"])
        form.addRow("", self.auto_label)
        form.addRow(self.tr("Output folder"), output_row)
        form.addRow(self.tr("Image format"), self.combos["image_format"])
        form.addRow(self.tr("File names"), self.name_pattern)
        form.addRow(self.tr("Models folder"), models_row)
        form.addRow(self.tr("Prior (Hub id or folder)"), prior_row)
        form.addRow(self.tr("Decoder (Hub id or folder)"), decoder_row)
        form.addRow(self.tr("Offline"), self.offline)
        form.addRow(self.tr("Speed"), self.compile)
        form.addRow(self.tr("Theme"), self.combos["theme"])
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.output_problem = QLabel()
        self.output_problem.setWordWrap(True)
        self.output_problem.setStyleSheet("color: #d9534f")
        self.output_problem.hide()
        self.output_dir.editingFinished.connect(self.check_output)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        root = QVBoxLayout(self)
        root.addLayout(form)
        root.addWidget(self.output_problem)
        root.addWidget(buttons)

    def _server_rows(self, settings: Settings) -> list[tuple[str, QWidget]]:
        """The server's address and token, and "Test connection", shown while "A server" is chosen."""
        self.server_url = QLineEdit(settings.server_url)
        self.server_url.setPlaceholderText("http://studio-pc:7861")
        self.server_url.setAccessibleName(self.tr("Server address"))
        self._token = load_token()
        self.token = QLineEdit(self._token)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setAccessibleName(self.tr("Server token"))
        self.token.setPlaceholderText(self.tr("From its server-token file; none on the same computer"))
        self.token.setToolTip(self.tr("Kept in a file only you may read, not in the settings file"))
        test_row = QWidget(self)
        row = QHBoxLayout(test_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.test_button = QPushButton(self.tr("Test connection"))
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        row.addWidget(self.test_button)
        row.addStretch(1)
        self.probe = ServerProbe(self)
        self.test_button.clicked.connect(self.test_connection)
        self.probe.found.connect(self._tested)
        self.server_rows = [self.server_url, self.token, test_row, self.test_result]
        self.combos["run_on"].currentIndexChanged.connect(self._show_server_rows)
        self._show_server_rows()
        return [
            (self.tr("Server address"), self.server_url),
            (self.tr("Token"), self.token),
            ("", test_row),
            ("", self.test_result),
        ]

    def _show_server_rows(self) -> None:
        remote = self.combos["run_on"].currentData() == "server"
        for widget in self.server_rows[:3]:
            widget.setEnabled(remote)

    def test_connection(self) -> None:
        """Ask the server in the background; the answer is one sentence beside the button."""
        url = server_url(self.server_url.text())
        if not url:
            self.test_result.setText(
                self.tr("Type the server's address: http://host:port or https://host:port.")
            )
            return
        self.test_button.setEnabled(False)
        self.test_result.setText(self.tr("Asking {0}…").format(url))
        self.probe.check(url, self.token.text().strip())

    def _tested(self, _ok: bool, sentence: str, _short: str) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(sentence)
        # A sentence of two or three lines is shown whole: the form does not ask a wrapped label its height.
        self.test_result.setMinimumHeight(self.test_result.heightForWidth(self.test_result.width()))
        self.adjustSize()

    def _path_row(self, value: str, name: str) -> tuple[QWidget, QLineEdit]:
        holder = QWidget(self)
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(value)
        edit.setAccessibleName(name)
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(lambda: self._browse(edit, name))
        browse.setAccessibleName(self.tr("Browse: {0}").format(name))
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return holder, edit

    def _browse(self, edit: QLineEdit, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, edit.text())
        if folder and edit is self.output_dir:
            self.choose_output(folder)
        elif folder:
            edit.setText(folder)

    def choose_output(self, folder: str) -> bool:
        """A folder chosen for the images: refused at once, saying why, when images cannot be saved there."""
        problem = output_folder_problem(Path(folder).expanduser())
        if problem is None:
            self.output_dir.setText(folder)
        self._show_problem(problem)
        return problem is None

    def check_output(self) -> None:
        """The typed output folder, checked when the field is left, not only at OK."""
        self._show_problem(output_folder_problem(self.settings().output_dir))

    def _show_problem(self, problem: str | None) -> None:
        self.output_problem.setText(problem or "")
        self.output_problem.setVisible(problem is not None)

    def accept(self) -> None:
        """OK keeps the dialog open, saying why, while images could not be saved in the output folder."""
        problem = output_folder_problem(self.settings().output_dir)
        self._show_problem(problem)
        if problem is not None:
            self.output_dir.setFocus()
            return
        if server_url(self.server_url.text()) is None:
            self.test_result.setText(
                self.tr("The server's address is http://host:port or https://host:port.")
            )
            self.server_url.setFocus()
            return
        if self.token.text().strip() != self._token:  # only a change is written: the file may be shared
            save_token(self.token.text())
        super().accept()

    def settings(self) -> Settings:
        """What the dialog shows, validated like stored values."""
        data = {name: combo.currentData() for name, combo in self.combos.items()}
        data.update(
            output_dir=self.output_dir.text(),
            prior=self.prior.text().strip(),
            decoder=self.decoder.text().strip(),
            offline=self.offline.isChecked(),
            compile=self.compile.isChecked(),
            name_pattern=self.name_pattern.text().strip(),
            models_dir=self.models_dir.text().strip(),
            server_url=self.server_url.text().strip(),
        )
        return Settings.from_mapping(data)[0]
