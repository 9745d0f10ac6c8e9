"""Counting prompt tokens as the prior's CLIP tokenizer does, cheaply enough to run on every keystroke.

Uses the ``tokenizers`` library on the repository's ``tokenizer.json`` (no torch, no transformers), so the
prompt panel can show the count before the engine has loaded.
"""

from __future__ import annotations

from pathlib import Path

from wuerstchen_desktop.core.engine.text import MAX_TOKENS
from wuerstchen_desktop.core.params import valid_text


class TokenCounter:
    """``count(text)`` includes the start and end markers, as the 77-token limit does."""

    limit = MAX_TOKENS

    def __init__(self, tokenizer_json: Path) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_json))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(valid_text(text)).ids)

    def cut_words(self, text: str) -> str:
        """The end of ``text`` that falls past the limit and is left out, or ``""``."""
        text = valid_text(text)
        encoding = self._tokenizer.encode(text)
        if len(encoding.ids) <= self.limit:
            return ""
        start = encoding.offsets[self.limit - 1][0]
        return text[start:].strip()


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
