"""A checkpoint read by ranges that lies: offsets past the end, overlapping or compressed entries, a pickle
naming a function, a damaged entry. Each is refused with one sentence, nothing run, nothing kept but
the ranges fetched (inside the app's folder); and the real ``torch.save`` layout reads as torch reads it."""

from __future__ import annotations

import collections
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch

from tests.helpers.checkpoint_hub import Storage, Stub, checkpoint_records, serve_file, write_checkpoint
from tests.helpers.hub_server import HubServer
from wuerstchen_desktop.core.engine.encoder_weights import (
    fetch_encoder_weights,
    find_encoder_weights,
    to_tensors,
)
from wuerstchen_desktop.core.errors import ArchiveRefused
from wuerstchen_desktop.core.hub import checkpoint_pickle, zip_ranges
from wuerstchen_desktop.core.hub.lean_fetch import EFFNET_FILE, EFFNET_KEY, EFFNET_REPO


def small_checkpoint(path: Path, tree_extra: dict[str, object] | None = None) -> bytes:
    s = Storage("FloatStorage", 6, torch.arange(6, dtype=torch.float32).numpy().tobytes())
    big = Storage("FloatStorage", 50_000)
    tree: dict[str, object] = {
        "state_dict": {"w": Stub("0", big, (50_000,), (1,))},
        EFFNET_KEY: {"a": Stub("1", s, (2, 3), (3, 1))},
    }
    tree.update(tree_extra or {})
    write_checkpoint(path, checkpoint_records(tree, {"0": big, "1": s}))
    return path.read_bytes()


def directory(raw: bytes) -> dict[str, zip_ranges.Entry]:
    return zip_ranges.read_directory(lambda o, n: raw[o : o + n], len(raw), "the checkpoint")


def central(raw: bytes, name: str) -> int:
    """Where the central directory record of ``archive/name`` starts."""
    return raw.rindex(b"PK\x01\x02", 0, raw.rindex(f"archive/{name}".encode()))


@pytest.fixture
def raw(tmp_path: Path) -> bytes:
    return small_checkpoint(tmp_path / "ok.pt")


def test_an_honest_small_checkpoint_reads(raw: bytes) -> None:
    entries = directory(raw)
    pkl = entries["archive/data.pkl"]
    refs = checkpoint_pickle.tensor_refs(
        zip_ranges.entry_data(raw[pkl.offset : pkl.end], pkl, "x"), EFFNET_KEY, "x"
    )
    assert [(k, r.storage.key, r.shape) for k, r in refs.items()] == [("a", "1", (2, 3))]


def _mutate(raw: bytes, at: int, fmt: str, value: int) -> bytes:
    return raw[:at] + struct.pack(fmt, value) + raw[at + struct.calcsize(fmt) :]


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("offset_past_end", "overlaps another entry or lies past the end"),
        ("overlap", "overlaps another entry or lies past the end"),
        ("compressed", "is compressed"),
        ("directory_past_end", "central directory does not fit the file"),
        ("cut", "has no zip end record"),
        ("count", "central directory does not fit the file"),
    ],
)
def test_a_lying_directory_is_refused_in_one_sentence(raw: bytes, how: str, said: str) -> None:
    data_1 = central(raw, "data/1")
    eocd = raw.rindex(b"PK\x05\x06")
    bad = {
        "offset_past_end": lambda: _mutate(raw, data_1 + 42, "<I", len(raw) + 10),
        "overlap": lambda: _mutate(raw, data_1 + 42, "<I", directory(raw)["archive/data/0"].offset),
        "compressed": lambda: _mutate(raw, data_1 + 10, "<H", 8),
        "directory_past_end": lambda: _mutate(raw, eocd + 16, "<I", len(raw) - 10),
        "cut": lambda: raw[: eocd + 10],
        "count": lambda: _mutate(_mutate(raw, eocd + 8, "<H", 60_000), eocd + 10, "<H", 60_000),
    }[how]()
    with pytest.raises(ArchiveRefused) as err:
        directory(bad)
    assert said in err.value.message and err.value.message.count(". ") == 0


def test_a_local_header_that_disagrees_is_refused(raw: bytes) -> None:
    e = directory(raw)["archive/data/1"]
    region = bytearray(raw[e.offset : e.end])
    region[8] = 8  # method: deflate
    with pytest.raises(ArchiveRefused, match="compressed or encrypted"):
        zip_ranges.entry_data(bytes(region), e, "x")
    region = bytearray(raw[e.offset : e.end])
    region[28] = 0xFF  # extra length: the data would run into the next entry
    with pytest.raises(ArchiveRefused, match="overlaps the next one"):
        zip_ranges.entry_data(bytes(region), e, "x")


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_naming_a_function_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    data = pickle.dumps({EFFNET_KEY: {"a": _Evil(marker)}}, protocol=2)
    with pytest.raises(ArchiveRefused) as err:
        checkpoint_pickle.tensor_refs(data, EFFNET_KEY, "dome272/wuerstchen/model_v2_stage_b.pt")
    assert "system" in err.value.message and "nothing in it was run" in err.value.message
    assert not marker.exists()
    # torch's weights_only reader refuses it too: no global is allowed here that torch would not allow
    allowed = set(torch._weights_only_unpickler._get_allowed_globals())
    assert set(checkpoint_pickle.ALLOWED) <= allowed


def _text(s: str) -> bytes:
    return b"X" + struct.pack("<I", len(s)) + s.encode()


def test_a_pickle_cannot_change_a_recorded_tensor_after_its_checks() -> None:
    tensor = (
        b"ctorch._utils\n_rebuild_tensor_v2\n(("
        + _text("storage")
        + b"ctorch\nFloatStorage\n"
        + _text("0")
        + _text("cpu")
        + b"K\x04tQK\x00K\x04\x85K\x01\x85\x89tR"
    )
    build = b"N}" + _text("shape") + b"K\x09\x85s\x86b"  # BUILD (None, {"shape": (9,)}) on the tensor
    head = b"\x80\x02}" + _text(EFFNET_KEY) + b"}" + _text("a") + tensor
    honest = checkpoint_pickle.tensor_refs(head + b"ss.", EFFNET_KEY, "x")
    assert honest["a"].shape == (4,)
    with pytest.raises(ArchiveRefused, match="pickle is damaged"):
        checkpoint_pickle.tensor_refs(head + build + b"ss.", EFFNET_KEY, "x")


def test_a_tensor_past_its_storage_is_refused() -> None:
    s = Storage("FloatStorage", 4, bytes(16))
    from tests.helpers.checkpoint_hub import pickle_checkpoint

    data = pickle_checkpoint({EFFNET_KEY: {"a": Stub("0", s, (3,), (1,), offset=2)}})
    with pytest.raises(ArchiveRefused, match="reaches past its storage"):
        checkpoint_pickle.tensor_refs(data, EFFNET_KEY, "x")


def test_the_real_torch_save_layout_reads_as_torch_loads_it(tmp_path: Path) -> None:
    eff = collections.OrderedDict(w=torch.randn(3, 4), b=torch.randn(5).to(torch.bfloat16))
    eff["view"] = eff["w"][1:, 1:]
    eff["n"] = torch.tensor(7)
    eff["p"] = torch.nn.Parameter(torch.ones(2))
    path = tmp_path / "real.pt"
    torch.save({"state_dict": {"x": torch.ones(100)}, EFFNET_KEY: eff, "iter": 3}, path)
    raw = path.read_bytes()
    entries = directory(raw)
    pkl = next(e for e in entries.values() if e.name.endswith("/data.pkl"))
    refs = checkpoint_pickle.tensor_refs(
        zip_ranges.entry_data(raw[pkl.offset : pkl.end], pkl, "x"), EFFNET_KEY, "x"
    )
    prefix = pkl.name[: -len("data.pkl")]
    storages = {}
    for r in refs.values():
        e = entries[f"{prefix}data/{r.storage.key}"]
        storages[r.storage.key] = zip_ranges.entry_data(raw[e.offset : e.end], e, "x")
    got = to_tensors(refs, storages)
    loaded = torch.load(path, weights_only=True)[EFFNET_KEY]
    assert got.keys() == loaded.keys()
    for k, t in loaded.items():
        assert got[k].dtype == t.dtype and torch.equal(got[k], t.detach()), k


@pytest.fixture
def hub(empty_hub: HubServer) -> HubServer:
    return empty_hub


@pytest.mark.parametrize("how", ["compressed", "evil_pickle", "damaged"])
def test_over_http_a_hostile_checkpoint_leaves_no_weights(hub, tmp_path: Path, how: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "served" / EFFNET_FILE
    path.parent.mkdir()
    raw = small_checkpoint(path, {"x": _Evil(marker)} if how == "evil_pickle" else None)
    if how == "compressed":
        raw = _mutate(raw, central(raw, "data/1") + 10, "<H", 8)
    if how == "damaged":
        e = directory(raw)["archive/data/1"]
        raw = raw[: e.end - 20] + bytes([raw[e.end - 20] ^ 1]) + raw[e.end - 19 :]
    path.write_bytes(raw)
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, path)
    data = tmp_path / "app-data" / "encoder"
    with pytest.raises(ArchiveRefused) as err:
        fetch_encoder_weights(data, endpoint=hub.url, timeout=5.0, retries=0, backoff=0.01)
    assert err.value.message.endswith(".") and "\n" not in str(err.value)
    assert not marker.exists()
    assert find_encoder_weights(data) is None
    written = [p for p in tmp_path.rglob("*") if p.is_file() and tmp_path / "served" not in p.parents]
    assert all(data in p.parents for p in written), written
