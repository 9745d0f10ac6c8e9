"""The Stage C previewer: the architecture of the demo's published checkpoint, conversion of its pickle to
safetensors without running anything in it, and the approximate preview used without it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch import nn

from tests.helpers.demo_previewer import PUBLISHED_NAME, DemoPreviewer, published_layout, randomise
from wuerstchen_desktop.core.engine.live_preview import (
    approximate_preview,
    convert_previewer,
    load_previewer,
    preview_pixels,
    render_previews,
)
from wuerstchen_desktop.core.engine.outputs import to_pil
from wuerstchen_desktop.core.errors import CheckpointError
from wuerstchen_desktop.core.hub import catalogue
from wuerstchen_desktop.core.models import Previewer
from wuerstchen_desktop.testing import checkpoints

CONVS = (0, 3, 6, 9, 12, 15, 18)  # convolutions, the transposed ones (2x each) at 6 and 12
NORMS = (2, 5, 8, 11, 14, 17)


@pytest.fixture(scope="module")
def latents() -> torch.Tensor:
    return torch.randn(2, 16, 6, 5, generator=torch.Generator().manual_seed(0))


def reference_output(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    ref = DemoPreviewer(c_hidden=state["blocks.0.weight"].shape[0])
    ref.load_state_dict(state, strict=True)
    with torch.no_grad():
        return ref.eval()(x)  # type: ignore[no-any-return]


def test_full_size_previewer_names_shapes_and_parameter_count() -> None:
    with torch.device("meta"):
        model = Previewer()
        demo = DemoPreviewer()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in demo.state_dict().items()}
    assert len(model.blocks) == len(demo.blocks) == 19
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
    assert shapes["blocks.17.running_var"] == (128,)
    assert shapes["blocks.18.weight"] == (3, 128, 1, 1)
    assert sum(p.numel() for p in model.parameters()) == 3_765_891
    assert sum(t.numel() for t in model.state_dict().values()) == 3_769_481  # with batch norm statistics
    assert not model.training
    with torch.device("meta"):
        assert tuple(model(torch.empty(1, 16, 24, 24)).shape) == (1, 3, 96, 96)  # 1024x1024: 96x96


def test_the_published_file_converts_loads_and_previews(tmp_path: Path) -> None:
    """The whole published layout at full size, written from the demo's own network."""
    demo = randomise(DemoPreviewer(), seed=5)
    layout = published_layout(demo)
    pt = tmp_path / PUBLISHED_NAME
    torch.save(layout, pt)
    assert abs(pt.stat().st_size - catalogue.PREVIEWER_BYTES) < 5_000, pt.stat().st_size
    assert catalogue.OPTIONAL[catalogue.PREVIEWER_REPO].files[0].size == catalogue.PREVIEWER_BYTES
    opt = torch.load(pt, weights_only=True)["optimizer_state_dict"]  # the training state loads safely
    assert {k for s in opt["state"].values() for k in s} == {"step", "exp_avg", "exp_avg_sq"}
    assert len(opt["state"]) == len(list(demo.parameters()))

    dst = convert_previewer(pt, tmp_path / "previewer.safetensors")
    assert dst.stat().st_size == catalogue.PREVIEWER_CONVERTED_BYTES  # the weights alone
    model = load_previewer(dst)
    x = torch.randn(2, 16, 24, 24, generator=torch.Generator().manual_seed(1))
    pixels = preview_pixels(x, model)
    with torch.no_grad():
        expected = demo.eval()(x).clamp(0, 1)  # as the demo shows it
    assert pixels.shape == (2, 3, 96, 96)
    torch.testing.assert_close(pixels, expected, rtol=0, atol=1e-5)
    assert float(pixels.std()) > 0.05  # not a flat image
    assert [len(b) for b in render_previews(pixels)] == [96 * 96 * 3] * 2


def test_same_output_as_the_demo_network(state: dict[str, torch.Tensor], latents: torch.Tensor) -> None:
    ours = Previewer(c_hidden=32)
    ours.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = ours(latents)
    assert out.shape == (2, 3, 24, 20)
    assert torch.equal(out, reference_output(state, latents))
    # The batch norm statistics are used (eval mode), and they matter.
    assert not torch.allclose(out, DemoPreviewer(32).train()(latents).detach(), atol=1e-3)


def test_convert_then_load_gives_the_same_pixels(
    pt: Path, state: dict[str, torch.Tensor], latents: torch.Tensor, tmp_path: Path
) -> None:
    dst = convert_previewer(pt, tmp_path / "sub" / "previewer.safetensors")
    assert dst == tmp_path / "sub" / "previewer.safetensors"
    assert [p.name for p in dst.parent.iterdir()] == [dst.name]  # no temporary file left
    with safe_open(str(dst), framework="pt") as f:
        assert f.metadata()["c_hidden"] == "32"
        assert set(f.keys()) == set(state)  # the weights only, no training state
        assert f.get_tensor("blocks.2.num_batches_tracked").dtype == torch.int64
        assert torch.equal(f.get_tensor("blocks.17.running_var"), state["blocks.17.running_var"])
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


def test_tiny_writes_the_published_layout(pt: Path, tmp_path: Path) -> None:
    ours = torch.load(checkpoints.write_previewer_pt(tmp_path / "tiny.pt", c_hidden=32), weights_only=True)
    theirs = torch.load(pt, weights_only=True)
    assert set(ours) == set(theirs)
    assert set(ours["state_dict"]) == set(theirs["state_dict"])
    assert ours["optimizer_state_dict"]["param_groups"][0]["params"] == list(range(26))
    assert {k for s in ours["optimizer_state_dict"]["state"].values() for k in s} == {
        "step",
        "exp_avg",
        "exp_avg_sq",
    }
    assert set(ours["grad_scaler_state_dict"]) == set(theirs["grad_scaler_state_dict"])


def test_a_bare_state_dict_is_accepted(state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    torch.save(state, tmp_path / "bare.pt")
    model = load_previewer(convert_previewer(tmp_path / "bare.pt", tmp_path / "bare.safetensors"))
    assert model.c_hidden == 32


def test_stable_cascades_8x_previewer_is_refused(tmp_path: Path) -> None:
    """The other previewer of the same name (three 2x upsamplings, 25 modules) does not fit."""
    other = nn.Sequential(*DemoPreviewer(32).blocks[:18], nn.ConvTranspose2d(8, 8, 2, stride=2))
    torch.save({"state_dict": {f"blocks.{k}": v for k, v in other.state_dict().items()}}, tmp_path / "sc.pt")
    with pytest.raises(CheckpointError, match=r"'blocks\.18\.weight' has shape \(8, 8, 2, 2\)"):
        convert_previewer(tmp_path / "sc.pt", tmp_path / "x.safetensors")


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
    assert out.shape == (2, 3, 24, 20) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert float(out.std()) > 0.1  # stretched over the range, not a flat grey
    assert torch.equal(out, approximate_preview(latents.clone()))  # deterministic
    assert not torch.allclose(out, approximate_preview(latents.flip(-1)))  # other latents, other pixels
    assert not torch.allclose(out[0], out[1])

    # The layout shows: a patch that differs from its surroundings stands out where it is.
    x = torch.randn(1, 16, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.1
    x[:, :, :4, :4] += torch.linspace(-2, 2, 16).view(1, 16, 1, 1)
    img = approximate_preview(x)[0]
    corner, rest = img[:, 2:14, 2:14], img[:, 20:, 20:]
    assert (corner.mean(dim=(1, 2)) - rest.mean(dim=(1, 2))).abs().max() > 0.3


def test_approximate_preview_of_flat_or_broken_latents_is_grey() -> None:
    flat = approximate_preview(torch.ones(1, 16, 4, 4))
    assert torch.allclose(flat, torch.full_like(flat, 0.5))
    broken = torch.randn(1, 16, 4, 4)
    broken[0, 3, 1, 1] = float("nan")
    broken[0, 4, 2, 2] = float("inf")
    out = approximate_preview(broken.to(torch.bfloat16))
    assert out.shape == (1, 3, 16, 16) and torch.isfinite(out).all()
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
