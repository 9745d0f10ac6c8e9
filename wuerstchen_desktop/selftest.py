"""``wuerstchen-desktop --self-test``: proof that an installation or a bundle really works.

It opens the real window (offscreen where Linux has no display), writes tiny random-weight checkpoints to
a temporary folder, asks the window for one small image, which the generation worker makes on its own
thread and saves with its parameters, reads the parameters back from the file, and prints one JSON line.
Exit status 0 when everything worked, 1 with ``"ok": false`` and the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from wuerstchen_desktop import __version__
from wuerstchen_desktop.core.appdirs import APP_NAME
from wuerstchen_desktop.core.errors import SelfTestFailed
from wuerstchen_desktop.runtime import app_icon, is_frozen

log = logging.getLogger(__name__)

PROMPT = "a photo of a red horse"
SEED = 7
TIMEOUT_S = 600
SCAFFOLD = "scaffold"


def use_offscreen_without_display() -> None:
    """A Linux machine with neither X11 nor Wayland (CI, ssh) can still run the window offscreen."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _wait_for_job(service: Any, submit: Any) -> Any:
    """Run the event loop until the job ends; the JobResult, or ``SelfTestFailed`` saying why not."""
    from PySide6.QtCore import QEventLoop, QTimer

    outcome: dict[str, Any] = {}
    loop = QEventLoop()

    def finish(key: str, value: Any) -> None:
        outcome.setdefault(key, value)
        loop.quit()

    service.job_finished.connect(lambda result: finish("result", result))
    service.job_failed.connect(lambda error: finish("error", f"{error.message}\n{error.details}".strip()))
    service.job_cancelled.connect(lambda _job_id: finish("error", "the job was cancelled"))
    service.engine_failed.connect(lambda message: finish("error", f"the engine failed: {message}"))
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: finish("error", f"no result within {TIMEOUT_S} s"))
    timer.start(TIMEOUT_S * 1000)

    def crash(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        # The app's crash handler would open a modal dialog, which nobody closes in a headless run.
        log.critical("uncaught exception during the self-test", exc_info=(kind, exc, tb))
        finish("error", "".join(traceback.format_exception(kind, exc, tb)))

    sys.excepthook = crash
    submit()
    if not outcome:
        loop.exec()
    timer.stop()
    if "error" in outcome:
        raise SelfTestFailed(outcome["error"])
    return outcome["result"]


def _generate(work: Path, args: argparse.Namespace, log_file: Path | None) -> dict[str, Any]:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from wuerstchen_desktop.core.imagefile.read import read_parameters
    from wuerstchen_desktop.core.jobs.job import EngineConfig
    from wuerstchen_desktop.core.params import GenerationParams
    from wuerstchen_desktop.core.settings import Settings
    from wuerstchen_desktop.ui.main_window import MainWindow
    from wuerstchen_desktop.worker.generation import GenerationService

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0] or APP_NAME])
    app.setApplicationName(APP_NAME)
    icon = app_icon()
    if not icon.is_file():
        raise SelfTestFailed(f"the app icon is missing: {icon}")
    app.setWindowIcon(QIcon(str(icon)))

    from transformers.utils import logging as hf_logging

    from wuerstchen_desktop.testing import checkpoints

    hf_logging.disable_progress_bar()  # writing the tiny checkpoints is not worth a progress bar
    prior = checkpoints.write_prior_repo(work / SCAFFOLD / "wuerstchen-prior")
    decoder = checkpoints.write_decoder_repo(work / SCAFFOLD / "wuerstchen")
    settings = Settings(
        device=args.device or "cpu",
        dtype=args.dtype or "float32",
        output_dir=work / "images",
        prior=str(prior),
        decoder=str(decoder),
        offline=True,
    )
    service = GenerationService(EngineConfig.from_settings(settings))
    # No settings store and a history index of its own: the user's settings and history stay untouched.
    window = MainWindow(service, settings, None, log_file, index_path=work / SCAFFOLD / "history.sqlite3")
    window.show()
    wanted = GenerationParams(PROMPT, width=256, height=256, seed=SEED, prior_steps=2, decoder_steps=1)
    window.panel.set_params(wanted)
    try:
        result = _wait_for_job(service, window.generate)
        compose_report = _compose_and_decode(service, window)
    finally:
        window.close()
    if len(result.paths) != 1:
        raise SelfTestFailed(f"expected one image, the worker reported {len(result.paths)}")
    path = Path(result.paths[0])
    if not path.is_file():
        raise SelfTestFailed(f"the worker reported {path}, which does not exist")
    read = read_parameters(path)
    if read.record is None:
        raise SelfTestFailed(f"{path.name} carries A1111 text but not the app's own record")
    if read.record.params != wanted:
        raise SelfTestFailed(f"the parameters read back differ: {read.record.params} != {wanted}")
    return {
        **compose_report,
        "previewer": _previewer(work),
        "generation_seconds": round(result.seconds, 3),
        "image": str(path),
        "image_bytes": path.stat().st_size,
        "params": read.to_json_dict(),
        "qt_platform": app.platformName(),
    }


def _compose_and_decode(service: Any, window: Any) -> dict[str, Any]:
    """Compose two seeds, then decode the second from its file: the compose-first path end to end."""
    from types import SimpleNamespace

    from wuerstchen_desktop.core.imagefile.read import read_record

    window.panel.compose_count.setValue(2)
    composed = _wait_for_job(service, window.flow.compose)
    if len(composed.paths) != 2:
        raise SelfTestFailed(f"expected two compositions, the worker reported {len(composed.paths)}")
    second = read_record(Path(composed.paths[1]))
    if second.kind != "composition" or second.latent is None:
        raise SelfTestFailed(f"{composed.paths[1]} is not a composition with its latent")
    item = SimpleNamespace(path=Path(composed.paths[1]), seed=second.params.seed)
    decoded = _wait_for_job(service, lambda: window.flow.decode([item]))
    image = read_record(Path(decoded.paths[0]))
    if image.latent != second.latent or image.params.decoder_seed != second.params.seed:
        raise SelfTestFailed("the decoded composition does not record the composition it came from")
    return {"compose_seconds": round(composed.seconds, 3), "decode_seconds": round(decoded.seconds, 3)}


def _previewer(work: Path) -> str:
    """The live-preview model's path in this build: a tiny checkpoint in the published layout (weights beside
    training state) read with weights_only, converted, loaded and run."""
    import torch

    from wuerstchen_desktop.core.engine.live_preview import convert_previewer, load_previewer
    from wuerstchen_desktop.testing import checkpoints

    pt = checkpoints.write_previewer_pt(work / SCAFFOLD / "previewer.pt")
    converted = convert_previewer(pt, work / SCAFFOLD / "previewer.safetensors")
    out = load_previewer(converted)(torch.zeros(1, 16, 3, 3))
    if tuple(out.shape) != (1, 3, 12, 12):  # 4x
        raise SelfTestFailed(f"the previewer made {tuple(out.shape)} from a 3x3 latent")
    return "ok"


def run(args: argparse.Namespace, log_file: Path | None = None) -> int:
    """Run the self-test, print its JSON line, and return the exit status."""
    started = time.monotonic()
    use_offscreen_without_display()
    report: dict[str, Any] = {
        "ok": False,
        "version": __version__,
        "frozen": is_frozen(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    work = Path(tempfile.mkdtemp(prefix="wuerstchen-selftest-"))
    try:
        report.update(_generate(work, args, log_file))
        report["ok"] = True
    except SelfTestFailed as exc:
        report["reason"] = str(exc)
    except Exception as exc:
        log.exception("self-test failed")
        report["reason"] = f"{type(exc).__name__}: {exc}"
    finally:
        # The image stays for inspection; the checkpoints and the history index are only scaffolding.
        shutil.rmtree(work / SCAFFOLD, ignore_errors=True)
        if not report["ok"]:
            shutil.rmtree(work, ignore_errors=True)
    torch = sys.modules.get("torch")
    report["torch"] = getattr(torch, "__version__", None)
    report["log"] = str(log_file) if log_file else None
    report["seconds"] = round(time.monotonic() - started, 3)
    line = json.dumps(report, ensure_ascii=True, sort_keys=True)
    log.info("self-test: %s", line)
    print(line, flush=True)
    return 0 if report["ok"] else 1
