"""The prompt box, which takes one prompt per line, and the line under it that shows what its wildcards
expand to."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QWidget

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.prompts.lines import box_prompts, box_text
from wuerstchen_desktop.core.prompts.wildcards import expand, has_wildcards

SHOWN_CHARS = 160  # of an expanded prompt under the box; the queue and the history show it whole


class PromptEdit(QPlainTextEdit):
    """The prompt box: each line (Enter) is a prompt of its own; Shift+Enter breaks a line inside one.
    Five lines when room is short, so the fields below it stay in sight; it grows into any height the
    panel has to spare."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(
            self.tr(
                "Describe the image…\n"
                "One prompt per line: each line is its own job. Shift+Enter breaks a line inside a prompt.\n"
                "{red|blue} picks one choice, __name__ one line of a wildcard list."
            )
        )
        self.setToolTip(
            self.tr(
                "Each line is a prompt of its own, and Generate makes a job for each (the button says how "
                "many). To break a long prompt over lines without splitting it, press Shift+Enter.\n"
                "Wildcards: {red|blue|green} picks one choice, __name__ picks one line of name.txt in the "
                "wildcards folder (Help → Open wildcards folder); the seed decides, so the same seed gives "
                "the same prompt."
            )
        )

    def sizeHint(self) -> QSize:
        frame = 2 * self.frameWidth() + int(self.document().documentMargin() * 2)
        return QSize(super().sizeHint().width(), self.fontMetrics().lineSpacing() * 5 + frame)

    def prompts(self) -> list[str]:
        """The prompts in the box, one per line (``toPlainText`` would turn a Shift+Enter break into a
        line of its own: the raw text keeps it)."""
        return box_prompts(self.document().toRawText().replace("\u2029", "\n"))

    def set_prompt(self, prompt: str) -> None:
        """Show one prompt, its line breaks kept inside it."""
        self.setPlainText(box_text(prompt))


class ExpandedLabel(QLabel):
    """Under the prompt box: what the first line with wildcards expands to with the seed in the seed
    field (the one the last job used, or the next one when the seed is locked), or why it cannot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setAccessibleName(self.tr("Expanded prompt"))
        self.hide()

    def show_expansion(self, prompts: list[str], seed: int, folder: Path) -> None:
        templates = [p for p in prompts if has_wildcards(p)]
        if not templates:
            self.hide()
            return
        try:
            text = expand(templates[0], seed, folder)
        except InvalidParams as exc:
            self.setText(str(exc))
            self.setStyleSheet("color: #d9534f;")
        else:
            shown = text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"
            message = self.tr("Seed {0} makes: “{1}”").format(seed, shown)
            if len(templates) > 1:
                message += self.tr(" (and {0} more lines with wildcards)").format(len(templates) - 1)
            self.setText(message)
            self.setToolTip(text)
            self.setStyleSheet("")
        self.show()
