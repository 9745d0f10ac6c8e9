"""The app's own start and close, in a process of its own: options given on the command line hold for the
session only, while what the user changes in the window is saved; the process ends once the window closes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PySide6.QtCore import QSettings

from wuerstchen_desktop.ui.settings_dialog import SettingsStore

CHILD = textwrap.dedent(
    """
    import dataclasses, sys
    from PySide6.QtCore import QSettings, QTimer
    from wuerstchen_desktop import app
    from wuerstchen_desktop.ui.main_window import MainWindow

    shown = MainWindow.show

    def show(window):
        shown(window)
        print("SETTINGS", QSettings().fileName(), flush=True)

        def change():  # as the Settings dialog's OK does
            window.apply_settings(dataclasses.replace(window.settings, theme="dark", image_format="webp"))
            window.close()

        QTimer.singleShot(0, change)

    MainWindow.show = show
    sys.exit(app.main(sys.argv[1:]))
    """
)


def test_settings_changed_in_a_session_started_with_options_are_saved(
    tmp_path: Path, prior_dir: Path, decoder_dir: Path
) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
    }
    flag_out = tmp_path / "for-this-session"
    argv = ["--out", str(flag_out), "--prior", str(prior_dir), "--decoder", str(decoder_dir), "--offline"]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("SETTINGS ")]
    saved, warnings = SettingsStore(QSettings(line.split(" ", 1)[1], QSettings.Format.IniFormat)).load()
    assert warnings == []
    assert (saved.theme, saved.image_format) == ("dark", "webp")  # the user's changes
    # The options' values were for that session: none of them was saved.
    assert saved.output_dir != flag_out and not saved.offline
    assert str(prior_dir) != saved.prior and str(decoder_dir) != saved.decoder
