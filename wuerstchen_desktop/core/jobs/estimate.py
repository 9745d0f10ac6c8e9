"""How far a job is and how long it and the queue have left: Stage C, Stage B and Stage A weighted by what
a step of each costs on this machine (plain data and arithmetic: no torch, no Qt).

Until this machine has timed a stage, the stages are weighted by the README's CPU benchmark (2.14 s a Stage C
step, 2.34 s a Stage B step and 4.0 s for Stage A at 512x512); each step timed replaces the guess for its
stage, and a stage not timed yet is scaled by how much faster or slower the timed ones were than the guess.
What a job spends outside the steps (encoding the prompt before the first one, saving the images after the
last one) is timed too, per image, and counted in the time left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.params import GenerationParams

STAGES = ("prior", "decoder", "vqgan")
SEED_SECONDS = {"prior": 2.14, "decoder": 2.34, "vqgan": 4.0}  # per step, one 512x512 image
OFFICIAL_PRIOR_CALLS = 29
UNIT_PIXELS = 512 * 512
SMOOTHING = 0.5  # weight of the newest timing against what was measured before
START, SAVE = "start", "save"  # a job's time before its first step and after its last, per 512x512 image


def planned_steps(kind: JobKind, params: GenerationParams | None) -> dict[str, int]:
    """The stages a job of ``kind`` runs, in order, with their step counts (the defaults when the
    parameters come from a source file read later: the steps reported correct them)."""
    prior = OFFICIAL_PRIOR_CALLS
    decoder = 12
    if params is not None:
        prior = params.prior_steps or OFFICIAL_PRIOR_CALLS
        decoder = params.decoder_steps
    if kind is JobKind.COMPOSE:
        return {"prior": prior}
    if kind in (JobKind.DECODE, JobKind.BLEND, JobKind.UPSCALE):
        return {"decoder": decoder, "vqgan": 1}
    return {"prior": prior, "decoder": decoder, "vqgan": 1}


def work_units(params: GenerationParams | None) -> float:
    """A job's size in 512x512 images (1 when its parameters come from a file)."""
    if params is None:
        return 1.0
    return params.images * params.width * params.height / UNIT_PIXELS


@dataclass
class StageCosts:
    """Seconds a step of each stage costs per 512x512 image, as measured here (empty: nothing timed yet)."""

    measured: dict[str, float] = field(default_factory=dict)

    def measure(self, stage: str, seconds_per_unit: float) -> None:
        old = self.measured.get(stage)
        new = seconds_per_unit if old is None else SMOOTHING * seconds_per_unit + (1 - SMOOTHING) * old
        self.measured[stage] = new

    @property
    def known(self) -> bool:
        return any(stage in self.measured for stage in SEED_SECONDS)

    def outside_steps(self, part: str) -> float:
        return self.measured.get(part, 0.0)

    def per_step(self, stage: str) -> float:
        if stage in self.measured:
            return self.measured[stage]
        seed = SEED_SECONDS.get(stage, SEED_SECONDS["decoder"])
        timed = [s for s in self.measured if s in SEED_SECONDS]
        if not timed:
            return seed
        scale = sum(self.measured[s] for s in timed) / sum(SEED_SECONDS[s] for s in timed)
        return seed * scale

    def job_seconds(self, job: Job) -> float:
        """The whole job's cost in seconds (a guess in the README's CPU's seconds until ``known``)."""
        units = work_units(job.params)
        steps = planned_steps(job.kind, job.params)
        outside = self.outside_steps(START) + self.outside_steps(SAVE)
        return sum(self.per_step(stage) * n * units for stage, n in steps.items()) + outside * units

    def copy(self) -> StageCosts:
        return StageCosts(dict(self.measured))


@dataclass(frozen=True)
class JobProgress:
    """One job's progress: ``fraction`` of the whole job (0 to 1, never going back), the step of the stage
    it is in, and the seconds left for the job and, once the service adds it, for the queue (-1: unknown)."""

    job_id: int
    stage: str
    step: int
    total: int
    fraction: float
    seconds_left: float
    queue_seconds_left: float = -1.0
    costs: StageCosts = field(default_factory=StageCosts, compare=False, repr=False)


class JobTracker:
    """Follows one running job's step events and turns them into ``JobProgress``; times each stage's
    steps into ``costs`` (shared between the jobs one worker runs)."""

    def __init__(self, job: Job, costs: StageCosts, started: float) -> None:
        self.job_id = job.id
        self.costs = costs
        self.units = work_units(job.params)
        self.plan = planned_steps(job.kind, job.params)
        self.done: dict[str, int] = {}
        self.fraction = 0.0
        self.started = started
        self._first: tuple[str, float] | None = None  # the first step's stage and time
        self._last: tuple[str, int, float] = ("", 0, started)

    def step(self, stage: str, step: int, total: int, now: float) -> JobProgress:
        last_stage, last_step, last_time = self._last
        if stage == last_stage and step > last_step > 0:
            # The first step of a denoising stage also encodes the prompt: only the later ones are timed.
            self.costs.measure(stage, (now - last_time) / (step - last_step) / self.units)
        elif stage == "vqgan" and last_stage:
            self.costs.measure(stage, (now - last_time) / self.units)
        self._last = (stage, step, now)
        if self._first is None:
            self._first = (stage, now)
        self.plan[stage] = total  # a stage not planned (a source file's recipe) joins at the end
        self.done[stage] = step
        spent, whole = self._costs(stage)
        self.fraction = max(self.fraction, min(1.0, spent / whole if whole > 0 else 1.0))
        if stage == list(self.plan)[-1] and step >= total:
            self.fraction = 1.0
        left = (
            max(0.0, whole - spent) + self.costs.outside_steps(SAVE) * self.units
            if self.costs.known
            else -1.0
        )
        return JobProgress(self.job_id, stage, step, total, self.fraction, left, costs=self.costs.copy())

    def finish(self, now: float) -> None:
        """The job is done: time what it spent outside its steps."""
        if self._first is None:
            return
        stage, first = self._first
        start = first - self.started - self.costs.per_step(stage) * self.units
        self.costs.measure(START, max(0.0, start) / self.units)
        self.costs.measure(SAVE, (now - self._last[2]) / self.units)

    def _costs(self, current: str) -> tuple[float, float]:
        """Seconds spent so far and seconds the whole job takes, at the costs known now."""
        spent = whole = 0.0
        reached = False
        for stage, n in self.plan.items():
            cost = self.costs.per_step(stage) * self.units
            whole += cost * n
            if stage == current:
                reached = True
                spent += cost * min(self.done.get(stage, 0), n)
            elif not reached:
                spent += cost * n
        return spent, whole
