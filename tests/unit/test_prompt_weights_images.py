"""Weighting through the tiny pipeline: a weight of 1 is no weight at all, a weight changes the image for
the prompt and the negative prompt alike, the embedding cache tells weightings apart, and an old record's
parentheses keep their old meaning. The text towers end like trained ones (tests/helpers/text_towers.py), so
A1111's rescale to the unweighted mean is well defined."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.text_towers import write_repos
from wuerstchen_desktop.core.engine.prompt_weights import A1111, NONE
from wuerstchen_desktop.core.params import GenerationParams

SMALL = GenerationParams("a cat", width=256, height=256, seed=3, prior_steps=3, decoder_steps=2)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory):
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

    prior, decoder = write_repos(tmp_path_factory.mktemp("trained-text"))
    return Pipeline(prior_source(str(prior)), decoder_source(str(decoder)))


def pixels(pipeline, params: GenerationParams) -> torch.Tensor:
    return pipeline.generate(params).pixels


def test_a_weight_of_one_is_exactly_no_weight(pipeline) -> None:
    plain = pixels(pipeline, SMALL.replace(prompt="a red cat", negative_prompt="dog"))
    same = pixels(pipeline, SMALL.replace(prompt="a (red:1.0) cat", negative_prompt="(dog:1.0)"))
    assert torch.equal(plain, same)


def test_a_weight_changes_the_image_in_both_prompts(pipeline) -> None:
    base = SMALL.replace(prompt="a red cat", negative_prompt="a dog")
    plain = pixels(pipeline, base)
    up = pixels(pipeline, base.replace(prompt="a (red:1.5) cat"))
    down = pixels(pipeline, base.replace(prompt="a [red] cat"))
    negative = pixels(pipeline, base.replace(negative_prompt="a (dog:1.5)"))
    for weighted in (up, down, negative):
        assert (weighted - plain).abs().max() > 1e-3
    assert (up - down).abs().max() > 1e-3


def test_the_embedding_cache_keys_on_the_weighting(pipeline) -> None:
    encoder = pipeline.prior_text
    as_text = encoder.encode(["a (cat:1.5)"], NONE)
    weighted = encoder.encode(["a (cat:1.5)"], A1111)
    assert not torch.equal(as_text, weighted)
    assert torch.equal(encoder.encode(["a (cat:1.5)"], NONE), as_text)  # from the cache, each its own
    assert torch.equal(encoder.encode(["a (cat:1.5)", "a cat"], [A1111, NONE])[0], weighted[0])
    assert torch.equal(encoder.encode(["(a cat:1)"], A1111), encoder.encode(["a cat"], NONE))
    # Only the weighted token moves; the rest are rescaled by one factor to the unweighted mean.
    unweighted = encoder.encode(["a cat"], NONE)[0]
    assert abs(unweighted.mean()) > 0.1 * unweighted.abs().mean()  # a mean worth keeping
    assert torch.allclose(weighted[0].mean(), unweighted.mean(), atol=1e-6)
    ratio = weighted[0] / unweighted
    scale = ratio[0, 0]
    assert torch.allclose(ratio[[0, 1, 3]], scale.expand(3, ratio.shape[1]), rtol=1e-4)
    assert torch.allclose(ratio[2], (1.5 * scale).expand(ratio.shape[1]), rtol=1e-4)


def test_brackets_and_weights_do_not_count_against_the_limit(pipeline) -> None:
    prompt = " ".join(["(a:1.2) red cat"] * 25)  # 75 tokens of words: they all fit
    assert pipeline.prompt_warnings([SMALL.replace(prompt=prompt)]) == []
    notes = pipeline.prompt_warnings([SMALL.replace(prompt=prompt, weighting=NONE)])
    assert len(notes) == 1 and "only 75 fit" in notes[0]  # as plain text the brackets are tokens
    notes = pipeline.prompt_warnings([SMALL.replace(prompt=prompt + " (astronaut horse:1.3)")])
    assert len(notes) == 1 and "astronaut horse" in notes[0] and "1.3" not in notes[0]


def test_an_old_record_with_parentheses_keeps_its_meaning(pipeline) -> None:
    made = SMALL.replace(prompt="a (red:1.5) cat, [dog]", negative_prompt="(blurry)")
    old = {k: v for k, v in made.to_dict().items() if k != "weighting"}  # as records were written before
    reread = GenerationParams.from_dict(old)
    assert reread.weighting == NONE and reread.prompt == made.prompt
    # The brackets are words to the tokenizer, as they were: the same pixels as those words typed plainly
    # into a job that reads no weights, and not those of the weighted reading.
    old_pixels = pixels(pipeline, reread)
    assert torch.equal(old_pixels, pixels(pipeline, made.replace(weighting=NONE)))
    assert (old_pixels - pixels(pipeline, made)).abs().max() > 1e-3
