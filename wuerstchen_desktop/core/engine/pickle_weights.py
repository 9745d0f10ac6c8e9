"""The weights in a torch training checkpoint (a pickle), read without running anything it holds.

A pickle can run code when it is loaded. ``read_state_dict`` only ever uses
``torch.load(weights_only=True)``, which builds nothing but tensors and plain containers (dicts, lists,
numbers, strings) and refuses every other Python object. Training checkpoints such as the demo's previewer
hold more than weights: optimizer state (plain tensors and numbers, which pass) and sometimes small
records of the run that pass through numpy or argparse (``SKIPPABLE``). Those few are loaded as inert
placeholders, never constructed or called, so the weights still come out; any other object is refused.
Only one entry is kept (``state_dict`` for the previewer, ``effnet_state_dict`` for the image encoder),
and it must hold tensors alone.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.core.errors import CheckpointError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# Data types a training loop pickles beside its weights (a metric as a numpy scalar, the run's arguments):
# tolerated as placeholders outside the state dict. Functions never are.
SKIPPABLE = frozenset(
    {
        "argparse.Namespace",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib._local.PosixPath",
        "pathlib._local.WindowsPath",
    }
)


class Skipped:
    """Stands where the checkpoint names a ``SKIPPABLE`` type: holds nothing, runs nothing."""

    name = "?"

    def __new__(cls, *args: object, **kwargs: object) -> Skipped:
        return super().__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass

    def __repr__(self) -> str:
        return f"<skipped {self.name}>"


def _placeholders(names: list[str]) -> list[Callable[..., Any] | tuple[Callable[..., Any], str]]:
    return [(type("Skipped", (Skipped,), {"name": n}), n) for n in names]


def _load(path: Path, names: list[str]) -> Any:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about pickle protocols; the errors say enough
        if not names:
            return torch.load(path, map_location="cpu", weights_only=True)
        with torch.serialization.safe_globals(_placeholders(names)):
            return torch.load(path, map_location="cpu", weights_only=True)


def _foreign_globals(path: Path) -> list[str]:
    """The names of the Python objects (besides tensors) a ``torch.save`` zip archive would build."""
    import torch

    try:
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not a zip archive of torch.save: the first refusal stands
        return []


def read_state_dict(
    path: Path, hint: str, key: str = "state_dict", what: str = "previewer"
) -> dict[str, torch.Tensor]:
    """The ``key`` tensors of a checkpoint (or a bare state dict), read without running any code;
    ``what`` names the model in the messages.

    Raises CheckpointError for a missing, damaged or truncated file, one that holds objects that could run
    code (nothing of it is run), or one with no state dict of named tensors.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Missing {what} file {path}.", hint)
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    if (major, minor) < (2, 6):  # before 2.6, weights_only=True could still be made to run code
        raise CheckpointError(
            f"torch {torch.__version__} cannot read the {what} safely.", "Update torch to 2.6 or newer."
        )
    try:
        try:
            data = _load(path, [])
        except pickle.UnpicklingError as exc:
            foreign = _foreign_globals(path) if "GLOBAL" in str(exc) else []
            if not foreign or not SKIPPABLE.issuperset(foreign):
                raise
            log.info("%s: skipping %s besides the weights", path, ", ".join(foreign))
            data = _load(path, foreign)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc):
            refused = [n for n in _foreign_globals(path) if n not in SKIPPABLE]
            named = f" ({', '.join(refused[:3])})" if refused else ""
            raise CheckpointError(
                f"{path} holds Python objects besides tensors{named}, which could run code when loaded; it "
                f"was refused and nothing in it was run. It is not the published {what}, or it was "
                "tampered with.",
                hint,
            ) from exc
        raise CheckpointError(
            f"{path} was refused: it is damaged, or not a plain tensor checkpoint. Nothing in it was run.",
            hint,
        ) from exc
    except Exception as exc:  # a damaged archive fails in many ways inside torch: all of them mean damaged
        text = str(exc).strip()
        detail = text.splitlines()[0].split(". ")[0][:160] if text else type(exc).__name__
        raise CheckpointError(f"{path} is damaged or incomplete ({detail}).", hint) from exc
    if isinstance(data, dict) and key not in data and any(isinstance(v, dict) for v in data.values()):
        entries = ", ".join(repr(k) for k in list(data)[:5])
        raise CheckpointError(
            f"{path} has no {key!r} entry (it holds {entries}): it is not the published {what}.", hint
        )
    state = data.get(key, data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path} holds no state dict of tensors.", hint)
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path} holds {name!r}, which is not a named tensor.", hint)
    return state
