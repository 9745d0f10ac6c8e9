"""``download --encoder``: the image encoder's weights out of a Stage B training checkpoint on a loopback
Hub, through the command line, checked against the encoder model and loadable by it."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.helpers.checkpoint_hub import (
    Storage,
    Stub,
    checkpoint_records,
    sent_bytes,
    serve_file,
    write_checkpoint,
)
from tests.helpers.hub_server import HubServer
from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.engine.image_encoder import expected_shapes, load_encoder
from wuerstchen_desktop.core.hub.catalogue import ENCODER_BYTES
from wuerstchen_desktop.core.hub.lean_fetch import EFFNET_FILE, EFFNET_KEY, EFFNET_REPO
from wuerstchen_desktop.core.hub.units import human
from wuerstchen_desktop.core.models.effnet_encoder import EffNetEncoder


def training_checkpoint(path: Path, state: dict[str, torch.Tensor]) -> None:
    """``state`` as ``effnet_state_dict`` beside a Stage B state of 400 MB (zeros, sparse on disk)."""
    storages = {"0": Storage("FloatStorage", 100_000_000)}
    stubs: dict[str, Stub] = {}
    for i, (name, t) in enumerate(state.items(), start=1):
        kind, itemsize = ("LongStorage", 8) if t.dtype == torch.int64 else ("FloatStorage", 4)
        s = Storage(kind, t.numel(), t.contiguous().numpy().tobytes(), itemsize=itemsize)
        storages[str(i)] = s
        stubs[name] = Stub(str(i), s, tuple(t.shape), tuple(t.contiguous().stride()))
    stage_b = {"down.weight": Stub("0", storages["0"], (100_000_000,), (1,))}
    tree = {"state_dict": stage_b, EFFNET_KEY: stubs, "iter": 3}
    write_checkpoint(path, checkpoint_records(tree, storages))


def test_download_encoder_fetches_only_the_encoder_and_the_model_loads_it(
    empty_hub: HubServer, prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys, encoder_dir: Path
) -> None:
    torch.manual_seed(1)
    state = EffNetEncoder().state_dict()
    checkpoint = tmp_path / EFFNET_FILE
    training_checkpoint(checkpoint, state)
    serve_file(empty_hub, EFFNET_REPO, EFFNET_FILE, checkpoint)
    argv = ["download", "--encoder", "--prior", str(prior_dir), "--decoder", str(decoder_dir)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "not the whole file" in err
    assert f"the image encoder's weights, {human(ENCODER_BYTES)}," in err and "free space in" in err
    bar = [line for line in err.splitlines() if line.startswith("[")]  # one line per file: not a tty
    assert bar and bar[-1].startswith("[" + "#" * 24 + "]") and EFFNET_FILE in bar[-1]
    (written,) = sorted(encoder_dir.glob("effnet-*.safetensors"))
    assert str(written) in out
    weights = sum(t.numel() * t.element_size() for t in state.values())
    assert sent_bytes(empty_hub) < 1.5 * weights  # of a 480 MB file
    loaded = load_encoder(written).state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)

    sent = sent_bytes(empty_hub)
    assert main(argv) == 0  # on disk: nothing fetched again
    assert sent_bytes(empty_hub) == sent


def test_an_encoder_of_another_shape_is_refused_and_nothing_is_kept(
    empty_hub: HubServer, prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys, encoder_dir: Path
) -> None:
    state = EffNetEncoder().state_dict()
    state["mapper.0.weight"] = torch.zeros(16, 1536, 1, 1)  # EfficientNetV2-L's width
    checkpoint = tmp_path / EFFNET_FILE
    training_checkpoint(checkpoint, state)
    serve_file(empty_hub, EFFNET_REPO, EFFNET_FILE, checkpoint)
    assert main(["download", "--encoder", "--prior", str(prior_dir), "--decoder", str(decoder_dir)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "'mapper.0.weight' has shape (16, 1536, 1, 1)" in errors[0]
    assert not list(encoder_dir.glob("effnet-*.safetensors"))


def test_the_catalogue_gives_the_encoders_size_to_the_byte() -> None:
    state = EffNetEncoder().state_dict()
    assert sum(t.numel() * t.element_size() for t in state.values()) == ENCODER_BYTES
    assert {k: tuple(t.shape) for k, t in state.items()} == expected_shapes()
