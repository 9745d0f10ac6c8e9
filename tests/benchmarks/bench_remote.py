"""What running on a server costs the window on loopback: the same small job through ``RemoteService`` to
``serve`` in another process, and through the local ``GenerationService``, from Generate to the file saved
and reported; and the longest GUI-thread stall while a remote job streams its previews. Not a test; prints
figures (medians of the runs after one warm-up job each, so neither side pays for loading the models).

    python tests/benchmarks/bench_remote.py [--runs 7] [--size 256] [--images 1]

The difference is the remote path's overhead: the HTTP calls, the event stream, moving the PNGs (base64
in JSON) and saving them here. The tiny checkpoints make the compute small and equal on both sides.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--images", type=int, default=1)
    args = p.parse_args()

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from tests.helpers.serve_process import ServeProcess
    from wuerstchen_desktop.core.jobs.job import EngineConfig, Job
    from wuerstchen_desktop.core.params import GenerationParams
    from wuerstchen_desktop.testing import checkpoints
    from wuerstchen_desktop.worker.generation import GenerationService
    from wuerstchen_desktop.worker.remote import RemoteService

    app = QApplication(sys.argv[:1])
    root = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    prior = checkpoints.write_prior_repo(root / "prior")
    decoder = checkpoints.write_decoder_repo(root / "decoder")
    server = ServeProcess(prior, decoder, root / "server-out")
    stalls: list[float] = []

    def run(service: GenerationService, seed: int) -> float:
        params = GenerationParams(
            "a bench", width=args.size, height=args.size, seed=seed, images=args.images,
            prior_steps=4, decoder_steps=2,
        )  # fmt: skip
        loop = QEventLoop()
        service.job_finished.connect(loop.quit)
        service.job_failed.connect(lambda e: (print(e.message), loop.quit()))
        last = [time.perf_counter()]
        tick = QTimer(interval=5)

        def ticked() -> None:
            now = time.perf_counter()
            stalls.append(now - last[0])
            last[0] = now

        tick.timeout.connect(ticked)
        tick.start()
        started = time.perf_counter()
        service.submit(Job(params, root / "out"))
        loop.exec()
        tick.stop()
        service.job_finished.disconnect(loop.quit)
        return time.perf_counter() - started

    try:
        local = GenerationService(EngineConfig(str(prior), str(decoder), "cpu", "float32"))
        remote = RemoteService(server.url, "")
        figures = {}
        for name, service in (("local", local), ("remote", remote)):
            run(service, 0)  # loads the models
            stalls.clear()
            figures[name] = [run(service, seed) for seed in range(1, args.runs + 1)]
            figures[name + " stall"] = [max(stalls)]
        for name, values in figures.items():
            print(f"{name:>13}: median {statistics.median(values) * 1000:7.1f} ms  ({len(values)} runs)")
        overhead = statistics.median(figures["remote"]) - statistics.median(figures["local"])
        print(f"     overhead: {overhead * 1000:7.1f} ms a job ({args.images} image(s), {args.size} px)")
        local.shutdown()
        remote.shutdown()
    finally:
        server.kill()
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
