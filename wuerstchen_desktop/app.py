"""Start-up of the desktop app: logging, crash handler, the window first, then the engine."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import logging.handlers
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from wuerstchen_desktop import __version__
from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.choices import DEVICES, DTYPES
from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO
from wuerstchen_desktop.runtime import app_icon, ensure_std_streams

if TYPE_CHECKING:
    from wuerstchen_desktop.ui.crash_dialog import CrashReporter

log = logging.getLogger("wuerstchen_desktop")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=appdirs.PROGRAM, description=appdirs.DISPLAY_NAME)
    # Given options apply to this session only; the saved settings stay as they are.
    p.add_argument("--prior", default=None, metavar="REPO_OR_DIR", help=f"default {DEFAULT_PRIOR_REPO}")
    p.add_argument("--decoder", default=None, metavar="REPO_OR_DIR", help=f"default {DEFAULT_DECODER_REPO}")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder")
    p.add_argument("--device", default=None, choices=DEVICES)
    p.add_argument("--dtype", default=None, choices=DTYPES)
    p.add_argument("--offline", action="store_true", default=None)
    p.add_argument("--verbose", action="store_true")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="open the window, make one image with tiny test weights, print a JSON line and exit",
    )
    return p.parse_args(list(argv))


def setup_logging(verbose: bool) -> Path:
    """A rotating log file in the platform's log folder; warnings also to stderr when there is one."""
    path = appdirs.log_file(ensure_exists=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.addHandler(handler)
    if sys.stderr is not None:  # a windowed bundle has no console
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.INFO if verbose else logging.WARNING)
        root.addHandler(console)
    return path


_fault_files: list[TextIO] = []  # open until the process ends, whenever that is


def keep_fault_log(folder: Path) -> None:
    """A hard crash (a segmentation fault in Qt or torch) leaves every thread's Python stack in
    ``faults.log`` beside the log, instead of nothing."""
    faults = open(folder / "faults.log", "a", encoding="utf-8")  # noqa: SIM115
    faulthandler.enable(faults)
    _fault_files.append(faults)


def crash_key(kind: type[BaseException], tb: TracebackType | None) -> str:
    """The same error at the same place gives the same key: it is shown once, however often it happens."""
    frames = traceback.extract_tb(tb)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return f"{kind.__qualname__} at {where}"


def install_crash_handler(log_file: Path) -> CrashReporter:
    """Log every uncaught exception (in the main thread, a worker thread, or a Qt slot or event handler,
    which PySide6 hands to ``sys.excepthook``) with its traceback, and tell the user in a dialog."""
    from wuerstchen_desktop.ui.crash_dialog import CrashReporter

    reporter = CrashReporter(log_file)
    logged: set[str] = set()

    def handle(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        key = crash_key(kind, tb)
        if key in logged:  # a slot failing on every tick: one traceback in the log is enough
            log.error("uncaught exception again: %s: %s", key, exc)
        else:
            logged.add(key)
            log.critical("uncaught exception", exc_info=(kind, exc, tb))
        details = "".join(traceback.format_exception(kind, exc, tb))
        reporter.report(key, f"{kind.__name__}: {exc}" if str(exc) else kind.__name__, details)

    def handle_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        sys.excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = handle
    threading.excepthook = handle_thread
    return reporter


def main(argv: Sequence[str]) -> int:
    ensure_std_streams()
    args = parse_args(argv)
    log_file = setup_logging(args.verbose)
    keep_fault_log(log_file.parent)
    install_crash_handler(log_file)
    log.info("Würstchen Desktop %s starting", __version__)
    if args.self_test:
        from wuerstchen_desktop.selftest import run as self_test

        return self_test(args, log_file)

    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from wuerstchen_desktop.ui.main_window import MainWindow
    from wuerstchen_desktop.ui.settings_dialog import SettingsStore
    from wuerstchen_desktop.ui.theme import apply_theme
    from wuerstchen_desktop.worker.run_on import RunOn

    existing = QApplication.instance()
    app = (
        existing
        if isinstance(existing, QApplication)
        else QApplication([sys.argv[0] if sys.argv else appdirs.APP_NAME])
    )
    app.setApplicationName(appdirs.APP_NAME)
    app.setApplicationDisplayName(appdirs.DISPLAY_NAME)
    app.setOrganizationName(appdirs.APP_NAME)  # with the name above, where QSettings keeps the settings
    app.setApplicationVersion(__version__)
    # Wayland docks find the icon through the .desktop entry of this name (resources/, installed by the
    # Linux bundle's install-desktop-entry.sh).
    app.setDesktopFileName(appdirs.PROGRAM)
    app.setWindowIcon(QIcon(str(app_icon())))  # a missing file gives an empty icon, never an error

    store = SettingsStore()
    # Options apply to this session only; what the user changes in the window is saved all the same.
    settings = store.session(
        {
            "prior": args.prior,
            "decoder": args.decoder,
            "output_dir": args.out,
            "device": args.device,
            "dtype": args.dtype,
            "offline": args.offline,
        }
    )
    apply_theme(app, settings.theme)

    service = RunOn(settings)  # this computer's engine, or a server's (Settings → Run on)
    window = MainWindow(service, settings, store, log_file, place=store.qsettings)
    service.engine_failed.connect(window.engine_label.setText)
    window.show()
    # The engine (torch, transformers, the weights) loads once the window is on screen.
    QTimer.singleShot(0, window.start_engine)
    code = int(app.exec())
    if existing is None:
        leave(code)
    return code


def leave(code: int) -> None:
    """End the process now that the window is gone and has saved and closed what it holds (the settings, the
    history index; every image is written whole or not at all).

    Python's own teardown of torch and Qt takes one to three seconds after the window is gone, and
    PySide's exit handler destroys Qt objects under a thread still loading models: it is skipped."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, *_fault_files):
        if stream is not None:
            stream.flush()
    os._exit(code)
