"""Where the window's jobs run, switched in Settings → Run on without a restart: this computer's engine
(``GenerationService``) or a server (``RemoteService``). The window holds this one service; the jobs already
given to one side finish there, the next ones go where the settings now say."""

from __future__ import annotations

import functools
from typing import Any

from PySide6.QtCore import QObject

from wuerstchen_desktop.core.jobs.estimate import JobProgress
from wuerstchen_desktop.core.jobs.job import EngineConfig, Job
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.worker.generation import GenerationService
from wuerstchen_desktop.worker.remote import RemoteService
from wuerstchen_desktop.worker.remote_jobs import load_token

_JOBS = ("job_started", "progress", "job_progress", "job_finished", "job_failed", "job_cancelled", "preview")
_ENGINE = ("engine_status", "engine_ready", "engine_failed")  # said by the side in use only


class RunOn(GenerationService):
    """Both sides behind the one interface the window knows (``GenerationService``'s)."""

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        QObject.__init__(self, parent)  # the two sides below do the work
        self.local = GenerationService(EngineConfig.from_settings(settings), self)
        self.remote: RemoteService | None = None
        self.active: GenerationService = self.local
        self._wire(self.local)
        self.use(settings)

    def _wire(self, side: GenerationService) -> None:
        for name in (*_JOBS, "warmed"):
            if hasattr(side, name) and hasattr(self, name):  # "warmed": the local engine's, where it has one
                getattr(side, name).connect(getattr(self, name))
        for name in _ENGINE:
            getattr(side, name).connect(functools.partial(self._engine, side, name))
        side.queue_changed.connect(lambda _n: self.queue_changed.emit(self.pending))

    def _engine(self, side: GenerationService, name: str, *args: Any) -> None:
        if side is self.active:
            getattr(self, name).emit(*args)

    @property
    def on_server(self) -> bool:
        return self.active is self.remote

    def use(self, settings: Settings) -> bool:
        """Run the next jobs where ``settings`` say; True when that is another side than before."""
        before = self.active
        if settings.run_on == "server" and settings.server_url:
            if self.remote is None:
                self.remote = RemoteService(settings.server_url, load_token(), self)
                self._wire(self.remote)
            elif self.active is self.remote:
                self.remote.use(settings)
            else:
                self.remote.connect_to(settings.server_url, load_token())
            self.active = self.remote
        else:
            self.active = self.local
        return self.active is not before

    def _sides(self) -> list[GenerationService]:
        return [self.local] + ([self.remote] if self.remote is not None else [])

    # -- the queue: both sides' jobs, the running ones first ------------------------------------------------
    @property
    def busy(self) -> bool:
        return any(side.busy for side in self._sides())

    @property
    def pending(self) -> int:
        return sum(side.pending for side in self._sides())

    @property
    def running(self) -> Job | None:
        return next((side.running for side in self._sides() if side.running is not None), None)

    @property
    def last_progress(self) -> JobProgress | None:
        side = next((s for s in self._sides() if s.running is not None), None)
        return side.last_progress if side is not None else None

    @last_progress.setter
    def last_progress(self, _value: JobProgress | None) -> None:
        """Each side keeps its own."""

    def jobs(self) -> list[Job]:
        jobs = [job for side in self._sides() for job in side.jobs()]
        running = self.running
        return sorted(jobs, key=lambda job: job is not running)  # stable: the rest keep their order

    def remove(self, job_id: int) -> bool:
        return any(side.remove(job_id) for side in self._sides())

    def move(self, job_id: int, index: int) -> bool:
        return any(side.move(job_id, index) for side in self._sides())

    def waiting_seconds(self) -> float:
        return self.active.waiting_seconds()

    # -- the rest goes to the side in use (jobs), or to both (cancel, shutdown) --------------------------
    def submit(self, job: Job) -> int:
        return self.active.submit(job)

    def warm_up(self, likely: GenerationParams | None = None) -> None:
        """Load (and warm up at ``likely``'s size, the prompt panel's) the side in use."""
        self.active.warm_up(likely)

    def reconfigure(self, config: EngineConfig) -> None:
        self.local.reconfigure(config)

    def refresh_previewer(self) -> None:
        self.local.refresh_previewer()

    def cancel_current(self) -> None:
        for side in self._sides():
            side.cancel_current()

    def cancel_all(self) -> None:
        for side in self._sides():
            side.cancel_all()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        return all([side.shutdown(timeout_ms) for side in self._sides()])
