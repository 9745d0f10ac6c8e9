"""From published checkpoint folders to modules: safetensors only, strict keys, one copy in memory.

A stage is built on the meta device (no memory), then each tensor is read from the safetensors file,
converted to the requested dtype and device, and assigned into the module: in memory of its own, never
left as a view of the file's mapping. Pickle files (``.bin``,
``.pt``, ``.ckpt``) are refused and never opened.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from wuerstchen_desktop.core.errors import CheckpointError
from wuerstchen_desktop.core.models.config import ConfigFieldError, StageConfig

log = logging.getLogger(__name__)

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
REDOWNLOAD_HINT = "Download the checkpoints again, or point the app at a complete copy."
MAX_JSON_BYTES = 16 * 2**20  # configs and shard indexes are kilobytes
# No Würstchen or Stable Cascade stage comes near this; a config that does is damaged, and building it
# would fill the memory.
MAX_STAGE_PARAMS = 20_000_000_000

M = TypeVar("M", bound=nn.Module)
C = TypeVar("C", bound=StageConfig)


def invalid_config(path: Path, exc: ConfigFieldError) -> CheckpointError:
    """The error for a config whose field ``exc`` names cannot build the model."""
    return CheckpointError(f"{path} is not a valid config: {exc}.", REDOWNLOAD_HINT)


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from a checkpoint folder, with a clear error if it is missing or damaged."""
    if not path.is_file():
        raise CheckpointError(f"Missing file {path}.", REDOWNLOAD_HINT)
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(
                f"{path} is far too large for a config ({path.stat().st_size:,} bytes): it is damaged.",
                REDOWNLOAD_HINT,
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    # ValueError: bad JSON, or an integer with thousands of digits; RecursionError: nesting too deep.
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise CheckpointError(f"Cannot read {path}: it is damaged ({detail}).", REDOWNLOAD_HINT) from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object.", REDOWNLOAD_HINT)
    return data


def weight_files(folder: Path, stem: str) -> list[Path]:
    """The safetensors file(s) named ``stem`` in ``folder``: one file, or the shards of an index."""
    if not folder.is_dir():
        raise CheckpointError(f"Missing folder {folder}.", REDOWNLOAD_HINT)
    single = folder / f"{stem}.safetensors"
    if single.is_file():
        return [single]
    index = folder / f"{stem}.safetensors.index.json"
    if index.is_file():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index} has no weight map.", REDOWNLOAD_HINT)
        shards = sorted({str(v) for v in weight_map.values()})
        if any(Path(s).name != s or not s.endswith(".safetensors") for s in shards):
            raise CheckpointError(f"{index} names files outside its folder or not in safetensors.")
        return [folder / s for s in shards]
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"{folder} holds only pickle weights ({', '.join(pickles)}), which can run code when loaded "
            "and are never opened by this app.",
            f"Download the .safetensors version ({stem}.safetensors) into this folder.",
        )
    raise CheckpointError(f"Missing weights {single}.", REDOWNLOAD_HINT)


# safetensors maps the whole file; pages read stay resident until it is closed. Reopening after this many
# bytes keeps the peak near the converted model plus one window, not the model plus the float32 file.
REOPEN_BYTES = 512 * 2**20


def _open(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"Missing weights {path}.", REDOWNLOAD_HINT)
    try:
        return safe_open(str(path), framework="pt", device="cpu")
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is damaged or incomplete ({exc}).", REDOWNLOAD_HINT) from exc


def iter_tensors(
    files: list[Path], dtype: torch.dtype | None, device: torch.device | str = "cpu"
) -> Iterator[tuple[str, torch.Tensor, Path]]:
    """Yield ``(key, tensor, file)``; floating tensors converted to ``dtype`` one at a time."""
    for path in files:
        handle = _open(path)
        keys = list(handle.keys())
        read = 0
        for key in keys:
            if read > REOPEN_BYTES:
                del handle
                handle, read = _open(path), 0
            try:
                t = handle.get_tensor(key)
            except (SafetensorError, OSError) as exc:
                raise CheckpointError(
                    f"{path} is damaged: cannot read tensor {key!r} ({exc}).", REDOWNLOAD_HINT
                ) from exc
            read += t.numel() * t.element_size()
            out = t.to(dtype) if dtype is not None and t.is_floating_point() and t.dtype != dtype else t
            out = out.to(device)
            if out.data_ptr() == t.data_ptr():
                # Still the file's mapping, whose pages would be read on the first job's first use of each
                # weight (a third of the first job at 512x512): read it now, while loading.
                out = out.clone()
            yield key, out, path
        del handle


def _build_meta(model_cls: type[M], config: StageConfig, files: list[Path]) -> M:
    """The module on the meta device (no memory), refused if its size is absurd."""
    with torch.device("meta"):
        model: M = model_cls.from_config(config)  # type: ignore[attr-defined]
    count = sum(t.numel() for t in model.state_dict().values())
    if count > MAX_STAGE_PARAMS:
        raise CheckpointError(
            f"{files[0].parent / 'config.json'} describes a {model_cls.__name__} of {count / 1e9:,.0f} "
            f"billion parameters, more than the {MAX_STAGE_PARAMS / 1e9:.0f} billion any Würstchen stage "
            "could have: the config is damaged.",
            REDOWNLOAD_HINT,
        )
    return model


def _check_tensor(
    model_cls: type, expected: dict[str, torch.Tensor], key: str, shape: tuple[int, ...], path: Path
) -> None:
    want = expected.get(key)
    if want is None:
        raise CheckpointError(
            f"{path} holds the tensor {key!r}, which {model_cls.__name__} does not have: the file does not "
            "match its config.json.",
            REDOWNLOAD_HINT,
        )
    if tuple(want.shape) != shape:
        raise CheckpointError(
            f"{path}: the tensor {key!r} has shape {shape}, but config.json says {tuple(want.shape)}.",
            REDOWNLOAD_HINT,
        )


def _check_complete(expected: dict[str, torch.Tensor], found: set[str], files: list[Path]) -> None:
    missing = [k for k in expected if k not in found]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckpointError(
            f"{files[0].parent} is missing tensors {', '.join(missing[:3])}{more}.", REDOWNLOAD_HINT
        )


def check_files(model_cls: type[M], config: StageConfig, files: list[Path]) -> None:
    """Check names and shapes of every tensor from the file headers alone, reading no weights."""
    expected = _build_meta(model_cls, config, files).state_dict()
    found: set[str] = set()
    for path in files:
        if not path.is_file():
            raise CheckpointError(f"Missing weights {path}.", REDOWNLOAD_HINT)
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                    _check_tensor(model_cls, expected, key, tuple(f.get_slice(key).get_shape()), path)
                    found.add(key)
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{path} is damaged or incomplete ({exc}).", REDOWNLOAD_HINT) from exc
    _check_complete(expected, found, files)


def count_params(files: list[Path]) -> int:
    """Elements in every tensor of ``files``, from the headers alone."""
    total = 0
    for path in files:
        with _open(path) as f:
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                total += math.prod(f.get_slice(key).get_shape())
    return total


def load_module(
    model_cls: type[M],
    config: StageConfig,
    files: list[Path],
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
) -> M:
    """Build ``model_cls`` from ``config`` on the meta device and fill it from ``files`` with strict keys."""
    model = _build_meta(model_cls, config, files)
    expected = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    for key, tensor, path in iter_tensors(files, dtype, device):
        _check_tensor(model_cls, expected, key, tuple(tensor.shape), path)
        state[key] = tensor
    _check_complete(expected, set(state), files)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


def stage_files(config_cls: type[C], folder: Path, stem: str) -> tuple[C, list[Path]]:
    files = weight_files(folder, stem)
    raw = read_json(folder / "config.json")
    try:
        return config_cls.from_json(raw), files
    except ConfigFieldError as exc:
        raise invalid_config(folder / "config.json", exc) from exc


def check_stage(
    model_cls: type[M], config_cls: type[C], folder: Path, stem: str = "diffusion_pytorch_model"
) -> C:
    """Everything ``load_stage`` would refuse, found from the config and file headers in milliseconds;
    returns the config."""
    config, files = stage_files(config_cls, folder, stem)
    check_files(model_cls, config, files)
    return config


def load_stage(
    model_cls: type[M],
    config_cls: type[StageConfig],
    folder: Path,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
    stem: str = "diffusion_pytorch_model",
) -> M:
    """Load one stage from a folder holding ``config.json`` and ``{stem}.safetensors``."""
    config, files = stage_files(config_cls, folder, stem)
    log.info("loading %s from %s as %s", model_cls.__name__, folder, dtype)
    return load_module(model_cls, config, files, dtype, device)
