"""Counting prompt tokens as the prior's CLIP tokenizer does, cheaply enough to run on every keystroke.

Uses the ``tokenizers`` library on the repository's ``tokenizer.json`` (no torch, no transformers), so the
prompt panel can show the count before the engine has loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wuerstchen_desktop.core.engine.prompt_weights import A1111, parse, weighting_problem
from wuerstchen_desktop.core.engine.text import MAX_TOKENS
from wuerstchen_desktop.core.params import valid_text


@dataclass(frozen=True)
class TokenCount:
    """What the prompt panel shows: the tokens (start and end markers included), the parts that carry a
    weight, the words past the limit, and why the prompt cannot run, if it cannot."""

    tokens: int
    weighted: list[tuple[str, float]]
    cut: str
    problem: str = ""


class TokenCounter:
    """``count(text)`` includes the start and end markers, as the 77-token limit does; under a weighting
    (new jobs: A1111's) brackets and weights are not tokens."""

    limit = MAX_TOKENS

    def __init__(self, tokenizer_json: Path) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_json))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def count(self, text: str, weighting: str = A1111) -> int:
        return len(self._tokens(valid_text(text), weighting)[0]) + 2

    def cut_words(self, text: str, weighting: str = A1111) -> str:
        """The end of ``text`` (its words, without brackets or weights) that falls past the limit and is
        left out, or ``""``."""
        starts, words = self._tokens(valid_text(text), weighting)
        if len(starts) + 2 <= self.limit:
            return ""
        return words[starts[self.limit - 2] :].strip()

    def measure(self, text: str, weighting: str = A1111) -> TokenCount:
        text = valid_text(text)
        problem = weighting_problem(text, weighting)
        return TokenCount(
            self.count(text, weighting),
            parse(text, weighting).weighted,
            self.cut_words(text, weighting),
            " ".join(problem) if problem else "",
        )

    def _tokens(self, text: str, weighting: str) -> tuple[list[int], str]:
        """Where each token starts in the prompt's words, and those words (the prompt without brackets and
        weights); the start and end markers left out."""
        starts: list[int] = []
        words = ""
        for part, _ in parse(text, weighting).parts:
            encoding = self._tokenizer.encode(part, add_special_tokens=False)
            starts += [len(words) + start for start, _ in encoding.offsets]
            words += part
        return starts, words


def counter_for_prior(prior: str, cache_dir: Path | None = None) -> TokenCounter | None:
    """The counter of a prior that is on disk (never touching the network), or None when it is not;
    ``cache_dir`` is the Hub cache to look in (None: huggingface_hub's own)."""
    from wuerstchen_desktop.core.engine.checkpoints import prior_source
    from wuerstchen_desktop.core.errors import WuerstchenError

    try:
        path = (
            prior_source(prior, offline=True, cache_dir=cache_dir).text_root / "tokenizer" / "tokenizer.json"
        )
    except WuerstchenError:
        return None
    return TokenCounter(path) if path.is_file() else None
