"""The image encoder's tensors out of a 6 GB Stage B training checkpoint on a loopback Hub, by byte ranges:
bytes counted, resumed after a cancel or a dropped connection, a server that ignores Range stopped at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers.checkpoint_hub import (
    Storage,
    Stub,
    checkpoint_records,
    sent_bytes,
    serve_file,
    write_checkpoint,
)
from tests.helpers.hub_server import HubServer
from wuerstchen_desktop.core.engine.encoder_weights import fetch_encoder_weights, find_encoder_weights
from wuerstchen_desktop.core.errors import Cancelled, NoRanges
from wuerstchen_desktop.core.hub import lean_fetch, zip_ranges
from wuerstchen_desktop.core.hub.lean_fetch import EFFNET_FILE, EFFNET_KEY, EFFNET_REPO

BIG = 10  # Stage B storages of 600 MB each: keys "0".."9", sorted among the encoder's
BIG_NUMEL = 150_000_000
FAST = {"timeout": 5.0, "stall_timeout": 2.0, "retries": 2, "backoff": 0.01}


def encoder_tree() -> tuple[dict[str, Stub], dict[str, Storage], dict[str, torch.Tensor]]:
    """A small ``effnet_state_dict``: convolutions, batch norms (with an int64 counter), a view into a
    shared storage at an offset; its storages keyed 60 and up, after Stage B's."""
    gen = torch.Generator().manual_seed(7)
    stubs: dict[str, Stub] = {}
    storages: dict[str, Storage] = {}
    expected: dict[str, torch.Tensor] = {}
    key = 60
    for i in range(40):
        c = 8 + 8 * (i % 4)
        for name, shape in ((f"backbone.{i}.0.weight", (c, c, 3, 3)), (f"backbone.{i}.1.weight", (c,))):
            t = torch.randn(shape, generator=gen)
            s = Storage("FloatStorage", t.numel(), t.numpy().tobytes())
            storages[str(key)] = s
            stride = tuple(torch.empty(shape).stride())
            stubs[name] = Stub(str(key), s, shape, stride)
            expected[name] = t
            key += 1
        n = torch.randint(10_000, (), generator=gen)
        s = Storage("LongStorage", 1, n.numpy().tobytes(), itemsize=8)
        storages[str(key)] = s
        stubs[f"backbone.{i}.1.num_batches_tracked"] = Stub(str(key), s, (), ())
        expected[f"backbone.{i}.1.num_batches_tracked"] = n
        key += 1
    head = torch.randn(1280, 800, generator=gen)  # 4 MB: one request of its own
    storages[str(key)] = Storage("FloatStorage", head.numel(), head.numpy().tobytes())
    stubs["head.weight"] = Stub(str(key), storages[str(key)], (1280, 800), (800, 1))
    expected["head.weight"] = head
    key += 1
    base = torch.arange(24, dtype=torch.float32)
    s = Storage("FloatStorage", 24, base.numpy().tobytes())
    storages[str(key)] = s
    stubs["mapper.0.weight"] = Stub(str(key), s, (4, 4), (4, 1), offset=8)
    expected["mapper.0.weight"] = base[8:].reshape(4, 4)
    return stubs, storages, expected


def stage_b_checkpoint(path: Path, big: bool = True) -> tuple[dict[str, torch.Tensor], int]:
    """Stage B's training state (big: ten 600 MB storages, sparse on disk) beside ``effnet_state_dict``."""
    stubs, storages, expected = encoder_tree()
    numel = BIG_NUMEL if big else 1000
    state = {}
    for k in range(BIG):
        storages[str(k)] = Storage("FloatStorage", numel)
        state[f"down_blocks.{k}.weight"] = Stub(str(k), storages[str(k)], (numel,), (1,))
    for k in range(BIG, 60):  # small Stage B tensors, their keys sorted in among the encoder's
        storages[str(k)] = Storage("FloatStorage", 16_384)
        state[f"small.{k}"] = Stub(str(k), storages[str(k)], (16_384,), (1,))
    tree = {"state_dict": state, "iter": 1, EFFNET_KEY: stubs, "optimizer_state_dict": {"param_groups": []}}
    size = write_checkpoint(path, checkpoint_records(tree, storages))
    return expected, size


@pytest.fixture(scope="module")
def big_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor], int]:
    path = tmp_path_factory.mktemp("stage-b") / EFFNET_FILE
    expected, size = stage_b_checkpoint(path)
    return path, expected, size


@pytest.fixture
def hub(empty_hub: HubServer) -> HubServer:
    return empty_hub


def fetch(hub: HubServer, data: Path, **kw: object) -> Path:
    return fetch_encoder_weights(data, endpoint=hub.url, **FAST, **kw)  # type: ignore[arg-type]


def encoder_bytes(expected: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in expected.values()) + 8 * 4  # the view's storage: 24


def test_the_test_checkpoint_is_what_torch_load_reads(tmp_path: Path) -> None:
    path = tmp_path / "small.pt"
    expected, _ = stage_b_checkpoint(path, big=False)
    loaded = torch.load(path, map_location="cpu", weights_only=True)[EFFNET_KEY]
    assert loaded.keys() == expected.keys()
    for name, t in expected.items():
        assert torch.equal(loaded[name], t), name


def test_fetches_only_the_encoder_out_of_6_gb(hub, big_checkpoint, tmp_path: Path) -> None:
    path, expected, size = big_checkpoint
    assert size > 6_000_000_000
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, path)
    out = fetch(hub, tmp_path / "data")
    assert out.parent == tmp_path / "data" and out.name.startswith("effnet-")
    got = load_file(out)
    assert got.keys() == expected.keys()
    for name, t in expected.items():
        assert got[name].dtype == t.dtype and torch.equal(got[name], t), name
    entries = zip_ranges.read_directory(lambda o, n: _read(path, o, n), size, "x")
    directory = size - max(e.end for e in entries.values())  # the central directory and the end records
    pickle = entries["archive/data.pkl"].size
    sent = sent_bytes(hub)
    assert sent <= 1.5 * encoder_bytes(expected) + directory + pickle + zip_ranges.TAIL, sent
    for start, end, _ in hub.ranges:  # never a byte of Stage B's big storages
        for k in range(BIG):
            e = entries[f"archive/data/{k}"]
            assert end <= e.offset + 128 or start >= e.end - 32, (start, end, k)
    ranges = hub.ranges  # type: ignore[attr-defined]
    twice = [(a, b) for i, a in enumerate(ranges) for b in ranges[i + 1 :] if a[0] < b[1] and b[0] < a[1]]
    assert twice == []
    assert find_encoder_weights(tmp_path / "data") == out
    assert not (tmp_path / "data" / ".ranges").exists() or not any((tmp_path / "data" / ".ranges").iterdir())
    print(f"sent {sent} bytes for {encoder_bytes(expected)} of tensors in {len(hub.ranges)} requests")


def _read(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(length)


def _overlaps(a: list[list[int]], b: list[list[int]]) -> list[tuple[int, int]]:
    return [(s1, e1) for s1, e1, n1 in a for s2, e2, n2 in b if s1 < s2 + n2 and s2 < s1 + n1 and n1 and n2]


def test_resumes_after_a_cancel_without_fetching_a_byte_twice(hub, big_checkpoint, tmp_path: Path) -> None:
    path, expected, _ = big_checkpoint
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, path)
    arrived = [0]
    stop = threading.Event()

    def on_bytes(n: int) -> None:
        arrived[0] += n
        if arrived[0] > 100_000:  # inside the small ranges before the 4 MB one: each is let finish
            stop.set()

    with pytest.raises(Cancelled):
        fetch(hub, tmp_path / "data", cancelled=stop.is_set, on_bytes=on_bytes)
    first = [list(r) for r in hub.ranges]
    assert find_encoder_weights(tmp_path / "data") is None
    hub.ranges.clear()  # type: ignore[attr-defined]
    out = fetch(hub, tmp_path / "data")
    second = [list(r) for r in hub.ranges]
    assert first and second
    assert _overlaps(first, second) == []
    got = load_file(out)
    assert all(torch.equal(got[k], t) for k, t in expected.items())


def test_a_dropped_connection_continues_mid_range(hub, big_checkpoint, tmp_path: Path) -> None:
    path, expected, _ = big_checkpoint
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, path)
    fetch(hub, tmp_path / "clean")
    clean = sent_bytes(hub)
    largest = max(hub.ranges, key=lambda r: r[1] - r[0])  # type: ignore[attr-defined]
    hub.ranges.clear()  # type: ignore[attr-defined]
    hub.faults.drop_after[EFFNET_FILE] = largest[0] + (largest[1] - largest[0]) // 2
    out = fetch(hub, tmp_path / "data")
    cut = [r for r in hub.ranges if r[2] < r[1] - r[0]]  # type: ignore[attr-defined]
    assert [r[:3] for r in cut] == [[largest[0], largest[1], (largest[1] - largest[0]) // 2]]
    assert sent_bytes(hub) == clean  # the rest of the cut range was asked for, nothing again
    half = largest[0] + (largest[1] - largest[0]) // 2
    assert [r[:2] for r in hub.ranges if r[1] == largest[1]] == [largest[:2], [half, largest[1]]]  # type: ignore[attr-defined]
    assert all(torch.equal(load_file(out)[k], t) for k, t in expected.items())


def test_a_fetch_cut_midway_continues_from_what_arrived(hub, big_checkpoint, tmp_path: Path) -> None:
    """As after a kill: half of the largest range on disk; the next run asks for the other half only."""
    path, expected, _ = big_checkpoint
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, path)
    fetch(hub, tmp_path / "clean")
    clean = [list(r) for r in hub.ranges]  # type: ignore[attr-defined]
    j = max(range(len(clean)), key=lambda i: clean[i][1] - clean[i][0])
    start, end, _ = clean[j]
    half = (end - start) // 2
    assert half > 2**20  # more than a cancel lets finish
    hub.ranges.clear()  # type: ignore[attr-defined]
    hub.faults.stall[EFFNET_FILE] = start + half  # the server sends half, then nothing
    arrived = [0]
    upto = sum(e - s for s, e, _ in clean[:j]) + half

    def on_bytes(n: int) -> None:
        arrived[0] += n

    with pytest.raises(Cancelled):
        fetch(hub, tmp_path / "data", cancelled=lambda: arrived[0] >= upto, on_bytes=on_bytes)
    first = [list(r) for r in hub.ranges]  # type: ignore[attr-defined]
    hub.ranges.clear()  # type: ignore[attr-defined]
    out = fetch(hub, tmp_path / "data")
    second = [list(r) for r in hub.ranges]  # type: ignore[attr-defined]
    assert [r[:2] for r in second if r[1] == end] == [[start + half, end]]
    assert _overlaps(first, second) == []
    assert sum(r[2] for r in first + second) == sum(r[2] for r in clean)
    assert all(torch.equal(load_file(out)[k], t) for k, t in expected.items())


def test_a_server_that_ignores_range_is_stopped_at_once(hub, big_checkpoint, tmp_path: Path) -> None:
    path, _, size = big_checkpoint
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, path)
    hub.faults.no_range = True
    with pytest.raises(NoRanges) as err:
        fetch(hub, tmp_path / "data")
    text = str(err.value)
    assert f"all {size / 1e9:.1f} GB of it" in text and "does not send parts of files" in text
    assert len(hub.ranges) == 1  # type: ignore[attr-defined]
    assert sent_bytes(hub) < 64 * 2**20, sent_bytes(hub)  # what sat in buffers: not a download of 6 GB
    assert find_encoder_weights(tmp_path / "data") is None


def test_spans_join_near_neighbours_only() -> None:
    E = zip_ranges.Entry
    a, b, c = E("a", 0, 100, 60, 0), E("b", 110, 200, 80, 0), E("c", 10_000, 10_100, 90, 0)
    spans = lean_fetch.plan_spans([c, a, b])
    assert [(s, e, [m.name for m in ms]) for s, e, ms in spans] == [
        (0, 200, ["a", "b"]),
        (10_000, 10_100, ["c"]),
    ]
