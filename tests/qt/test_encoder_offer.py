"""The image encoder's download offer in the real dialog, against a loopback Hub serving a Stage B training
checkpoint: size and free space first, only the encoder's bytes fetched, a server that ignores Range asked
about before the whole file is fetched, and the offer beside the models on a first run."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.helpers.checkpoint_hub import Storage, Stub, checkpoint_records, sent_bytes, serve_file
from tests.helpers.checkpoint_hub import write_checkpoint as write_archive
from tests.helpers.window import WAIT_MS
from wuerstchen_desktop.core.hub.catalogue import ENCODER_BYTES
from wuerstchen_desktop.core.hub.lean_fetch import EFFNET_FILE, EFFNET_KEY, EFFNET_REPO
from wuerstchen_desktop.core.hub.units import human
from wuerstchen_desktop.core.models.effnet_encoder import EffNetEncoder

PRIOR, DECODER = "warp-ai/wuerstchen-prior", "warp-ai/wuerstchen"
STAGE_B_NUMEL = 40_000_000  # 160 MB of Stage B beside the encoder, zeros (sparse on disk)


def training_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    state = EffNetEncoder().state_dict()
    storages = {"0": Storage("FloatStorage", STAGE_B_NUMEL)}
    stubs: dict[str, Stub] = {}
    for i, (name, t) in enumerate(state.items(), start=1):
        kind, itemsize = ("LongStorage", 8) if t.dtype == torch.int64 else ("FloatStorage", 4)
        s = Storage(kind, t.numel(), t.contiguous().numpy().tobytes(), itemsize=itemsize)
        storages[str(i)] = s
        stubs[name] = Stub(str(i), s, tuple(t.shape), tuple(t.contiguous().stride()))
    tree = {"state_dict": {"w": Stub("0", storages["0"], (STAGE_B_NUMEL,), (1,))}, EFFNET_KEY: stubs}
    write_archive(path, checkpoint_records(tree, storages))
    return state


def same(path: Path, state: dict[str, torch.Tensor]) -> bool:
    got = load_file(path)
    return got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state)


def test_get_encoder_shows_size_and_space_then_fetches_only_the_encoder(
    qtbot, make_window, hub, tmp_path: Path, encoder_dir: Path
) -> None:
    state = training_checkpoint(tmp_path / EFFNET_FILE)
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, tmp_path / EFFNET_FILE)
    window = make_window()
    window.get_encoder()
    dialog = window.first_run
    qtbot.waitUntil(dialog.download_button.isEnabled, timeout=WAIT_MS)
    text = dialog.message.text()
    assert f"{human(ENCODER_BYTES)} to download" in text and "Free space" in text
    assert sent_bytes(hub) == 0  # nothing fetched before the user says so
    assert not dialog.folder_button.isVisible() and not dialog.encoder_box.isVisible()
    reports: list = []
    window.downloads.worker.progress.connect(reports.append)
    with qtbot.waitSignal(dialog.ready, timeout=WAIT_MS):
        dialog.download_button.click()
    (written,) = encoder_dir.glob("effnet-*.safetensors")
    assert same(written, state)
    assert sent_bytes(hub) < 1.5 * ENCODER_BYTES  # of a 240 MB file
    assert reports and reports[-1].done == reports[-1].total


def test_a_server_that_ignores_range_is_asked_about_before_the_whole_file(
    qtbot, make_window, hub, tmp_path: Path, encoder_dir: Path
) -> None:
    state = training_checkpoint(tmp_path / EFFNET_FILE)
    size = (tmp_path / EFFNET_FILE).stat().st_size
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, tmp_path / EFFNET_FILE)
    hub.faults.no_range = True
    window = make_window()
    window.get_encoder()
    dialog = window.first_run
    qtbot.waitUntil(dialog.download_button.isEnabled, timeout=WAIT_MS)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: "Download all" in dialog.download_button.text(), timeout=WAIT_MS)
    assert human(size) in dialog.message.text() and human(size) in dialog.download_button.text()
    assert "does not send parts of files" in dialog.message.text()
    assert sent_bytes(hub) < 16 * 2**20  # stopped at once: what sat in buffers, not the file
    assert not list(encoder_dir.glob("effnet-*.safetensors"))
    with qtbot.waitSignal(dialog.ready, timeout=WAIT_MS):
        dialog.download_button.click()  # the user agrees
    (written,) = encoder_dir.glob("effnet-*.safetensors")
    assert same(written, state)
    assert not list(encoder_dir.rglob(EFFNET_FILE))  # the whole checkpoint is not kept


def test_the_first_run_offers_the_encoder_beside_the_models(
    qtbot, make_window, hub, tmp_path: Path, encoder_dir: Path
) -> None:
    state = training_checkpoint(tmp_path / EFFNET_FILE)
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, tmp_path / EFFNET_FILE)
    window = make_window(prior=PRIOR, decoder=DECODER)
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    dialog = window.first_run
    qtbot.waitUntil(dialog.download_button.isEnabled, timeout=WAIT_MS)
    assert dialog.encoder_box.isVisible() and not dialog.encoder_box.isChecked()  # optional
    assert dialog.encoder_box.text() == f"Start from a picture: image encoder, {human(ENCODER_BYTES)}"
    dialog.encoder_box.setChecked(True)
    with qtbot.waitSignal(window.service.engine_ready, timeout=WAIT_MS):
        dialog.download_button.click()
    qtbot.waitUntil(lambda: any(encoder_dir.glob("effnet-*.safetensors")), timeout=WAIT_MS)
    (written,) = encoder_dir.glob("effnet-*.safetensors")
    assert same(written, state)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)


def test_offline_the_encoder_is_not_fetched_and_the_dialog_says_where_to_change_it(
    qtbot, make_window, hub, tmp_path: Path
) -> None:
    import dataclasses

    training_checkpoint(tmp_path / EFFNET_FILE)
    serve_file(hub, EFFNET_REPO, EFFNET_FILE, tmp_path / EFFNET_FILE)
    window = make_window()
    window.settings = dataclasses.replace(window.settings, offline=True)
    window.get_encoder()
    dialog = window.first_run
    assert "Turn offline mode off in Settings" in dialog.message.text()
    assert not dialog.download_button.isEnabled()
    assert sent_bytes(hub) == 0
