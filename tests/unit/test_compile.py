"""The opt-in torch.compile setting: every model goes through ``nn.Module.compile`` and the images stay
the same. Inductor's code generation takes over a minute even for the tiny test models, so this test
traces with TorchDynamo and runs through AOTAutograd's ``aot_eager`` backend: the same graph capture the
real backend starts from, without generating C++. ``bench_pipeline.py --runs compiled`` times inductor."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters

from wuerstchen_desktop.core.engine.pipeline import Pipeline
from wuerstchen_desktop.core.params import GenerationParams

SMALL = GenerationParams("a cat", width=256, height=256, seed=4, prior_steps=3, decoder_steps=2)


def test_compiled_models_make_the_same_images(pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    original = nn.Module.compile

    def aot_eager(self: nn.Module, *args: object, **kwargs: object) -> None:
        compiled.append(type(self).__name__)
        original(self, backend="aot_eager")

    monkeypatch.setattr(nn.Module, "compile", aot_eager)
    torch._dynamo.reset()
    counters.clear()
    pipe = Pipeline(pipeline.prior_source, pipeline.decoder_source, compile=True)
    first = pipe.generate(SMALL)
    assert sorted(compiled) == ["StageA", "StageB", "StageC"]
    # Traced graphs really ran: the models now hold compiled forward calls.
    assert all(
        getattr(pipe._slots[s].get(), "_compiled_call_impl", None) for s in ("prior", "decoder", "vqgan")
    )
    reference = pipeline.generate(SMALL)
    assert torch.allclose(first.pixels, reference.pixels, atol=1e-5)
    # A second job with another seed reuses the graphs and is still right.
    assert torch.allclose(
        pipe.generate(SMALL.replace(seed=5)).pixels,
        pipeline.generate(SMALL.replace(seed=5)).pixels,
        atol=1e-5,
    )
    torch._dynamo.reset()
