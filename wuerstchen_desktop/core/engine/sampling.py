"""The denoising loop shared by Stage C and Stage B."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from wuerstchen_desktop.core.engine.results import CancelCheck, StepCallback, StepEvent
from wuerstchen_desktop.core.engine.schedule import WuerstchenSampler
from wuerstchen_desktop.core.errors import Cancelled


def denoise(
    stage: str,
    model: nn.Module,
    conditioning: tuple[object, ...],
    x: torch.Tensor,
    timesteps: torch.Tensor,
    guidance: float,
    sampler: WuerstchenSampler,
    dtype: torch.dtype,
    noise: Callable[[tuple[int, ...]], torch.Tensor],
    on_step: StepCallback | None,
    cancel: CancelCheck | None,
) -> torch.Tensor:
    """Run ``model(x, r, *conditioning)`` over the schedule; under CFG (``guidance > 1``) it sees
    ``[cond, uncond]``. The latent and the sampler's arithmetic stay in float32 whatever ``dtype`` the
    model runs in; ``noise(shape)`` is drawn after every step, the reference's order of draws.
    """
    steps = sampler.steps(timesteps)
    cfg = guidance > 1
    rows = x.shape[0] * (2 if cfg else 1)
    for k, st in enumerate(steps):
        if cancel is not None and cancel():
            raise Cancelled()
        r = torch.full((rows,), st.t, dtype=torch.float32, device=x.device)
        xin = x.to(dtype)
        if cfg:
            eps_cond, eps_uncond = model(torch.cat([xin, xin]), r, *conditioning).float().chunk(2)
            eps = torch.lerp(eps_uncond, eps_cond, guidance)
        else:
            eps = model(xin, r, *conditioning).float()
        denoised = sampler.denoised(st, x, eps) if on_step is not None else None
        x = sampler.step(st, x, eps, noise(tuple(x.shape[1:])))
        if on_step is not None:
            on_step(StepEvent(stage, k + 1, len(steps), x, denoised))
    return x
