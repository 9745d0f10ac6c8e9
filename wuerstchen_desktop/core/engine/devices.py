"""The one place that decides device, precision and memory mode from the user's choice and what is detected.

Detection happens only in ``probe()``, which returns plain data; ``choose()`` is a pure function of that
data and the user's choice, so every branch is testable with made-up hardware.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from wuerstchen_desktop.core import choices
from wuerstchen_desktop.core.errors import InvalidParams

DTYPES = {name: getattr(torch, name) for name in choices.without_auto(choices.DTYPES)}
GIB = 2**30

# Parameter counts of the published checkpoints (WUERSTCHEN.md).
STAGE_PARAMS = {
    "prior": 993_636_896,
    "decoder": 1_055_365_280,
    "vqgan": 18_406_894,
    "prior_text": 693_021_440,
    "decoder_text": 352_984_064,
}
# Activations of the largest step at 1024x1024 in float32, plus the runtime's own overhead.
ACTIVATION_BYTES_FP32 = int(2.5 * GIB)


@dataclass(frozen=True)
class Capabilities:
    """What the machine offers, as detected by ``probe()`` (or made up by a test)."""

    cuda: bool = False
    cuda_name: str = ""
    cuda_bf16: bool = False
    cuda_free: int = 0  # bytes of free VRAM on CUDA device 0
    mps: bool = False
    cpu_bf16: bool = False  # AVX512-BF16 or AMX: bf16 matmuls run several times faster than fp32
    cpu_features: str = ""
    ram_available: int = 0  # bytes; unified memory on Apple Silicon


def _ram_available() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if sys.platform == "win32":
        import ctypes

        class MemoryStatus(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong)] + [
                (n, ctypes.c_ulonglong)
                for n in ("total", "avail", "total_pf", "avail_pf", "total_v", "avail_v", "avail_ext")
            ]

        status = MemoryStatus()
        status.length = ctypes.sizeof(MemoryStatus)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return int(status.avail)
    try:  # macOS and other Unixes: total memory, of which a desktop typically has most to spare
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.7)
    except (ValueError, OSError, AttributeError):
        return 0


def probe() -> Capabilities:
    """Detect GPUs, their free memory, the CPU's bf16 support and the available RAM."""
    cuda = torch.cuda.is_available()
    name, bf16, free = "", False, 0
    if cuda:
        name = torch.cuda.get_device_name(0)
        bf16 = torch.cuda.is_bf16_supported()
        free = torch.cuda.mem_get_info(0)[0]
    backend = getattr(torch.backends, "mps", None)
    cpu_mod = getattr(torch, "cpu", None)
    avx512_bf16 = bool(cpu_mod and getattr(cpu_mod, "_is_avx512_bf16_supported", lambda: False)())
    amx = bool(cpu_mod and getattr(cpu_mod, "_is_amx_tile_supported", lambda: False)())
    features = ", ".join(n for n, on in (("AVX512-BF16", avx512_bf16), ("AMX", amx)) if on)
    return Capabilities(
        cuda=cuda,
        cuda_name=name,
        cuda_bf16=bf16,
        cuda_free=free,
        mps=bool(backend and backend.is_available()),
        cpu_bf16=avx512_bf16 or amx,
        cpu_features=features or torch.backends.cpu.get_cpu_capability(),
        ram_available=_ram_available(),
    )


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    dtype: torch.dtype
    reasons: list[str] = field(default_factory=list)
    memory: str = "high"
    fallback_dtype: torch.dtype = torch.float32  # what a stage that overflows in float16 is redone in

    def describe(self) -> str:
        return f"{self.device.type}, {dtype_name(self.dtype)}, {self.memory} memory"

    def summary(self) -> str:
        """The same for the window's status bar: "CPU · bfloat16 · high memory"."""
        names = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU"}
        device = names.get(self.device.type, self.device.type)
        return f"{device} · {dtype_name(self.dtype)} · {self.memory} memory"


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# Below this many parameters the matmuls are too small for AVX512-BF16/AMX to beat float32 on a CPU.
CPU_BF16_MIN_PARAMS = 100_000_000


def needs(memory: str, dtype: torch.dtype, params: dict[str, int] | None = None) -> int:
    """Bytes the compute device needs in a mode: every model (high) or the largest, plus activations."""
    counts = (params or STAGE_PARAMS).values()
    size = torch.empty((), dtype=dtype).element_size()
    activations = ACTIVATION_BYTES_FP32 * size // 4
    return (sum(counts) if memory == "high" else max(counts)) * size + activations


def _device(device: str, caps: Capabilities, reasons: list[str]) -> torch.device:
    if device == "auto":
        if caps.cuda:
            reasons.append(f"CUDA GPU found: {caps.cuda_name}")
            return torch.device("cuda")
        if caps.mps:
            reasons.append("Apple GPU (MPS) found")
            return torch.device("mps")
        reasons.append("no GPU found: using the CPU")
        return torch.device("cpu")
    if device == "cuda" and not caps.cuda:
        raise InvalidParams("No CUDA GPU is available.", "Choose --device auto or cpu.")
    if device == "mps" and not caps.mps:
        raise InvalidParams("Apple's MPS backend is not available.", "Choose --device auto or cpu.")
    reasons.append(f"device {device} chosen by the user")
    return torch.device(device)


def _dtype(
    dtype: str, dev: torch.device, caps: Capabilities, params: dict[str, int] | None, reasons: list[str]
) -> torch.dtype:
    if dtype != "auto":
        reasons.append(f"precision {dtype} chosen by the user")
        return DTYPES[dtype]
    if dev.type == "cuda":
        if caps.cuda_bf16:
            reasons.append("bfloat16: this GPU runs it at full speed with float32's range")
            return torch.bfloat16
        reasons.append("float16: this GPU has no fast bfloat16 (a NaN guard falls back to float32)")
        return torch.float16
    if dev.type == "mps":
        reasons.append("float16: the precision Apple GPUs run fastest (a NaN guard falls back)")
        return torch.float16
    if caps.cpu_bf16 and params is not None and sum(params.values()) < CPU_BF16_MIN_PARAMS:
        reasons.append("float32: these checkpoints are too small for bfloat16 to be faster on this CPU")
        return torch.float32
    if caps.cpu_bf16:
        reasons.append(f"bfloat16: this CPU has {caps.cpu_features}, several times faster than float32")
        return torch.bfloat16
    reasons.append("float32: this CPU has no fast half precision")
    return torch.float32


def _memory(
    memory: str,
    dev: torch.device,
    dtype: torch.dtype,
    caps: Capabilities,
    params: dict[str, int] | None,
    reasons: list[str],
) -> str:
    if memory != "auto":
        reasons.append(f"memory mode {memory} chosen by the user")
        return memory
    free = caps.cuda_free if dev.type == "cuda" else caps.ram_available
    where = "free VRAM" if dev.type == "cuda" else "available RAM"
    have = f"{free / GIB:.1f} GiB {where}"
    high, balanced = needs("high", dtype, params), needs("balanced", dtype, params)
    if free >= high:
        reasons.append(f"high memory: {have} holds every model ({high / GIB:.1f} GiB)")
        return "high"
    # Balanced keeps the idle models in RAM, so it only helps where the device has its own memory.
    if dev.type == "cuda" and free >= balanced and caps.ram_available >= high:
        reasons.append(f"balanced memory: {have} holds the largest stage, RAM holds the rest")
        return "balanced"
    reasons.append(
        f"low memory: {have} is less than every model needs ({high / GIB:.1f} GiB); "
        "each stage is loaded when needed and freed after"
    )
    return "low"


def choose(
    device: str = "auto",
    dtype: str = "auto",
    memory: str = "auto",
    probe: Callable[[], Capabilities] = probe,
    params: dict[str, int] | None = None,
) -> DeviceChoice:
    """Pick the device (CUDA, then MPS, then CPU), the precision and the memory mode, and say why.

    ``params``: each model's parameter count when the checkpoints are known (the published sizes if not).
    """
    if device not in choices.DEVICES:
        raise InvalidParams(f"Unknown device {device!r}.", f"Choose one of {', '.join(choices.DEVICES)}.")
    if dtype not in choices.DTYPES:
        raise InvalidParams(f"Unknown precision {dtype!r}.", f"Choose one of {', '.join(choices.DTYPES)}.")
    if memory not in choices.MEMORY_MODES:
        raise InvalidParams(
            f"Unknown memory mode {memory!r}.", f"Choose one of {', '.join(choices.MEMORY_MODES)}."
        )
    caps = probe()
    reasons: list[str] = []
    dev = _device(device, caps, reasons)
    chosen = _dtype(dtype, dev, caps, params, reasons)
    mode = _memory(memory, dev, chosen, caps, params, reasons)
    bf16_ok = caps.cuda_bf16 if dev.type == "cuda" else dev.type == "cpu" and caps.cpu_bf16
    fallback = torch.bfloat16 if bf16_ok else torch.float32
    return DeviceChoice(dev, chosen, reasons, mode, fallback)
