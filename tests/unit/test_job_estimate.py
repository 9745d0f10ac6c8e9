"""One job's progress: its stages weighted by what their steps cost, never going back, ending at 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from wuerstchen_desktop.core.jobs.estimate import (
    SEED_SECONDS,
    JobTracker,
    StageCosts,
    planned_steps,
    work_units,
)
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.params import GenerationParams


def job(kind: JobKind = JobKind.GENERATE, **params) -> Job:
    p = GenerationParams("a cat", width=512, height=512, **params)
    return Job(p, Path("out"), kind=kind)


def test_each_kind_plans_its_own_stages() -> None:
    p = GenerationParams("a cat", prior_steps=10, decoder_steps=6)
    assert planned_steps(JobKind.GENERATE, p) == {"prior": 10, "decoder": 6, "vqgan": 1}
    assert planned_steps(JobKind.COMPOSE, p) == {"prior": 10}
    assert planned_steps(JobKind.DECODE, None) == {"decoder": 12, "vqgan": 1}
    assert planned_steps(JobKind.GENERATE, GenerationParams("a cat")) == {
        "prior": 29,
        "decoder": 12,
        "vqgan": 1,
    }
    assert work_units(GenerationParams("a cat", width=1024, height=1024, images=2)) == 8.0


def test_the_stages_are_weighted_by_the_seed_costs_until_timed() -> None:
    tracker = JobTracker(job(prior_steps=10, decoder_steps=10), StageCosts(), started=0.0)
    # All of Stage C done: its share of the whole is its cost, not a third and not 10 of 21 steps.
    p = tracker.step("prior", 10, 10, now=0.0)
    whole = 10 * SEED_SECONDS["prior"] + 10 * SEED_SECONDS["decoder"] + SEED_SECONDS["vqgan"]
    assert p.fraction == pytest.approx(10 * SEED_SECONDS["prior"] / whole)
    assert p.seconds_left == -1  # nothing timed on this machine yet: no time is made up


def test_timed_steps_replace_the_guess_and_give_the_time_left() -> None:
    costs = StageCosts()
    tracker = JobTracker(job(prior_steps=4, decoder_steps=2), costs, started=0.0)
    tracker.step("prior", 1, 4, now=5.0)  # the first step also encodes the prompt: not timed
    p = tracker.step("prior", 2, 4, now=6.0)
    assert costs.measured == {"prior": 1.0}
    # Stage B not timed yet: the guess scaled as Stage C was (1.0 s against 2.14 s).
    scale = 1.0 / SEED_SECONDS["prior"]
    left = 2 * 1.0 + 2 * SEED_SECONDS["decoder"] * scale + SEED_SECONDS["vqgan"] * scale
    assert p.seconds_left == pytest.approx(left)
    assert p.costs.measured == {"prior": 1.0} and p.costs is not costs  # a copy travels with the report


def test_progress_never_goes_back_and_ends_at_one() -> None:
    costs = StageCosts({"prior": 1.0})
    tracker = JobTracker(job(prior_steps=3, decoder_steps=3), costs, started=0.0)
    seen = []
    now = 0.0
    events = [("prior", s, 3) for s in (1, 2, 3)]
    events += [("prior", s, 3) for s in (1, 2, 3)]  # a stage run again (float16 overflow redone)
    events += [("decoder", s, 3) for s in (1, 2, 3)] + [("vqgan", 1, 1)]
    for stage, step, total in events:
        now += 0.5 if stage == "prior" else 9.0  # Stage B is far slower here than the guess says
        seen.append(tracker.step(stage, step, total, now).fraction)
    assert seen == sorted(seen) and seen[-1] == 1.0 and all(f < 1.0 for f in seen[:-1])
    assert costs.measured["decoder"] > costs.measured["prior"]


def test_the_queue_estimate_sums_its_jobs() -> None:
    costs = StageCosts({"prior": 1.0, "decoder": 2.0, "vqgan": 3.0})
    big = job(prior_steps=10, decoder_steps=5, images=2)
    assert costs.job_seconds(big) == pytest.approx(2 * (10 * 1.0 + 5 * 2.0 + 3.0))
    assert costs.job_seconds(job(JobKind.COMPOSE, prior_steps=10)) == pytest.approx(10.0)


def test_the_time_outside_the_steps_counts_in_the_time_left() -> None:
    costs = StageCosts({"prior": 1.0, "decoder": 1.0, "vqgan": 1.0})
    first = JobTracker(job(prior_steps=2, decoder_steps=1), costs, started=0.0)
    for now, (stage, step, total) in enumerate(
        [("prior", 1, 2), ("prior", 2, 2), ("decoder", 1, 1)], start=3
    ):
        first.step(stage, step, total, now=float(now))
    first.step("vqgan", 1, 1, now=6.0)
    first.finish(now=10.0)  # 4 s saving the image, 2 s encoding the prompt before the first step
    assert costs.measured["save"] == pytest.approx(4.0) and costs.measured["start"] == pytest.approx(2.0)
    second = JobTracker(job(prior_steps=2, decoder_steps=1), costs, started=20.0)
    p = second.step("prior", 1, 2, now=23.0)
    assert p.seconds_left == pytest.approx(3 * 1.0 + 4.0)  # a prior step, the decoder, Stage A, saving
    assert costs.job_seconds(job(prior_steps=2, decoder_steps=1)) == pytest.approx(4 * 1.0 + 4.0 + 2.0)
