"""Where each model lives between uses, in the three memory modes, and what out-of-memory looks like.

- high: loaded onto the device on first use and kept there;
- balanced: kept in CPU RAM, moved onto the device while its stage runs (on a CPU device this is high);
- low: loaded from disk when its stage starts and dropped when it ends.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import torch
from torch import nn

from wuerstchen_desktop.core.choices import MEMORY_MODES, without_auto

log = logging.getLogger(__name__)

MODES = without_auto(MEMORY_MODES)  # most memory first: ``step_down`` walks right
M = TypeVar("M", bound=nn.Module)
CPU = torch.device("cpu")


def step_down(mode: str) -> str | None:
    """The next mode that needs less memory, or None from low."""
    i = MODES.index(mode)
    return MODES[i + 1] if i + 1 < len(MODES) else None


def is_oom(exc: BaseException) -> bool:
    """CUDA raises ``torch.OutOfMemoryError``; the CPU and MPS allocators raise a RuntimeError."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )


def free_device_memory(device: torch.device) -> None:
    """Return the allocator's cached blocks after models or activations were dropped."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


class Slot(Generic[M]):
    """One model and the rule for where it lives; ``load(device)`` builds it from disk."""

    def __init__(self, name: str, load: Callable[[torch.device], M], device: torch.device, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown memory mode {mode!r}")
        self.name = name
        self._load = load
        self.device = device
        self.mode = mode
        self._model: M | None = None
        self.loads = 0  # how often it was read from disk (for the log and the tests)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def _offloads(self) -> bool:
        return self.mode == "balanced" and self.device.type != "cpu"

    def get(self) -> M:
        """The model on the compute device, read from disk first if it is not in memory."""
        if self._model is None:
            log.info("loading %s (%s memory)", self.name, self.mode)
            self._model = self._load(CPU if self._offloads else self.device)
            self.loads += 1
        if self._offloads:
            self._model.to(self.device)
        return self._model

    def done(self) -> None:
        """Its stage is over: balanced moves it back to RAM, low drops it."""
        if self._model is None:
            return
        if self.mode == "low":
            self.release()
        elif self._offloads:
            self._model.to(CPU)

    def release(self) -> None:
        """Drop the model; the next ``get`` reads it from disk again."""
        self._model = None
