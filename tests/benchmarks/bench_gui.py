"""Measure what an artist feels: cold start to a usable window, and the longest GUI-thread stall while a
job runs on the worker thread. Not a test; prints figures.

    python tests/benchmarks/bench_gui.py [--runs 5] [--steps 60]

Cold start is measured from launching a fresh interpreter to the window being shown with its event loop
running (``wuerstchen-desktop`` start-up path: logging, QApplication, window; the engine loads after).
The stall is the largest gap between ticks of a 5 ms timer on the GUI thread during a generation on tiny
checkpoints (the real worker thread and pipeline; larger models stall the GUI no more, since the GUI
thread only receives throttled progress signals and live previews, of which it draws the newest once per
pass of its event loop; tiny models send them far faster than real ones).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time
from PySide6.QtCore import QTimer
from wuerstchen_desktop import app
from PySide6.QtWidgets import QApplication
real_exec = QApplication.exec
def exec_and_report(self=None):
    QTimer.singleShot(0, lambda: (print("READY", flush=True), QApplication.instance().quit()))
    return real_exec()
QApplication.exec = exec_and_report
sys.exit(app.main(sys.argv[1:]))
"""


def cold_start(runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, "--prior", "/nonexistent", "--decoder", "/nonexistent"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("READY"):
                times.append(time.perf_counter() - t0)
                break
        proc.wait(timeout=60)
    return times


def stall(steps: int) -> tuple[float, int]:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from wuerstchen_desktop.core.jobs.job import EngineConfig
    from wuerstchen_desktop.core.params import GenerationParams
    from wuerstchen_desktop.core.settings import Settings
    from wuerstchen_desktop.testing import checkpoints
    from wuerstchen_desktop.ui.main_window import MainWindow
    from wuerstchen_desktop.worker.generation import GenerationService

    app = QApplication.instance() or QApplication([])
    root = Path(tempfile.mkdtemp(prefix="wuerstchen-bench-"))
    prior, decoder = checkpoints.write_prior_repo(root / "p"), checkpoints.write_decoder_repo(root / "d")
    service = GenerationService(EngineConfig(str(prior), str(decoder), "cpu", "float32"))
    settings = Settings(device="cpu", dtype="float32", output_dir=root / "out")
    window = MainWindow(service, settings, index_path=root / "index.sqlite3")
    window.show()
    window.panel.set_params(
        GenerationParams(
            "a cat", width=1024, height=1024, seed=1, prior_steps=steps, decoder_steps=steps // 4, images=2
        )
    )
    clock = QElapsedTimer()
    gaps: list[int] = []
    ticker = QTimer()
    ticker.setInterval(5)

    def tick() -> None:
        if clock.isValid():
            gaps.append(clock.restart())
        else:
            clock.start()

    ticker.timeout.connect(tick)
    service.job_started.connect(lambda _id: ticker.start())
    service.job_finished.connect(lambda _r: (ticker.stop(), app.quit()))
    window.generate()
    app.exec()
    service.shutdown()
    return max(gaps), len(gaps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    times = cold_start(args.runs, env)
    print(
        f"cold start to a usable window: median {statistics.median(times):.2f} s, "
        f"best {min(times):.2f} s, worst {max(times):.2f} s over {len(times)} runs (target < 2 s)"
    )
    worst, ticks = stall(args.steps)
    print(f"longest GUI-thread stall during a job: {worst} ms over {ticks} timer ticks (target < 50 ms)")


if __name__ == "__main__":
    main()
