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
