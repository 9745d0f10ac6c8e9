"""What a torch checkpoint's pickle says about its tensors, read without building or running anything.

``torch.save`` pickles containers whose tensors refer to storages by a persistent id
``("storage", <storage type>, key, location, numel)``; the storage's bytes are the archive entry
``data/<key>``. ``tensor_refs`` reads the pickle with an unpickler whose only globals are a few of those
torch's own ``weights_only`` unpickler allows (torch/_weights_only_unpickler.py), each replaced by a stand-in
that records what it was given: a tensor becomes a ``TensorRef`` (storage key, dtype, shape, stride,
offset), an ``OrderedDict`` a dict. Any other global is refused before anything is built, so the pickle can
name no function to call. torch is never imported.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wuerstchen_desktop.core.hub.zip_ranges import ArchiveRefused, refuse

# torch's storage types and the dtype each holds, with its size in bytes.
STORAGE_DTYPES = {
    "DoubleStorage": ("float64", 8),
    "FloatStorage": ("float32", 4),
    "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2),
    "LongStorage": ("int64", 8),
    "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2),
    "CharStorage": ("int8", 1),
    "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1),
}
MAX_DIMS = 8


def _sealed(self: object, state: object) -> None:
    raise ValueError("the pickle sets the state of an object it may not change")


# Frozen, with slots and a __setstate__ that refuses (dataclass would add one that sets every field): a
# pickle's BUILD opcode can neither change one after its checks nor add attributes.
@dataclass(frozen=True, slots=True)
class StorageRef:
    __setstate__ = _sealed
    key: str
    dtype: str
    itemsize: int
    numel: int

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


@dataclass(frozen=True, slots=True)
class TensorRef:
    """A tensor as the pickle describes it: ``storage``'s elements from ``offset`` with ``shape`` and
    ``stride``, all checked to lie inside the storage."""

    __setstate__ = _sealed

    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.storage.itemsize


@dataclass(frozen=True, slots=True)
class _StorageType:
    __setstate__ = _sealed
    dtype: str
    itemsize: int


@dataclass(frozen=True, slots=True)
class _Stand:
    """Stands where the pickle names an allowed function: calls ours, and takes no attributes."""

    __setstate__ = _sealed

    fn: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


def _ints(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or len(value) > MAX_DIMS:
        raise ValueError(what)
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**48 for v in value):
        raise ValueError(what)
    return value


def _tensor(storage: object, offset: object, shape: object, stride: object, *_: object) -> TensorRef:
    """Stands for ``torch._utils._rebuild_tensor_v2``: records, checks, builds nothing."""
    if not isinstance(storage, StorageRef) or not isinstance(offset, int) or isinstance(offset, bool):
        raise ValueError("a tensor without a storage")
    shape, stride = _ints(shape, "a tensor's shape"), _ints(stride, "a tensor's stride")
    if len(shape) != len(stride) or offset < 0:
        raise ValueError("a tensor's shape and stride do not match")
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride, strict=True)) if all(shape) else offset - 1
    if last >= storage.numel:
        raise ValueError("a tensor reaches past its storage")
    return TensorRef(storage, offset, shape, stride)


def _parameter(data: object, *_: object) -> object:
    """Stands for ``torch._utils._rebuild_parameter`` (and ``_with_state``): the tensor it wraps."""
    if not isinstance(data, TensorRef):
        raise ValueError("a parameter without a tensor")
    return data


def _ordered_dict(*args: object) -> dict[Any, Any]:
    if args:
        raise ValueError("an OrderedDict built from arguments")
    return {}


def _latin1(text: object, encoding: object = "latin1") -> bytes:
    """Stands for ``_codecs.encode``, which protocol-2 pickles use for bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ValueError("_codecs.encode with something other than text to latin1")
    return text.encode("latin1")


ALLOWED: dict[str, _Stand | _StorageType] = {
    "collections.OrderedDict": _Stand(_ordered_dict),
    "torch._utils._rebuild_tensor_v2": _Stand(_tensor),
    "torch._utils._rebuild_parameter": _Stand(_parameter),
    "torch._utils._rebuild_parameter_with_state": _Stand(_parameter),
    "_codecs.encode": _Stand(_latin1),
    **{f"torch.{name}": _StorageType(*dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _Refused(Exception):
    """Not a WuerstchenError: the unpickler's signal for a refused global, told to the user as an
    ArchiveRefused that names it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Reader(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full not in ALLOWED:
            raise _Refused(full)
        return ALLOWED[full]

    def persistent_load(self, pid: Any) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError("an unknown persistent id")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _StorageType) or not isinstance(key, str) or not key.isdigit():
            raise ValueError("a storage of unknown type")
        if not isinstance(numel, int) or isinstance(numel, bool) or not 0 <= numel < 2**48:
            raise ValueError("a storage of unknown size")
        return StorageRef(key, kind.dtype, kind.itemsize, numel)


def load(data: bytes, what: str) -> Any:
    """The pickle's object tree, tensors as ``TensorRef``; ArchiveRefused for anything else it would build."""
    try:
        return _Reader(io.BytesIO(data)).load()
    except _Refused as exc:
        raise refuse(
            what,
            f"its pickle names the Python object {exc.name!r}, which could run code when loaded; nothing "
            "in it was run",
        ) from None
    except (
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        EOFError,
        IndexError,
        KeyError,
        MemoryError,
        RecursionError,
        AttributeError,
        UnicodeDecodeError,
        OverflowError,
    ) as exc:
        raise refuse(what, f"its pickle is damaged ({exc})") from None


def tensor_refs(data: bytes, key: str, what: str) -> dict[str, TensorRef]:
    """The named tensors under ``key`` of the checkpoint whose pickle is ``data``; one dtype per storage."""
    tree = load(data, what)
    if not isinstance(tree, dict) or not isinstance(tree.get(key), dict) or not tree[key]:
        raise refuse(what, f"it holds no state dict under {key!r}")
    refs: dict[str, TensorRef] = {}
    dtypes: dict[str, StorageRef] = {}
    for name, value in tree[key].items():
        if not isinstance(name, str) or not isinstance(value, TensorRef):
            raise refuse(what, f"{key!r} holds {name!r}, which is not a named tensor")
        seen = dtypes.setdefault(value.storage.key, value.storage)
        if seen != value.storage:
            raise refuse(what, f"the storage {value.storage.key!r} is described in two ways")
        refs[name] = value
    return refs


__all__ = ["ALLOWED", "ArchiveRefused", "StorageRef", "TensorRef", "load", "tensor_refs"]
