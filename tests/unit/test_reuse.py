from __future__ import annotations

from wuerstchen_desktop.core.imagefile.record import ImageParameters, ImageRecord
from wuerstchen_desktop.core.imagefile.reuse import carry_over
from wuerstchen_desktop.core.params import GenerationParams

CURRENT = GenerationParams("old", seed=1, width=1024, height=1024, images=2)


def test_our_files_give_back_the_exact_job() -> None:
    job = GenerationParams(
        "a cat",
        negative_prompt="dog",
        seed=9,
        width=768,
        height=512,
        prior_steps=7,
        prior_guidance=3.5,
        decoder_steps=5,
        decoder_guidance=2.0,
        decoder_seed=40,
    )
    params, notes = carry_over(ImageParameters.from_record(ImageRecord(job)), CURRENT)
    assert params == job and notes == []


def test_another_tools_file_gives_what_fits_and_says_the_rest() -> None:
    found = ImageParameters(
        "a1111", "a castle", "blurry", seed=1234, steps=20, guidance=7.5, width=512, height=768
    )
    params, notes = carry_over(found, CURRENT)
    assert (params.prompt, params.negative_prompt, params.seed, params.prior_guidance) == (
        "a castle",
        "blurry",
        1234,
        7.5,
    )
    assert (params.width, params.height) == (512, 768)
    assert params.prior_steps is None and params.images == 2
    assert len(notes) == 1 and "20 steps" in notes[0]


def test_unsuitable_values_are_kept_and_named() -> None:
    found = ImageParameters("a1111", "x", seed=-5, guidance=99.0, width=1000, height=700)
    params, notes = carry_over(found, CURRENT)
    assert (params.seed, params.prior_guidance, params.width, params.height) == (1, 4.0, 1024, 1024)
    assert len(notes) == 3
    assert any("1000×700" in n and "1024×640" in n for n in notes)
