"""The prompt panel's token counter with weighted prompts: the count leaves brackets and weights out, says how
many parts carry a weight and lists them on hover, and says why BREAK cannot run."""

from __future__ import annotations

from pathlib import Path

from wuerstchen_desktop.core.engine.tokens import TokenCounter
from wuerstchen_desktop.ui.prompt_panel import PromptPanel


def test_the_counter_shows_the_weighted_parts(qtbot, prior_dir: Path) -> None:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.set_token_counter(TokenCounter(prior_dir / "tokenizer" / "tokenizer.json"))
    label = panel.token_label
    panel.prompt.setPlainText("a cat dog")
    assert label.text() == "5 / 77 tokens" and label.toolTip() == ""
    panel.prompt.setPlainText("a (cat:1.3) [dog]")
    assert label.text() == "5 / 77 tokens · 2 weighted"
    assert label.toolTip() == "“cat” × 1.3\n“dog” × 0.909"
    assert label.styleSheet() == ""
    panel.prompt.setPlainText("((a cat")  # unbalanced: counted all the same
    assert label.text() == "4 / 77 tokens · 1 weighted" and label.toolTip() == "“a cat” × 1.21"
    panel.prompt.setPlainText("a cat BREAK a dog")
    assert "BREAK" in label.text() and "Remove BREAK" in label.text()
    assert label.styleSheet() != ""


def test_each_line_is_counted_as_its_own_prompt(qtbot, prior_dir: Path) -> None:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    counter = TokenCounter(prior_dir / "tokenizer" / "tokenizer.json")
    panel.set_token_counter(counter)
    lines = ["a cat", "a red (dog:1.2) on a hill", "sea"]
    panel.prompt.setPlainText("\n".join(lines))
    longest = max(counter.count(line) for line in lines)
    assert longest < counter.count(" ".join(lines))  # the whole box would be more than any line
    assert panel.token_label.text() == f"Longest of 3 prompts: {longest} / 77 tokens · 1 weighted"
    panel.prompt.setPlainText("a cat\n" + "horse " * 80)
    text = panel.token_label.text()
    assert "will be left out (line 2)" in text and "horse" in text


def test_an_old_images_prompt_keeps_its_plain_brackets_until_it_is_changed(qtbot, prior_dir: Path) -> None:
    from wuerstchen_desktop.core.params import GenerationParams

    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.set_token_counter(TokenCounter(prior_dir / "tokenizer" / "tokenizer.json"))
    made = GenerationParams("a (red:1.5) cat").to_dict()
    old = GenerationParams.from_dict({k: v for k, v in made.items() if k != "weighting"})
    assert old.weighting == "none"  # a record written before weighting existed
    panel.set_params(old)
    assert panel.params().weighting == "none" and panel.params().prompt == "a (red:1.5) cat"
    assert "weighted" not in panel.token_label.text()
    assert "plain text" in panel.token_label.toolTip()
    panel.prompt.setPlainText("a (red:1.5) dog")
    assert panel.params().weighting == "a1111"
    assert panel.token_label.text().endswith("· 1 weighted")
    panel.set_params(GenerationParams("a (red:1.5) cat"))  # a new image's prompt weights as it did
    assert panel.params().weighting == "a1111"
