"""The one place that decides device and precision from the user's choice and what is detected."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from wuerstchen_desktop.core.errors import InvalidParams

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    dtype: torch.dtype
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.device.type}, {str(self.dtype).removeprefix('torch.')}"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def choose(device: str = "auto", dtype: str = "auto") -> DeviceChoice:
    """Pick the device (CUDA, then MPS, then CPU) and the precision, and say why."""
    if device not in DEVICES:
        raise InvalidParams(f"Unknown device {device!r}.", f"Choose one of {', '.join(DEVICES)}.")
    if dtype != "auto" and dtype not in DTYPES:
        raise InvalidParams(f"Unknown precision {dtype!r}.", f"Choose auto or one of {', '.join(DTYPES)}.")
    reasons: list[str] = []
    if device == "auto":
        if torch.cuda.is_available():
            dev = torch.device("cuda")
            reasons.append(f"CUDA GPU found: {torch.cuda.get_device_name(0)}")
        elif _mps_available():
            dev = torch.device("mps")
            reasons.append("Apple GPU (MPS) found")
        else:
            dev = torch.device("cpu")
            reasons.append("no GPU found: using the CPU")
    else:
        if device == "cuda" and not torch.cuda.is_available():
            raise InvalidParams("No CUDA GPU is available.", "Choose --device auto or cpu.")
        if device == "mps" and not _mps_available():
            raise InvalidParams("Apple's MPS backend is not available.", "Choose --device auto or cpu.")
        dev = torch.device(device)
        reasons.append(f"device {device} chosen by the user")

    if dtype != "auto":
        chosen = DTYPES[dtype]
        reasons.append(f"precision {dtype} chosen by the user")
    elif dev.type == "cuda":
        chosen = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        reasons.append(f"{str(chosen).removeprefix('torch.')}: the fastest precision this GPU runs well")
    elif dev.type == "mps":
        chosen = torch.float16
        reasons.append("float16: the precision Apple GPUs run fastest")
    else:
        chosen = torch.float32
        reasons.append("float32 on the CPU")
    return DeviceChoice(dev, chosen, reasons)
