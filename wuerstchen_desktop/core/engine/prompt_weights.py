"""Prompt weighting in the syntax artists paste from A1111 and Civitai: ``(word:1.2)``, ``(word)`` (x1.1),
``((word))`` (x1.21), ``[word]`` (/1.1), ``\\(`` ``\\)`` ``\\[`` ``\\]`` ``\\\\`` for the characters
themselves. Pure Python: the token counter runs it on every keystroke.

The rules are A1111's (``parse_prompt_attention`` in its ``modules/prompt_parser.py``), quirks included, so
a pasted prompt means what it meant there: a bracket left open weights everything after it, a closing
bracket with nothing open is plain text, a lone backslash vanishes, ``:1.2)`` with no ``(`` open is text, and
neighbouring parts of equal weight merge. Where A1111 fails (a weight like ``:1.2.3)``), the number is kept
as text and the bracket closes as a plain ``)``. ``BREAK`` (a new 75-token chunk in A1111) is found but
not supported: Würstchen's text encoders take one 77-token sequence (see the README).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

NONE = "none"  # the prompt is plain text, as every record made before weighting existed
A1111 = "a1111"
WEIGHTINGS = (NONE, A1111)
UP, DOWN = 1.1, 1 / 1.1  # what ( ) and [ ] multiply by
BREAK_MARK = -1.0  # the weight A1111 gives its BREAK marker part
MAX_WEIGHT = 100.0  # beyond this a weight makes the text encoders' numbers overflow, not a stronger word

_ESCAPED = frozenset("()[]\\")
_WEIGHT = re.compile(r":([+-]?[.\d]+)\)")
_PLAIN = re.compile(r"[^\\()\[\]:]+")
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse_attention(text: str) -> list[list]:
    """``[[text, weight], ...]`` as A1111's ``parse_prompt_attention`` gives them, ``["BREAK", -1.0]`` where
    a ``BREAK`` stands; never raises."""
    return [[part, weight] for part, weight, _ in _parts(text)]


def _parts(text: str) -> list[list]:
    """``[text, weight, holds a BREAK]`` for each part."""
    res: list[list] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply(start: int, by: float) -> None:
        for part in res[start:]:
            part[1] *= by

    def plain(piece: str) -> None:
        for i, words in enumerate(_BREAK.split(piece)):
            if i:
                res.append(["BREAK", BREAK_MARK, True])
            res.append([words, 1.0, False])

    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt in _ESCAPED and nxt:
                res.append([nxt, 1.0, False])
                i += 2
            else:  # a backslash before anything else is dropped, as A1111 drops it
                res.append(["", 1.0, False])
                i += 1
        elif c == "(":
            round_open.append(len(res))
            i += 1
        elif c == "[":
            square_open.append(len(res))
            i += 1
        elif c == ":" and (m := _WEIGHT.match(text, i)):
            weight = _number(m.group(1))
            if round_open and weight is not None:
                multiply(round_open.pop(), weight)
            elif round_open:
                res.append([m.group(0)[:-1], 1.0, False])
                multiply(round_open.pop(), UP)
            else:
                plain(m.group(0))
            i = m.end()
        elif c == ")" and round_open:
            multiply(round_open.pop(), UP)
            i += 1
        elif c == "]" and square_open:
            multiply(square_open.pop(), DOWN)
            i += 1
        elif c in ")]:":
            plain(c)
            i += 1
        else:
            m = _PLAIN.match(text, i)
            assert m is not None  # c is none of the characters _PLAIN stops at
            plain(m.group(0))
            i = m.end()
    for start in round_open:
        multiply(start, UP)
    for start in square_open:
        multiply(start, DOWN)
    if not res:
        res = [["", 1.0, False]]
    merged = [res[0]]
    for part in res[1:]:
        if part[1] == merged[-1][1]:
            merged[-1][0] += part[0]
            merged[-1][2] = merged[-1][2] or part[2]
        else:
            merged.append(part)
    return merged


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class WeightedPrompt:
    """A prompt read under a weighting: its parts (text, weight), what the text encoder sees."""

    parts: tuple[tuple[str, float], ...]
    breaks: int = 0  # BREAKs found, which Würstchen cannot honour

    @property
    def text(self) -> str:
        """The words alone, as the tokenizer reads them: brackets and weights gone."""
        return "".join(text for text, _ in self.parts)

    @property
    def weighted(self) -> list[tuple[str, float]]:
        """The parts whose weight is not 1, with words in them."""
        return [(t, w) for t, w in self.parts if w != 1.0 and t.strip()]

    @property
    def plain(self) -> bool:
        """True when every weight is 1: the words encode as a prompt without weighting."""
        return all(w == 1.0 for _, w in self.parts)


def parse(prompt: str, weighting: str = A1111) -> WeightedPrompt:
    """``prompt`` under ``weighting`` (``NONE``: one part, the prompt as written)."""
    if weighting == NONE:
        return WeightedPrompt(((prompt, 1.0),))
    parts = _parts(prompt)
    breaks = sum(1 for _, _, is_break in parts if is_break)
    kept = tuple((text, float(w)) for text, w, is_break in parts if not is_break)
    return WeightedPrompt(kept or (("", 1.0),), breaks)


def weighting_problem(prompt: str, weighting: str) -> tuple[str, str] | None:
    """Why ``prompt`` cannot be encoded under ``weighting`` and what to do, or None."""
    if weighting == NONE:
        return None
    found = parse(prompt, weighting)
    if found.breaks:
        return (
            "BREAK starts a new 75-token chunk in A1111; Würstchen's text encoders take one chunk of 77.",
            "Remove BREAK from the prompt.",
        )
    for text, weight in found.parts:
        if not math.isfinite(weight) or abs(weight) > MAX_WEIGHT:
            return (
                f"The weight {weight:g} on \u201c{text.strip()[:40]}\u201d is out of range.",
                f"Use weights from -{MAX_WEIGHT:g} to {MAX_WEIGHT:g} (1.5 is already a strong emphasis).",
            )
    return None
