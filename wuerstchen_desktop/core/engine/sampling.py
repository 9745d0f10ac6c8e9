"""The denoising loop shared by Stage C and Stage B."""

from __future__ import annotations

import torch
from torch import nn

from wuerstchen_desktop.core.engine.noise import draw
from wuerstchen_desktop.core.engine.progress import Run, StepEvent
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
    run: Run,
) -> torch.Tensor:
    """Run ``model(x, r, *conditioning)`` over the schedule; under CFG (``guidance > 1``) it sees
    ``[cond, uncond]``. The latent and the sampler's arithmetic stay in float32 whatever ``dtype`` the
    model runs in; each image's noise is drawn from its generator after every step, the reference's order.
    """
    steps = sampler.steps(timesteps)
    cfg = guidance > 1
    rows = x.shape[0] * (2 if cfg else 1)
    preview = run.on_step is not None
    for k, st in enumerate(steps):
        if run.cancelled():
            raise Cancelled()
        r = torch.full((rows,), st.t, dtype=torch.float32, device=x.device)
        xin = x.to(dtype)
        if cfg:
            eps_cond, eps_uncond = model(torch.cat([xin, xin]), r, *conditioning).float().chunk(2)
            eps = torch.lerp(eps_uncond, eps_cond, guidance)
        else:
            eps = model(xin, r, *conditioning).float()
        denoised = sampler.denoised(st, x, eps) if preview else None
        x = sampler.step(st, x, eps, draw(run.generators, tuple(x.shape[1:]), x.device))
        run.report(StepEvent(stage, k + 1, len(steps), x, denoised))
    return x
