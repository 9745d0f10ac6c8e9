"""The recipe's five models, each loaded on first use and kept where the memory mode says, and the two
safety nets every job runs under: out of memory steps down one memory mode and retries, and a stage that
overflows in float16 is redone in the fallback precision with the same noise."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from wuerstchen_desktop.core.engine.checkpoints import DecoderSource, PriorSource, verify_pair
from wuerstchen_desktop.core.engine.devices import dtype_name
from wuerstchen_desktop.core.engine.loading import load_stage
from wuerstchen_desktop.core.engine.progress import Run
from wuerstchen_desktop.core.engine.residency import (
    MODES,
    Slot,
    free_device_memory,
    is_oom,
    step_down,
)
from wuerstchen_desktop.core.engine.text import TextEncoder
from wuerstchen_desktop.core.errors import InvalidParams, OutOfMemory
from wuerstchen_desktop.core.models import StageA, StageAConfig, StageB, StageBConfig, StageC, StageCConfig

log = logging.getLogger(__name__)
T = TypeVar("T")

STAGE_PRIOR = "prior"
STAGE_DECODER = "decoder"
STAGE_VQGAN = "vqgan"


class StageModels:
    """Owns the five models: Stage C, Stage B, Stage A and the two CLIP text encoders.

    ``memory`` is ``high`` (every model stays loaded between jobs), ``balanced`` (idle models wait in CPU
    RAM) or ``low`` (each model read from disk for its stage and freed after; tiled VQGAN decode). A stage
    that overflows in float16 is redone in ``fallback_dtype``, which that stage keeps from then on.
    ``compile`` runs each model through ``torch.compile`` (slow first job, faster steps after).
    """

    def __init__(
        self,
        prior: PriorSource,
        decoder: DecoderSource,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        *,
        memory: str = "high",
        fallback_dtype: torch.dtype = torch.float32,
        compile: bool = False,
        vqgan_tile: int = 128,
    ) -> None:
        _check_mode(memory)
        self.prior_source = prior
        self.decoder_source = decoder
        self.device = torch.device(device)
        self.dtype = dtype
        self.memory = memory
        self.fallback_dtype = fallback_dtype
        self.compile = compile
        self.vqgan_tile = vqgan_tile  # latent pixels per tile in low memory mode (512 image pixels)
        self.stage_dtypes: dict[str, torch.dtype] = {}  # stages moved off float16 by the overflow guard
        self.step_down_on_oom = True  # False: out of memory fails the task (a warm-up must not change mode)
        self._prior_text: TextEncoder | None = None
        self._decoder_text: TextEncoder | None = None
        folders = {
            STAGE_PRIOR: (StageC, StageCConfig, prior.prior_dir),
            STAGE_DECODER: (StageB, StageBConfig, decoder.root / "decoder"),
            STAGE_VQGAN: (StageA, StageAConfig, decoder.root / "vqgan"),
        }
        self._slots: dict[str, Slot] = {
            stage: Slot(stage, self._loader(stage, *found), self.device, memory)
            for stage, found in folders.items()
        }

    def _loader(
        self, stage: str, model_cls: type, config_cls: type, folder: Path
    ) -> Callable[[torch.device], nn.Module]:
        def load(device: torch.device) -> nn.Module:
            model: nn.Module = load_stage(model_cls, config_cls, folder, self.stage_dtype(stage), device)
            if self.compile:
                model.compile()
            return model

        return load

    def stage_dtype(self, stage: str) -> torch.dtype:
        """The precision ``stage`` runs in: the pipeline's, unless the overflow guard moved it off float16."""
        return self.stage_dtypes.get(stage, self.dtype)

    @property
    def prior_text(self) -> TextEncoder:
        if self._prior_text is None:
            self._prior_text = TextEncoder(self.prior_source.text_root, self.dtype, self.device, self.memory)
        return self._prior_text

    @property
    def decoder_text(self) -> TextEncoder:
        if self._decoder_text is None:
            self._decoder_text = TextEncoder(self.decoder_source.root, self.dtype, self.device, self.memory)
        return self._decoder_text

    @property
    def prior(self) -> StageC:
        return self._slots[STAGE_PRIOR].get()

    @property
    def decoder(self) -> StageB:
        return self._slots[STAGE_DECODER].get()

    @property
    def vqgan(self) -> StageA:
        return self._slots[STAGE_VQGAN].get()

    def _all_slots(self) -> list[Slot]:
        texts = [t.slot for t in (self._prior_text, self._decoder_text) if t is not None]
        return [*texts, *self._slots.values()]

    def verify(self) -> None:
        """Find a missing, damaged or mismatched file now, from configs and headers, before any work."""
        verify_pair(self.prior_source, self.decoder_source)

    def load(self) -> None:
        """Load every model now rather than on first use (in low memory mode, only the tokenizers)."""
        for text in (self.prior_text, self.decoder_text):
            if self.memory != "low":
                text.slot.get()
                text.slot.done()
        if self.memory != "low":
            for slot in self._slots.values():
                slot.get()
                slot.done()

    def set_memory(self, memory: str) -> None:
        """Switch memory mode: every model is freed and reloaded by the new mode's rule when next used."""
        _check_mode(memory)
        for slot in self._all_slots():
            slot.release()
            slot.mode = memory
        self.memory = memory
        free_device_memory(self.device)

    def loaded(self) -> list[str]:
        """Names of the models in memory now."""
        return [slot.name for slot in self._all_slots() if slot.loaded]

    # -- the safety nets --------------------------------------------------------------------------
    def run(self, task: Callable[[], T], warnings: list[str]) -> T:
        """``task()`` under the out-of-memory net: out of memory steps down one memory mode and retries once
        (noted in ``warnings``); a failed or cancelled task leaves nothing behind beyond the models the
        memory mode keeps."""
        for attempt in (1, 2):
            try:
                with torch.inference_mode():
                    return task()
            except BaseException as exc:
                self._clean_up(exc)
                lower = step_down(self.memory)
                if not is_oom(exc):
                    raise
                if attempt == 2 or lower is None or not self.step_down_on_oom:
                    raise OutOfMemory(
                        f"Not enough memory for this job, even in {self.memory} memory mode.",
                        "Close other programs, or choose a smaller size or fewer images.",
                    ) from exc
            note = f"Out of memory in {self.memory} memory mode: switched to {lower} memory and retried."
            log.warning(note)
            warnings.append(note)
            self.set_memory(lower)
        raise AssertionError("unreachable")

    def _clean_up(self, exc: BaseException) -> None:
        # The traceback's frames hold the job's tensors and models; the message and lines stay.
        traceback.clear_frames(exc.__traceback__)
        for slot in self._all_slots():
            slot.done()
        free_device_memory(self.device)

    def guarded(self, stage: str, run: Run, body: Callable[..., torch.Tensor], *args: object) -> torch.Tensor:
        """``body(self, *args, run)``, the work of ``stage``; if it overflowed in float16, it is redone in the
        fallback precision from the same generator states, so with the same noise.

        ``body`` is a module function, not a closure: a failure's traceback then holds no model or tensor
        once ``run`` has cleared its frames.
        """
        states = [g.get_state() for g in run.generators]
        slot = self._slots[stage]
        try:
            out = body(self, *args, run)
        finally:
            slot.done()
        if self.stage_dtype(stage) != torch.float16 or bool(torch.isfinite(out).all()):
            return out
        fallback = self.fallback_dtype
        note = f"The {stage} overflowed in float16; it was redone in {dtype_name(fallback)} and stays in it."
        log.warning(note)
        run.warnings.append(note)
        self.stage_dtypes[stage] = fallback
        slot.release()
        for g, state in zip(run.generators, states, strict=True):
            g.set_state(state)
        try:
            return body(self, *args, run)
        finally:
            slot.done()


def _check_mode(memory: str) -> None:
    if memory not in MODES:
        raise InvalidParams(f"Unknown memory mode {memory!r}.", f"Choose one of {', '.join(MODES)}.")
