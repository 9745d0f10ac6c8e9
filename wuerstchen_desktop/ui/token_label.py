"""Under the prompt box: how many of CLIP's tokens each prompt uses, which parts carry a weight, and
what falls past the limit. Each line of the box is a prompt of its own and is counted on its own; a line
with wildcards is counted as it expands for the seed in the seed field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QWidget

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.prompts.wildcards import expand, has_wildcards

ERROR_STYLE = "color: #d9534f;"


class TokenLabel(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(self.tr("Token count"))
        self.setWordWrap(True)
        self.hide()

    def show_count(self, counter: Any, prompts: list[str], weighting: str, seed: int, folder: Path) -> None:
        """Count ``prompts`` (the box's lines) under ``weighting``; hidden without a counter."""
        if counter is None:
            self.hide()
            return
        texts = [_as_run(p, seed, folder) for p in prompts] or [""]
        counts = [counter.measure(t, weighting) for t in texts]
        longest = max(range(len(counts)), key=lambda i: counts[i].tokens)
        found = counts[longest]
        message = self.tr("{0} / {1} tokens").format(found.tokens, counter.limit)
        if len(counts) > 1:
            message = self.tr("Longest of {0} prompts: {1}").format(len(counts), message)
        weighted = [w for c in counts for w in c.weighted]
        if weighted:
            message += self.tr(" · {0} weighted").format(len(weighted))
        cut_line = next((i for i, c in enumerate(counts) if c.cut), None)
        if cut_line is not None:
            cut = counts[cut_line].cut
            shown = cut if len(cut) < 80 else cut[:77] + "…"
            message += self.tr(": “{0}” will be left out").format(shown)
            if len(counts) > 1:
                message += self.tr(" (line {0})").format(cut_line + 1)
        problem = next((c.problem for c in counts if c.problem), "")
        if problem:
            message += " · " + problem
        self.setText(message)
        tips = [self.tr("“{0}” × {1:.3g}").format(t.strip(), w) for t, w in weighted]
        if weighting != "a1111":
            tips.insert(0, self.tr("Brackets are read as plain text, as when this prompt's image was made."))
        self.setToolTip("\n".join(tips))
        self.setStyleSheet(ERROR_STYLE if cut_line is not None or problem else "")
        self.show()


def _as_run(prompt: str, seed: int, folder: Path) -> str:
    """The prompt as the job will run it: its wildcards expanded for ``seed`` where they can be."""
    if not has_wildcards(prompt):
        return prompt
    try:
        return expand(prompt, seed, folder)
    except InvalidParams:
        return prompt  # the line under the box says what is wrong
