"""A ready pipeline from checkpoint sources and the user's choices: the one place both the command line
and the app's worker build it."""

from __future__ import annotations

from wuerstchen_desktop.core.engine.checkpoints import DecoderSource, PriorSource, checkpoint_params
from wuerstchen_desktop.core.engine.devices import DeviceChoice, choose
from wuerstchen_desktop.core.engine.pipeline import Pipeline
from wuerstchen_desktop.core.errors import WuerstchenError


def build_pipeline(
    prior: PriorSource,
    decoder: DecoderSource,
    device: str = "auto",
    dtype: str = "auto",
    memory: str = "auto",
    compile: bool = False,
) -> tuple[Pipeline, DeviceChoice]:
    """Choose device, precision and memory mode for these checkpoints, and check every file's header."""
    try:
        sizes: dict[str, int] | None = checkpoint_params(prior, decoder)
    except WuerstchenError:
        sizes = None  # verify() below says what is wrong
    choice = choose(device, dtype, memory, params=sizes)
    pipe = Pipeline(
        prior,
        decoder,
        choice.device,
        choice.dtype,
        memory=choice.memory,
        fallback_dtype=choice.fallback_dtype,
        compile=compile,
    )
    pipe.verify()
    return pipe, choice
