"""The device, precision and memory choices a user has, in one table.

The command line's options, the stored settings, the settings dialog and the engine all take them from
here. No torch, so the window and the hub can import it.
"""

from __future__ import annotations

AUTO = "auto"  # let ``core.engine.devices.choose`` decide from the hardware

DEVICES = (AUTO, "cpu", "cuda", "mps")
DTYPES = (AUTO, "float32", "bfloat16", "float16")  # torch's names
MEMORY_MODES = (AUTO, "high", "balanced", "low")  # from most memory to least: out of memory steps right

# What each memory mode does, for help texts (the window words its own, translated).
MEMORY_HELP = {
    "high": "every model stays loaded",
    "balanced": "idle models wait in RAM",
    "low": "one model at a time",
}

ENGINE_CHOICES: dict[str, tuple[str, ...]] = {"device": DEVICES, "dtype": DTYPES, "memory": MEMORY_MODES}


def without_auto(choices: tuple[str, ...]) -> tuple[str, ...]:
    """The concrete values, as the engine runs them once ``auto`` is resolved."""
    return tuple(c for c in choices if c != AUTO)
