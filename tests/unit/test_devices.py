"""The device, precision and memory choice, from made-up hardware (fake_probe) and from this machine."""

from __future__ import annotations

import pytest
import torch

from wuerstchen_desktop.core.engine.devices import GIB, STAGE_PARAMS, Capabilities, choose, needs
from wuerstchen_desktop.core.errors import InvalidParams

BIG_RAM = 64 * GIB


def fake(**kw) -> Capabilities:
    return Capabilities(**{"ram_available": BIG_RAM, **kw})


def test_fake_probe_prefers_cuda_then_mps_then_cpu() -> None:
    both = fake(cuda=True, cuda_name="RTX", cuda_bf16=True, cuda_free=24 * GIB, mps=True)
    assert choose(probe=lambda: both).device.type == "cuda"
    assert choose(probe=lambda: fake(mps=True)).device.type == "mps"
    plain = choose(probe=lambda: fake())
    assert plain.device.type == "cpu" and any("no GPU" in r for r in plain.reasons)


def test_fake_probe_precision_per_hardware() -> None:
    ampere = fake(cuda=True, cuda_bf16=True, cuda_free=24 * GIB)
    turing = fake(cuda=True, cuda_bf16=False, cuda_free=24 * GIB)
    assert choose(probe=lambda: ampere).dtype == torch.bfloat16
    older = choose(probe=lambda: turing)
    assert older.dtype == torch.float16 and older.fallback_dtype == torch.float32
    assert choose(probe=lambda: fake(mps=True)).dtype == torch.float16
    avx = choose(probe=lambda: fake(cpu_bf16=True, cpu_features="AVX512-BF16"))
    assert avx.dtype == torch.bfloat16 and any("AVX512-BF16" in r for r in avx.reasons)
    assert choose(probe=lambda: fake()).dtype == torch.float32


def test_fake_probe_user_choice_wins_and_is_explained() -> None:
    c = choose("cpu", "float16", "low", probe=lambda: fake(cuda=True, cuda_bf16=True, cuda_free=80 * GIB))
    assert (c.device.type, c.dtype, c.memory) == ("cpu", torch.float16, "low")
    assert any("chosen by the user" in r for r in c.reasons)
    assert len(c.reasons) == 3


def test_fake_probe_small_checkpoints_stay_float32_on_a_bf16_cpu() -> None:
    tiny = {name: 1000 for name in STAGE_PARAMS}
    c = choose(probe=lambda: fake(cpu_bf16=True), params=tiny)
    assert c.dtype == torch.float32 and "too small" in c.reasons[1]


def test_fake_probe_memory_mode_from_free_memory() -> None:
    def on_gpu(free_gib: float, ram_gib: float = 64) -> str:
        caps = fake(
            cuda=True, cuda_bf16=True, cuda_free=int(free_gib * GIB), ram_available=int(ram_gib * GIB)
        )
        return choose(probe=lambda: caps).memory

    assert on_gpu(24) == "high"  # 6.2 GB of bf16 weights and activations fit
    assert on_gpu(6) == "balanced"  # the 2.1 GB decoder fits, the rest waits in RAM
    assert on_gpu(6, ram_gib=4) == "low"
    assert on_gpu(2) == "low"
    cpu = lambda ram: choose(probe=lambda: fake(cpu_bf16=True, ram_available=int(ram * GIB))).memory  # noqa: E731
    assert cpu(16) == "high"
    assert cpu(4) == "low"  # balanced brings nothing where the device is the RAM
    assert needs("high", torch.float32) > 12 * GIB > needs("high", torch.bfloat16)


def test_fake_probe_unavailable_or_unknown_choices_are_user_errors() -> None:
    with pytest.raises(InvalidParams, match="No CUDA GPU"):
        choose("cuda", probe=lambda: fake())
    with pytest.raises(InvalidParams, match="MPS"):
        choose("mps", probe=lambda: fake())
    with pytest.raises(InvalidParams, match="memory mode"):
        choose(memory="huge", probe=lambda: fake())
    with pytest.raises(InvalidParams, match="precision"):
        choose(dtype="int8", probe=lambda: fake())


def test_real_probe_describes_this_machine() -> None:
    c = choose()
    assert c.memory in ("high", "balanced", "low") and len(c.reasons) == 3
