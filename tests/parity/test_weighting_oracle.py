"""Weighted embeddings against sources we did not write, on the tiny CLIP encoders of both stages.

compel (the library the official Würstchen demo calls with the prior's tokenizer and text encoder) is the
oracle for everything but the final weighting rule: its own parser reads the equivalent compel syntax to the
same parts and weights, its tokenizer layout puts each weight on the same tokens, and its unweighted
encoding is ours. Its weighting rule is its own (``empty + (z - empty) * w`` up, a blend with the prompt
masked out down), not A1111's, and the syntax artists paste is A1111's, so the rule applied to compel's
tokens is A1111's ``EmphasisOriginal`` from ``modules/sd_emphasis.py``:
https://github.com/AUTOMATIC1111/stable-diffusion-webui/blob/master/modules/sd_emphasis.py
(``z * multipliers``, then ``z * (original_mean / new_mean)``). An old record is checked against the
reference pipeline, which reads brackets as the words they are. The text towers end like trained ones
(tests/helpers/text_towers.py), so the rescale to the unweighted mean is well defined."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from compel import Compel
from compel.embeddings_provider import EmbeddingsProvider
from compel.prompt_parser import PromptParser
from transformers import CLIPTextModel, CLIPTokenizer

from tests.helpers.reference import build_reference
from tests.helpers.text_towers import write_repos
from wuerstchen_desktop.core.engine.prompt_weights import A1111, NONE, parse
from wuerstchen_desktop.core.params import GenerationParams

# A1111's syntax, and the same weights in compel's: "+" is x1.1 in both, but compel's "-" is x0.9 where
# A1111's [ ] divides by 1.1, so a down-weight is written out as a number.
EQUIVALENT = [
    ("a (red:1.3) cat, blurry", "a (red)1.3 cat, blurry"),
    ("a ((red)) cat", "a red++ cat"),
    ("(a cat:1.5) on a [mat]", "(a cat)1.5 on a (mat)0.9090909090909091"),
    ("a (((house:1.3))) sky", "a (((house)1.3)+)+ sky"),
    ("the (dog:0.5) and the (horse:2.5)", "the (dog)0.5 and the (horse)2.5"),
    (" ".join(["(a:1.2) red cat"] * 30), " ".join(["(a)1.2 red cat"] * 30)),  # truncated at 75 tokens
]


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_repos(tmp_path_factory.mktemp("trained-text"))


@pytest.fixture(scope="module")
def pipeline(repos: tuple[Path, Path]):
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

    return Pipeline(prior_source(str(repos[0])), decoder_source(str(repos[1])))


@pytest.fixture(scope="module", params=["prior", "decoder"])
def side(request, repos: tuple[Path, Path], pipeline):
    root = repos[0] if request.param == "prior" else repos[1]
    ours = pipeline.prior_text if request.param == "prior" else pipeline.decoder_text
    tokenizer = CLIPTokenizer.from_pretrained(root / "tokenizer")
    encoder = CLIPTextModel.from_pretrained(root / "text_encoder").eval()
    # The reference passes the attention mask with 0 at the padding (WUERSTCHEN.md), and so do we.
    provider = EmbeddingsProvider(tokenizer, encoder, padding_attention_mask_value=0, device="cpu")
    return ours, provider, Compel(tokenizer, encoder, padding_attention_mask_value=0, device="cpu")


def a1111_emphasis(z: torch.Tensor, multipliers: torch.Tensor) -> torch.Tensor:
    original_mean = z.mean()
    z = z * multipliers.reshape((*multipliers.shape, 1)).expand(z.shape)
    return z * (original_mean / z.mean())


@pytest.mark.parametrize(("ours_text", "compel_text"), EQUIVALENT)
@torch.inference_mode()
def test_weighted_embeddings_match_compel_tokens_under_the_a1111_rule(side, ours_text, compel_text) -> None:
    ours, provider, _ = side
    (prompt,) = PromptParser().parse_conjunction(compel_text).prompts
    fragments = [f.text for f in prompt.children]
    weights = [f.weight for f in prompt.children]
    assert [(t.strip(), w) for t, w in parse(ours_text).weighted] == [
        (t, w) for t, w in zip(fragments, weights, strict=True) if w != 1.0
    ]
    tokens, per_token, mask = provider.get_token_ids_and_expand_weights(fragments, weights, device="cpu")
    assert tokens.shape == (77,)
    z = provider.build_weighted_embedding_tensor(tokens, torch.ones_like(per_token), mask)[0]
    expected = a1111_emphasis(z, per_token)
    got = ours.encode([ours_text], A1111)[0]
    assert not torch.allclose(got, z, atol=1e-3)  # the weights did something
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@torch.inference_mode()
def test_an_unweighted_prompt_is_compels_own_encoding(side) -> None:
    ours, _, compel = side
    for text, compel_text, weighting in [
        ("a red cat", "a red cat", A1111),
        ("(a red cat:1.0)", "(a red cat)1.0", A1111),
        ("the (dog:1.2) cat", "the \\(dog:1.2\\) cat", NONE),  # an old record: brackets are words
    ]:
        torch.testing.assert_close(ours.encode([text], weighting)[0], compel(compel_text)[0])


def test_an_old_record_with_brackets_is_the_reference_image(pipeline, repos: tuple[Path, Path]) -> None:
    reference = build_reference(*repos)
    old = {
        "prompt": "a (red:1.5) cat, [dog]",
        "negative_prompt": "(blurry)",
        "width": 256,
        "height": 256,
        "seed": 4,
        "prior_steps": 3,
        "decoder_steps": 2,
    }
    params = GenerationParams.from_dict(old)  # written before weighting existed: no "weighting" key
    ours = pipeline.generate(params).pixels
    ref = reference(
        params.prompt,
        negative_prompt=params.negative_prompt,
        width=256,
        height=256,
        prior_num_inference_steps=3,
        num_inference_steps=2,
        prior_guidance_scale=params.prior_guidance,
        decoder_guidance_scale=params.decoder_guidance,
        generator=torch.Generator("cpu").manual_seed(4),
        output_type="pt",
    ).images
    assert (ours - ref).abs().max() < 1e-3
    weighted = pipeline.generate(params.replace(weighting=A1111)).pixels
    assert (weighted - ref).abs().max() > 1e-2
