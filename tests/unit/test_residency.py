"""Memory modes, the prompt cache, the tiled VQGAN decode, and the safety nets (NaN, out of memory,
cancellation), on the tiny checkpoints. Failures are injected by wrapping a model's forward."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
import torch

from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
from wuerstchen_desktop.core.engine.pipeline import Pipeline
from wuerstchen_desktop.core.engine.residency import Slot
from wuerstchen_desktop.core.errors import Cancelled, OutOfMemory
from wuerstchen_desktop.core.models import StageA, StageB, StageC
from wuerstchen_desktop.core.models.config import TINY_STAGE_A
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.testing.checkpoints import randomize

SMALL = GenerationParams("a cat", width=256, height=256, seed=3, prior_steps=3, decoder_steps=2)


def make(prior_dir: Path, decoder_dir: Path, **kw) -> Pipeline:
    return Pipeline(prior_source(str(prior_dir)), decoder_source(str(decoder_dir)), **kw)


@pytest.fixture(scope="module")
def high_pixels(prior_dir: Path, decoder_dir: Path) -> torch.Tensor:
    return make(prior_dir, decoder_dir).generate(SMALL).pixels


@pytest.mark.parametrize("mode", ["balanced", "low"])
def test_every_memory_mode_makes_the_high_mode_image(prior_dir, decoder_dir, high_pixels, mode: str) -> None:
    # A 16-latent tile splits the 64x64 latent into 16 tiles in low mode.
    pipe = make(prior_dir, decoder_dir, memory=mode, vqgan_tile=16)
    pixels = pipe.generate(SMALL).pixels
    assert (pixels - high_pixels).abs().max() < 1e-3
    assert pipe.loaded() == ([] if mode == "low" else pipe.loaded())
    if mode == "low":
        pipe.generate(SMALL.replace(seed=4))
        assert pipe._slots["decoder"].loads == 2  # read from disk for each job


def test_high_mode_keeps_models_between_jobs(prior_dir, decoder_dir) -> None:
    pipe = make(prior_dir, decoder_dir)
    pipe.generate(SMALL)
    pipe.generate(SMALL.replace(seed=9))
    assert len(pipe.loaded()) == 5
    assert all(slot.loads == 1 for slot in pipe._all_slots())


def test_tiled_decode_equals_the_whole_decode() -> None:
    vqgan = StageA.from_config(TINY_STAGE_A).eval()
    randomize(vqgan, 7)
    latent = torch.randn(2, 4, 40, 56, generator=torch.Generator().manual_seed(0))
    calls = []
    decode = vqgan.decode
    vqgan.decode = lambda z: calls.append(z.shape) or decode(z)  # type: ignore[method-assign]
    with torch.inference_mode():
        whole = decode(latent)
        tiled = vqgan.decode_tiled(latent, tile=16)
    assert len(calls) == 2 * 3 * 4  # per image, 3 x 4 tiles
    assert max(s[-1] for s in calls) < 56
    assert (tiled - whole).abs().max() < 1e-3
    assert whole.abs().mean() > 0.1


def test_prompt_cache_skips_the_text_encoders(prior_dir, decoder_dir, monkeypatch) -> None:
    from transformers import CLIPTextModel

    calls: list[int] = []
    forward = CLIPTextModel.forward
    monkeypatch.setattr(
        CLIPTextModel, "forward", lambda self, *a, **k: calls.append(1) or forward(self, *a, **k)
    )
    pipe = make(prior_dir, decoder_dir, memory="low")
    first = pipe.generate(SMALL)
    n = len(calls)
    assert n >= 2  # the prior's and the decoder's encoder
    again = pipe.generate(SMALL.replace(seed=8))
    assert len(calls) == n
    assert pipe.prior_text.slot.loads == 1 and pipe.decoder_text.slot.loads == 1  # not read from disk again
    assert not torch.equal(first.pixels, again.pixels)
    pipe.generate(SMALL.replace(prompt="a dog"))
    assert len(calls) > n


def test_nan_in_float16_redoes_the_stage_with_the_same_noise(prior_dir, decoder_dir, monkeypatch) -> None:
    forward = StageC.forward

    def overflow_in_fp16(self, x, *a, **k):
        out = forward(self, x, *a, **k)
        return out * float("nan") if x.dtype == torch.float16 else out

    monkeypatch.setattr(StageC, "forward", overflow_in_fp16)
    pipe = make(prior_dir, decoder_dir, dtype=torch.float16, fallback_dtype=torch.float32)
    result = pipe.generate(SMALL)
    assert torch.isfinite(result.pixels).all()
    assert any("overflowed in float16" in w for w in result.warnings)
    assert pipe.stage_dtypes == {"prior": torch.float32}
    # As if the prior had run in float32 from the start: the redo drew the same noise.
    direct = make(prior_dir, decoder_dir, dtype=torch.float16)
    direct.stage_dtypes["prior"] = torch.float32
    assert torch.equal(direct.generate(SMALL).pixels, result.pixels)
    assert pipe.generate(SMALL).warnings == []  # the choice is remembered


def test_out_of_memory_steps_down_and_retries_once(prior_dir, decoder_dir, high_pixels, monkeypatch) -> None:
    forward = StageB.forward
    failures = [1]

    def oom_once(self, *a, **k):
        if failures:
            failures.pop()
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return forward(self, *a, **k)

    monkeypatch.setattr(StageB, "forward", oom_once)
    pipe = make(prior_dir, decoder_dir, memory="high")
    result = pipe.generate(SMALL)
    assert pipe.memory == "balanced"
    assert any("switched to balanced" in w for w in result.warnings)
    assert torch.equal(result.pixels, high_pixels)

    failures.extend([1, 1])
    with pytest.raises(OutOfMemory, match="Not enough memory"):
        pipe.generate(SMALL)
    assert pipe.memory == "low"


@pytest.fixture
def model_refs(monkeypatch) -> list[weakref.ref]:
    """Weak references to every model a pipeline hands out."""
    refs: list[weakref.ref] = []
    get = Slot.get

    def recording(self):
        model = get(self)
        refs.append(weakref.ref(model))
        return model

    monkeypatch.setattr(Slot, "get", recording)
    return refs


def test_cancelled_low_mode_job_leaves_no_model_behind(prior_dir, decoder_dir, model_refs) -> None:
    pipe = make(prior_dir, decoder_dir, memory="low")
    seen: list[str] = []
    with pytest.raises(Cancelled) as caught:
        pipe.generate(SMALL, on_step=lambda e: seen.append(e.stage), cancel=lambda: "decoder" in seen)
    gc.collect()
    assert caught.value is not None and "decoder" in seen
    assert len(model_refs) >= 4  # both text encoders, the prior and the decoder were loaded
    assert [r() for r in model_refs] == [None] * len(model_refs)
    assert pipe.loaded() == []


def test_failed_low_mode_job_leaves_no_model_behind(prior_dir, decoder_dir, model_refs, monkeypatch) -> None:
    def broken(self, *a, **k):
        raise ValueError("broken decoder (injected)")

    monkeypatch.setattr(StageB, "forward", broken)
    pipe = make(prior_dir, decoder_dir, memory="low")
    with pytest.raises(ValueError, match="injected") as caught:
        pipe.generate(SMALL)
    gc.collect()
    # The exception, still held with its traceback, keeps no model alive.
    assert caught.traceback is not None and len(model_refs) >= 4
    assert [r() for r in model_refs] == [None] * len(model_refs)
