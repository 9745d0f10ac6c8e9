from __future__ import annotations

import dataclasses

import pytest

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import GenerationParams, nearest_valid_sizes


def test_defaults_are_valid_and_frozen() -> None:
    p = GenerationParams("a cat")
    assert (p.width, p.height, p.prior_steps, p.prior_guidance, p.decoder_steps) == (
        1024,
        1024,
        None,
        4.0,
        12,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "named"),
    [(250, "256"), (1000, "896 or 1024"), (4096, "2048"), (129, "256"), (2047, "1920 or 2048")],
)
def test_bad_sizes_name_the_nearest_valid_ones(value: int, named: str) -> None:
    with pytest.raises(InvalidParams) as info:
        GenerationParams("a cat", width=value)
    assert f"Use {named}." in str(info.value)
    assert "multiple of 128" in str(info.value)


def test_nearest_valid_sizes() -> None:
    assert nearest_valid_sizes(1000) == (896, 1024)
    assert nearest_valid_sizes(100) == (256,)
    assert nearest_valid_sizes(9000) == (2048,)


@pytest.mark.parametrize("size", [256, 384, 1024, 1536, 2048])
def test_valid_sizes(size: int) -> None:
    assert GenerationParams("x", width=size, height=size).width == size


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prior_steps", 0),
        ("prior_steps", 201),
        ("decoder_steps", 0),
        ("decoder_steps", 1.5),
        ("prior_guidance", -1.0),
        ("prior_guidance", float("nan")),
        ("decoder_guidance", 31.0),
        ("images", 0),
        ("images", 17),
        ("seed", -1),
        ("seed", 2**63),
        ("width", "512"),
        ("height", True),
        ("prompt", None),
        ("negative_prompt", 3),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidParams):
        GenerationParams(**{"prompt": "a cat", field: value})  # type: ignore[arg-type]


def test_seed_range_leaves_room_for_every_image() -> None:
    GenerationParams("x", seed=2**63 - 4, images=4)
    with pytest.raises(InvalidParams):
        GenerationParams("x", seed=2**63 - 3, images=4)


def test_for_image_and_dict_round_trip() -> None:
    p = GenerationParams(
        "a cat\nin snow",
        negative_prompt="blur",
        seed=10,
        images=3,
        prior_steps=7,
        prior_guidance=3.25,
        decoder_guidance=1.5,
    )
    second = p.for_image(2)
    assert (second.seed, second.images, second.prompt) == (12, 1, p.prompt)
    assert GenerationParams.from_dict(p.to_dict()) == p
    with pytest.raises(IndexError):
        p.for_image(3)


def test_from_dict_refuses_unknown_and_incomplete() -> None:
    with pytest.raises(InvalidParams, match="Unknown parameter"):
        GenerationParams.from_dict({"prompt": "x", "sampler": "euler"})
    with pytest.raises(InvalidParams, match="Incomplete"):
        GenerationParams.from_dict({"seed": 1})


def test_aspect_presets_are_valid_sizes_near_a_megapixel() -> None:
    from wuerstchen_desktop.core.params import ASPECT_RATIOS, size_for_aspect

    for name, ratio in ASPECT_RATIOS.items():
        w, h = size_for_aspect(ratio)
        GenerationParams("x", width=w, height=h)
        assert abs(w / h / ratio - 1) < 0.05, name
        assert 0.7 < w * h / 1024**2 < 1.4, name
    assert size_for_aspect(1.0) == (1024, 1024)
    assert size_for_aspect(3 / 2) == (1152, 768)


def test_stage_c_size() -> None:
    from wuerstchen_desktop.core.params import stage_c_size

    assert stage_c_size(1024, 1024) == (24, 24)
    assert stage_c_size(1536, 1536) == (36, 36)
    assert stage_c_size(256, 384) == (9, 6)  # rows first
    assert stage_c_size(256, 384, multiple=32) == (12, 8)


def test_decoder_seed_follows_the_image_index_and_is_validated() -> None:
    p = GenerationParams("x", seed=10, images=3, decoder_seed=100)
    assert (p.for_image(2).seed, p.for_image(2).decoder_seed) == (12, 102)
    assert GenerationParams("x", seed=1).for_image(0).decoder_seed is None
    with pytest.raises(InvalidParams, match="decoder seed"):
        GenerationParams("x", decoder_seed=-1)
