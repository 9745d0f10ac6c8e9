from __future__ import annotations

from pathlib import Path

from wuerstchen_desktop.core.engine.tokens import TokenCounter, counter_for_prior


def test_counts_equal_the_pipeline_tokenizer(pipeline, prior_dir: Path) -> None:
    counter = counter_for_prior(str(prior_dir))
    assert counter is not None
    for text in ["", "a cat", "a photo of the red dog, painting", "日本語 ü ✓", "a red cat " * 40]:
        assert counter.count(text) == pipeline.prior_text.count_tokens(text)


def test_the_words_past_the_limit(prior_dir: Path) -> None:
    counter = TokenCounter(prior_dir / "tokenizer" / "tokenizer.json")
    assert counter.cut_words("a cat") == ""
    text = " ".join(["a red cat"] * 30 + ["astronaut horse"])
    cut = counter.cut_words(text)
    assert cut.endswith("astronaut horse") and len(cut.split()) == 17


def test_no_counter_for_a_prior_that_is_not_on_disk(tmp_path: Path) -> None:
    assert counter_for_prior(str(tmp_path / "missing")) is None
