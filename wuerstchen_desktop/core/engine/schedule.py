"""Timestep schedules and the Würstchen DDPM sampler (continuous ``t`` from 1 to 0)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


def official_prior_timesteps() -> torch.Tensor:
    """The official Stage C schedule: 20 values from 1 to 2/3, then 10 more down to 0 (29 model calls)."""
    head = torch.linspace(1.0, 2 / 3, 20, dtype=torch.float64)
    tail = torch.linspace(2 / 3, 0.0, 11, dtype=torch.float64)[1:]
    return torch.cat([head, tail]).to(torch.float32)


def uniform_timesteps(steps: int) -> torch.Tensor:
    """``steps`` uniform model calls from t=1 to t=0."""
    return torch.linspace(1.0, 0.0, steps + 1)


def prior_timesteps(prior_steps: int | None) -> torch.Tensor:
    return official_prior_timesteps() if prior_steps is None else uniform_timesteps(prior_steps)


def from_strength(timesteps: torch.Tensor, strength: float) -> torch.Tensor:
    """The part of a schedule that image-to-image runs: from ``t = strength`` down, through every point of
    ``timesteps`` below it. Strength 1 is the whole schedule; 0.5 runs about half its model calls."""
    if not 0 < strength <= 1:
        raise ValueError(f"strength {strength} is not in (0, 1]")
    if strength >= float(timesteps[0]):
        return timesteps
    below = timesteps[timesteps < strength]
    return torch.cat([torch.tensor([strength], dtype=timesteps.dtype), below])


@dataclass(frozen=True)
class SamplerStep:
    """Coefficients of one step from ``t`` to ``t_prev``: ``x' = a * (x - b * eps) + c * noise``.

    ``x0_scale`` and ``x0_eps`` give the step's estimate of the clean latent,
    ``(x - x0_eps * eps) * x0_scale``, which live previews show.
    """

    t: float
    a: float
    b: float
    c: float
    x0_scale: float = 1.0
    x0_eps: float = 0.0


class WuerstchenSampler:
    """The DDPM sampler of Würstchen with the cosine schedule (``s`` offset, optional ``scaler``).

    Coefficients are computed once per schedule in float32, as the reference does, so the loop does no
    scalar work and no device syncs.
    """

    def __init__(self, s: float = 0.008, scaler: float = 1.0) -> None:
        self.s = s
        self.scaler = scaler

    def alpha_cumprod(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(torch.float32)
        if self.scaler > 1:
            t = 1 - (1 - t) ** self.scaler
        elif self.scaler < 1:
            t = t**self.scaler
        s = torch.tensor([self.s])
        init = torch.cos(s / (1 + s) * math.pi * 0.5) ** 2
        return (torch.cos((t + s) / (1 + s) * math.pi * 0.5) ** 2 / init).clamp(0.0001, 0.9999)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: float) -> torch.Tensor:
        """A clean latent ``x0`` noised to time ``t``, where a sampler started at ``t`` expects it."""
        ac = self.alpha_cumprod(torch.tensor([t])).to(x0.device)
        return ac.sqrt() * x0 + (1 - ac).sqrt() * noise

    def steps(self, timesteps: Sequence[float] | torch.Tensor) -> list[SamplerStep]:
        ts = torch.as_tensor(timesteps, dtype=torch.float32)
        ac = self.alpha_cumprod(ts)
        out = []
        for i in range(len(ts) - 1):
            ac_t, ac_prev = ac[i], ac[i + 1]
            alpha = ac_t / ac_prev
            a = (1.0 / alpha).sqrt()
            b = (1 - alpha) / (1 - ac_t).sqrt()
            c = ((1 - alpha) * (1.0 - ac_prev) / (1.0 - ac_t)).sqrt() if float(ts[i + 1]) != 0 else 0.0
            x0_scale, x0_eps = float(1 / ac_t.sqrt()), float((1 - ac_t).sqrt())
            out.append(SamplerStep(float(ts[i]), float(a), float(b), float(c), x0_scale, x0_eps))
        return out

    @staticmethod
    def step(step: SamplerStep, x: torch.Tensor, eps: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        mu = step.a * (x - step.b * eps)
        return mu + step.c * noise if step.c else mu

    @staticmethod
    def denoised(step: SamplerStep, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The clean latent this step predicts from ``x`` at ``step.t`` and the model's ``eps``."""
        return (x - step.x0_eps * eps) * step.x0_scale
