"""Reading A1111's prompt weighting: its parser's own examples, its quirks, what Würstchen refuses, the new
``weighting`` field of a job and old records without it, and the token count of a weighted prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wuerstchen_desktop.core.engine.prompt_weights import (
    A1111,
    NONE,
    parse,
    parse_attention,
    weighting_problem,
)
from wuerstchen_desktop.core.engine.tokens import TokenCounter
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import GenerationParams

# Verbatim from the doctests of parse_prompt_attention in A1111's modules/prompt_parser.py:
# https://github.com/AUTOMATIC1111/stable-diffusion-webui/blob/master/modules/prompt_parser.py
A1111_DOCTESTS = [
    ("normal text", [["normal text", 1.0]]),
    ("an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]),
    ("(unbalanced", [["unbalanced", 1.1]]),
    ("\\(literal\\]", [["(literal]", 1.0]]),
    ("(unnecessary)(parens)", [["unnecessaryparens", 1.1]]),
    (
        "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
        [
            ["a ", 1.0],
            ["house", 1.5730000000000004],
            [" ", 1.1],
            ["on", 1.0],
            [" a ", 1.1],
            ["hill", 0.55],
            [", sun, ", 1.1],
            ["sky", 1.4641000000000006],
            [".", 1.1],
        ],
    ),
]

# Read off the same function's rules (its regular expression and branches) for what its examples leave out.
RULES = [
    ("(word:1.2)", [["word", 1.2]]),
    ("((word))", [["word", 1.2100000000000002]]),
    ("[word]", [["word", 1 / 1.1]]),
    ("[[word]]", [["word", 1 / 1.1 / 1.1]]),
    ("(word:-0.5)", [["word", -0.5]]),
    ("a word)", [["a word)", 1.0]]),  # a closing bracket with nothing open is text
    ("a] word", [["a] word", 1.0]]),
    ("[unbalanced", [["unbalanced", 1 / 1.1]]),
    ("a (b [c", [["a ", 1.0], ["b ", 1.1], ["c", 1.1 / 1.1]]),
    ("x:1.2) y", [["x:1.2) y", 1.0]]),  # a weight with no bracket open is text
    ("(a: 1.2)", [["a: 1.2", 1.1]]),  # a space before the number: not a weight
    ("\\\\ and \\) \\[", [["\\ and ) [", 1.0]]),
    ("a\\b", [["ab", 1.0]]),  # a lone backslash is dropped
    ("", [["", 1.0]]),
    ("()", [["", 1.0]]),
    ("a BREAK b", [["a", 1.0], ["BREAK", -1.0], ["b", 1.0]]),
    ("aBREAKb BREAKING", [["aBREAKb BREAKING", 1.0]]),  # only the whole word
]


@pytest.mark.parametrize(("text", "expected"), A1111_DOCTESTS + RULES)
def test_parts_and_weights_as_a1111_reads_them(text: str, expected: list) -> None:
    assert parse_attention(text) == expected


def test_a_weight_a1111_would_fail_on_is_kept_as_text() -> None:
    assert parse_attention("(cat:1.2.3) dog") == [["cat:1.2.3", 1.1], [" dog", 1.0]]
    assert parse_attention("(cat:.)") == [["cat:.", 1.1]]


@given(st.text(alphabet="ab ()[]:\\.1-+BREAK", max_size=40))
def test_any_prompt_parses_without_raising(text: str) -> None:
    found = parse(text)
    assert all(isinstance(w, float) for _, w in found.parts)
    assert len(found.text) <= len(text)


def test_the_words_weighted_and_plain_prompts() -> None:
    found = parse("a (red:1.3) cat, [blurry]")
    assert found.text == "a red cat, blurry"
    assert found.weighted == [("red", 1.3), ("blurry", 1 / 1.1)]
    assert not found.plain
    assert parse("(cat:1.0)").plain and parse("(cat:1.0)").text == "cat"
    assert parse("\\(literal\\)").plain and parse("\\(literal\\)").text == "(literal)"
    # Without weighting the prompt is the words, brackets and all.
    assert parse("a (red:1.3) cat", NONE).text == "a (red:1.3) cat" and parse("(x)", NONE).plain


def test_break_and_absurd_weights_are_refused_with_what_to_do() -> None:
    message, hint = weighting_problem("a cat BREAK a dog", A1111) or ("", "")
    assert "BREAK" in message and "77" in message and hint == "Remove BREAK from the prompt."
    assert weighting_problem("(a cat BREAK a dog)", A1111) is not None  # inside brackets too
    assert weighting_problem("a cat BREAK a dog", NONE) is None  # an old record: BREAK is a word
    message, hint = weighting_problem("(cat:1000)", A1111) or ("", "")
    assert "1000" in message and "cat" in message and "100" in hint
    assert weighting_problem("(cat:1.5) [dog] (x:-2)", A1111) is None
    with pytest.raises(InvalidParams, match="BREAK"):
        GenerationParams("a cat", negative_prompt="blurry BREAK dark")
    assert GenerationParams("a cat BREAK", weighting=NONE).prompt == "a cat BREAK"


def test_new_jobs_weight_and_old_records_do_not() -> None:
    new = GenerationParams("a (cat:1.2)")
    assert new.weighting == A1111
    assert new.to_dict()["weighting"] == A1111
    assert GenerationParams.from_dict(new.to_dict()) == new
    old = {k: v for k, v in new.to_dict().items() if k != "weighting"}  # a record written before weighting
    assert GenerationParams.from_dict(old).weighting == NONE
    assert GenerationParams.from_dict(old).prompt == "a (cat:1.2)"  # kept as written
    with pytest.raises(InvalidParams, match="weighting"):
        GenerationParams("a cat", weighting="compel")


def test_the_count_leaves_brackets_and_weights_out(prior_dir: Path) -> None:
    counter = TokenCounter(prior_dir / "tokenizer" / "tokenizer.json")
    plain = counter.measure("a cat dog")
    found = counter.measure("a (cat:1.2) [dog]")
    assert found.tokens == plain.tokens == 5  # start, a, cat, dog, end
    assert found.weighted == [("cat", 1.2), ("dog", 1 / 1.1)] and plain.weighted == []
    assert found.cut == "" and found.problem == ""
    assert counter.count("a (cat:1.2) [dog]", NONE) > 5  # read as plain text the brackets are tokens
    assert counter.measure("((a cat").tokens == 4  # unbalanced: still counted
    assert "BREAK" in counter.measure("a cat BREAK dog").problem
    # Past the limit, the words left out are named without their brackets.
    long = " ".join(["(a:1.2) red cat"] * 25 + ["(astronaut horse:1.3)"])
    assert counter.count(long) == 3 * 25 + 2 + 2
    assert counter.cut_words(long) == "astronaut horse"
