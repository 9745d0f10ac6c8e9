"""The Stage C previewer: the architecture of the published checkpoint, conversion of its pickle to
safetensors without ever unpickling it, and the approximate preview used without it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch import nn

from wuerstchen_desktop.core import tiny
from wuerstchen_desktop.core.errors import CheckpointError, WuerstchenError
from wuerstchen_desktop.core.models import Previewer
from wuerstchen_desktop.core.previewer import (
    approximate_preview,
    convert_previewer,
    load_previewer,
    preview_pixels,
    render_previews,
)
from wuerstchen_desktop.core.results import to_pil

CONVS = (0, 3, 6, 9, 12, 15, 18, 21, 24)  # convolutions, the transposed ones at 6, 12 and 18
NORMS = (2, 5, 8, 11, 14, 17, 20, 23)


class Reference(nn.Module):
    """The published architecture written out plainly, layer by layer, for comparison."""

    def __init__(self, c_hidden: int, c_in: int = 16, c_out: int = 3) -> None:
        super().__init__()
        h, h2, h4 = c_hidden, c_hidden // 2, c_hidden // 4
        self.blocks = nn.Sequential(
            nn.Conv2d(c_in, h, 1), nn.GELU(), nn.BatchNorm2d(h),
            nn.Conv2d(h, h, 3, padding=1), nn.GELU(), nn.BatchNorm2d(h),
            nn.ConvTranspose2d(h, h2, 2, stride=2), nn.GELU(), nn.BatchNorm2d(h2),
            nn.Conv2d(h2, h2, 3, padding=1), nn.GELU(), nn.BatchNorm2d(h2),
            nn.ConvTranspose2d(h2, h4, 2, stride=2), nn.GELU(), nn.BatchNorm2d(h4),
            nn.Conv2d(h4, h4, 3, padding=1), nn.GELU(), nn.BatchNorm2d(h4),
            nn.ConvTranspose2d(h4, h4, 2, stride=2), nn.GELU(), nn.BatchNorm2d(h4),
            nn.Conv2d(h4, h4, 3, padding=1), nn.GELU(), nn.BatchNorm2d(h4),
            nn.Conv2d(h4, c_out, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)  # type: ignore[no-any-return]


def _make_marker(path: str) -> None:
    Path(path).write_text("code ran", encoding="utf-8")


class Trap:
    """Unpickling this runs ``_make_marker``: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_make_marker, (self.marker,))


@pytest.fixture(scope="module")
def pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.write_previewer_pt(tmp_path_factory.mktemp("previewer") / "previewer.pt", c_hidden=32, seed=3)


@pytest.fixture(scope="module")
def state(pt: Path) -> dict[str, torch.Tensor]:
    return dict(torch.load(pt, map_location="cpu", weights_only=True)["state_dict"])


@pytest.fixture(scope="module")
def latents() -> torch.Tensor:
    return torch.randn(2, 16, 6, 5, generator=torch.Generator().manual_seed(0))


def reference_output(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    ref = Reference(c_hidden=state["blocks.0.weight"].shape[0])
    ref.load_state_dict(state, strict=True)
    with torch.no_grad():
        return ref.eval()(x)  # type: ignore[no-any-return]


def test_full_size_previewer_names_shapes_and_parameter_count() -> None:
    with torch.device("meta"):
        model = Previewer()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert set(shapes) == {
        *(f"blocks.{i}.{n}" for i in CONVS for n in ("weight", "bias")),
        *(
            f"blocks.{i}.{n}"
            for i in NORMS
            for n in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
        ),
    }
    assert shapes["blocks.0.weight"] == (512, 16, 1, 1)
    assert shapes["blocks.3.weight"] == (512, 512, 3, 3)
    assert shapes["blocks.6.weight"] == (512, 256, 2, 2)  # transposed: (in, out, k, k)
    assert shapes["blocks.12.weight"] == (256, 128, 2, 2)
    assert shapes["blocks.18.weight"] == (128, 128, 2, 2)
    assert shapes["blocks.23.running_var"] == (128,)
    assert shapes["blocks.24.weight"] == (3, 128, 1, 1)
    assert sum(p.numel() for p in model.parameters()) == 3_979_651
    assert sum(t.numel() for t in model.state_dict().values()) == 3_983_755  # with batch norm statistics
    assert not model.training
    with torch.device("meta"):
        assert set(Reference(512).state_dict()) == set(shapes)


def test_same_output_as_the_plain_reference(state: dict[str, torch.Tensor], latents: torch.Tensor) -> None:
    ours = Previewer(c_hidden=32)
    ours.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = ours(latents)
    assert out.shape == (2, 3, 48, 40)
    assert torch.equal(out, reference_output(state, latents))
    # The batch norm statistics are used (eval mode), and they matter.
    assert not torch.allclose(out, Reference(32).train()(latents).detach(), atol=1e-3)


def test_convert_then_load_gives_the_same_pixels(
    pt: Path, state: dict[str, torch.Tensor], latents: torch.Tensor, tmp_path: Path
) -> None:
    dst = convert_previewer(pt, tmp_path / "sub" / "previewer.safetensors")
    assert dst == tmp_path / "sub" / "previewer.safetensors"
    assert [p.name for p in dst.parent.iterdir()] == [dst.name]  # no temporary file left
    with safe_open(str(dst), framework="pt") as f:
        assert f.metadata()["c_hidden"] == "32"
        assert f.get_tensor("blocks.2.num_batches_tracked").dtype == torch.int64
        assert torch.equal(f.get_tensor("blocks.20.running_var"), state["blocks.20.running_var"])
    model = load_previewer(dst)
    assert isinstance(model, Previewer) and model.c_hidden == 32 and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        assert torch.equal(model(latents), reference_output(state, latents))
    pixels = preview_pixels(latents, model)
    assert torch.equal(pixels, reference_output(state, latents).clamp(0, 1))

    half = load_previewer(dst, dtype=torch.bfloat16)
    assert half.blocks[0].weight.dtype == torch.bfloat16
    assert half.state_dict()["blocks.2.num_batches_tracked"].dtype == torch.int64


def test_a_bare_state_dict_is_accepted(state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    torch.save(state, tmp_path / "bare.pt")
    model = load_previewer(convert_previewer(tmp_path / "bare.pt", tmp_path / "bare.safetensors"))
    assert model.c_hidden == 32


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(
    state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    # The trap is real: an ordinary unpickler runs it.
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(Trap(proof)))
    assert proof.read_text(encoding="utf-8") == "code ran"

    marker = tmp_path / "marker"
    hostile = tmp_path / "hostile.pt"
    torch.save({"state_dict": state, "extra": Trap(marker)}, hostile)
    dst = tmp_path / "out" / "previewer.safetensors"
    with pytest.raises(CheckpointError, match="could run code when loaded; it was refused") as info:
        convert_previewer(hostile, dst)
    assert "download it again" in info.value.hint and str(hostile) in info.value.hint
    assert not marker.exists() and not dst.exists()

    # A plain pickle (not torch's zip format) holding only the trap: the same, in any pickle protocol.
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        plain = tmp_path / f"plain-{protocol}.pt"
        plain.write_bytes(pickle.dumps(Trap(marker), protocol=protocol))
        with pytest.raises(CheckpointError, match="refused"):
            convert_previewer(plain, dst)
        assert not marker.exists() and not dst.exists()


@pytest.mark.parametrize("keep", [0.5, 0.01, 0.0])
def test_a_truncated_file_is_refused_with_a_clear_message(pt: Path, tmp_path: Path, keep: float) -> None:
    data = pt.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=r"cut\.pt is damaged or incomplete") as info:
        convert_previewer(cut, tmp_path / "x.safetensors")
    assert "download it again" in info.value.hint
    assert not (tmp_path / "x.safetensors").exists()


def test_not_a_checkpoint_at_all(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello world" * 100)
    with pytest.raises(WuerstchenError, match=r"junk\.pt is damaged"):
        convert_previewer(junk, tmp_path / "x.safetensors")
    torch.save({"state_dict": [1, 2, 3]}, tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        convert_previewer(tmp_path / "list.pt", tmp_path / "x.safetensors")
    torch.save({"blocks.0.weight": 3}, tmp_path / "int.pt")
    with pytest.raises(CheckpointError, match=r"'blocks\.0\.weight', which is not a named tensor"):
        convert_previewer(tmp_path / "int.pt", tmp_path / "x.safetensors")
    with pytest.raises(CheckpointError, match="Missing previewer file"):
        convert_previewer(tmp_path / "absent.pt", tmp_path / "x.safetensors")


def _set(key: str, *shape: int):
    return lambda s: s.update({key: torch.zeros(*shape)})


def _drop(key: str):
    return lambda s: s.pop(key)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("blocks.3.weight", 32, 32, 1, 1), r"'blocks\.3\.weight' has shape \(32, 32, 1, 1\)"),
        (_set("blocks.24.weight", 4, 8, 1, 1), r"'blocks\.24\.weight' has shape"),
        (_set("blocks.8.running_mean", 17), r"'blocks\.8\.running_mean' has shape"),
        (_drop("blocks.24.bias"), r"missing the tensors blocks\.24\.bias"),
        (_drop("blocks.5.running_var"), r"missing the tensors blocks\.5\.running_var"),
        (_set("blocks.25.weight", 3), r"'blocks\.25\.weight', which the previewer"),
        (_set("module.blocks.0.weight", 3), r"'module\.blocks\.0\.weight'"),
        (_drop("blocks.0.weight"), r"has no tensor 'blocks\.0\.weight'"),
        (_set("blocks.0.weight", 30, 16, 1, 1), r"'blocks\.0\.weight' has shape"),
        (_set("blocks.0.weight", 32, 4, 1, 1), r"'blocks\.0\.weight' has shape"),
    ],
)
def test_wrong_tensors_are_named(state, tmp_path: Path, change, message: str) -> None:
    broken = dict(state)
    change(broken)
    torch.save({"state_dict": broken}, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match=message):
        convert_previewer(tmp_path / "broken.pt", tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_a_damaged_conversion_is_refused_when_loading(pt: Path, tmp_path: Path) -> None:
    dst = convert_previewer(pt, tmp_path / "p.safetensors")
    dst.write_bytes(dst.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="damaged or incomplete") as info:
        load_previewer(dst)
    assert "Delete" in info.value.hint
    with pytest.raises(CheckpointError, match="Missing previewer"):
        load_previewer(tmp_path / "absent.safetensors")


def test_approximate_preview_shape_range_and_layout(latents: torch.Tensor) -> None:
    out = approximate_preview(latents)
    assert out.shape == (2, 3, 48, 40) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert float(out.std()) > 0.1  # stretched over the range, not a flat grey
    assert torch.equal(out, approximate_preview(latents.clone()))  # deterministic
    assert not torch.allclose(out, approximate_preview(latents.flip(-1)))  # other latents, other pixels
    assert not torch.allclose(out[0], out[1])

    # The layout shows: a patch that differs from its surroundings stands out where it is.
    x = torch.randn(1, 16, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.1
    x[:, :, :4, :4] += torch.linspace(-2, 2, 16).view(1, 16, 1, 1)
    img = approximate_preview(x)[0]
    corner, rest = img[:, 4:28, 4:28], img[:, 40:, 40:]
    assert (corner.mean(dim=(1, 2)) - rest.mean(dim=(1, 2))).abs().max() > 0.3


def test_approximate_preview_of_flat_or_broken_latents_is_grey() -> None:
    flat = approximate_preview(torch.ones(1, 16, 4, 4))
    assert torch.allclose(flat, torch.full_like(flat, 0.5))
    broken = torch.randn(1, 16, 4, 4)
    broken[0, 3, 1, 1] = float("nan")
    broken[0, 4, 2, 2] = float("inf")
    out = approximate_preview(broken.to(torch.bfloat16))
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="expected latents"):
        approximate_preview(torch.zeros(16, 4, 4))
    assert torch.equal(preview_pixels(broken), approximate_preview(broken))


def test_render_previews_rounds_like_the_finished_images() -> None:
    images = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(2)) * 1.2 - 0.1
    images[0, 0, 0, 0] = 0.5 / 255  # exactly half a level: rounds as to_pil rounds
    frames = render_previews(images)
    assert [len(f) for f in frames] == [5 * 7 * 3] * 2
    assert frames == [im.tobytes() for im in to_pil(images)]
    with pytest.raises(ValueError, match="expected images"):
        render_previews(torch.zeros(2, 4, 5, 7))
