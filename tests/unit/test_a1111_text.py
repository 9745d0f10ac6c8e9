"""The A1111 text reader: the same answers as A1111's own regex, in linear time, and a bound on length."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.errors import NoParametersFound, ParametersTooLong
from wuerstchen_desktop.core.imagefile.a1111 import pairs
from wuerstchen_desktop.core.imagefile.parameters_text import MAX_PARAMETERS_CHARS, parse_parameters
from wuerstchen_desktop.core.imagefile.read import read_parameters

# A1111's own settings regex (modules/infotext_utils.py), the reference the reader must agree with.
A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')

REAL_LINES = [
    "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 1234, Size: 512x768, Model hash: abc123",
    'Model: sd15, Lora hashes: "a: 1, b: 2", Version: v1.6.0',
    'Template: "a \\"quoted\\" word, and more", Hires upscale: 2, Denoising strength: 0.5',
    "Steps: 20,Sampler: Euler a,CFG scale: 7,Seed: 1,Size: 512x512",
    '  Steps :  3 , Seed: "", Size: 1x1, Emphasis: "unbalanced, Schedule type: Karras',
    "key-with/slash and space: v, ü ß 日本: 値, _x: 1, -a: 2, a: \\",
    "no pairs at all in this line",
    "",
]


@pytest.mark.parametrize("line", REAL_LINES)
def test_pairs_match_a1111_on_real_lines(line: str) -> None:
    assert pairs(line) == A1111_PARAM.findall(line)


@settings(max_examples=800, deadline=None)
@given(line=st.text(alphabet='ab é1_-/ :,"\\\t\r', max_size=40))
def test_pairs_match_a1111_on_any_line(line: str) -> None:
    assert pairs(line) == A1111_PARAM.findall(line)


# Each line is adversarial for a backtracking reader in its own way; the script reads each at 1 MB with
# the scanner, and at the length limit through the public reader, and prints what it found.
SHAPES = {
    "letters": "a",
    "words": "ab cd-ef/",
    "commas": ",",
    "quotes": '"',
    "colons": ":",
    "unbalanced quotes": 'k: "x',
    "backslashes": 'k: "\\',
    "key, no colon": "a b,",
    "pairs": "Key: v, ",
}
SCRIPT = textwrap.dedent(
    """
    import sys
    from wuerstchen_desktop.core.errors import NoParametersFound
    from wuerstchen_desktop.core.imagefile.parameters_text import MAX_PARAMETERS_CHARS, parse_parameters
    shapes = {shapes!r}
    for name, unit in shapes.items():
        text = "prompt\\nNegative prompt: n\\n" + unit * ((MAX_PARAMETERS_CHARS - 30) // len(unit))
        try:
            got = parse_parameters(text)
            print(name, "prompt", len(got.prompt))
        except NoParametersFound:
            print(name, "none")
    from wuerstchen_desktop.core.imagefile.a1111 import pairs
    for name, unit in shapes.items():
        print(name, "pairs", len(pairs(unit * (1_000_000 // len(unit)))))
    """
)


def test_adversarial_lines_are_read_in_linear_time() -> None:
    # A backtracking reader needs minutes for these (the old one: 3.4 s for 20 KB of letters, growing
    # with the square of the length); a linear one needs well under a second, so the generous limit
    # cannot fail a sound reader on a slow machine.
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(shapes=SHAPES)],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 * len(SHAPES)
    found = dict(line.rsplit(" ", 1) for line in lines)
    assert found["pairs pairs"] == str(1_000_000 // len("Key: v, "))
    assert found["letters pairs"] == found["commas pairs"] == found["quotes pairs"] == "0"


def test_too_long_text_is_refused_with_a_sentence() -> None:
    near = "p\nNegative prompt: n\nSteps: 1, Seed: 2, Size: 512x512, " + "a" * (MAX_PARAMETERS_CHARS - 60)
    assert len(near) <= MAX_PARAMETERS_CHARS and parse_parameters(near).seed == 2
    with pytest.raises(ParametersTooLong) as err:
        parse_parameters("a" * 1_000_000 + "\nSteps: 1, Seed: 2, Size: 512x512")
    assert "too long to read" in err.value.message and f"{MAX_PARAMETERS_CHARS:,}" in err.value.message
    assert isinstance(err.value, NoParametersFound)  # the picture itself is fine


def test_a_png_with_a_huge_text_is_a_clear_message(tmp_path: Path, capsys) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "p\nSteps: 1, Seed: 2, Size: 8x8, " + "a " * 100_000)
    path = tmp_path / "huge.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    with pytest.raises(ParametersTooLong) as err:
        read_parameters(path)
    assert err.value.message.startswith("huge.png: the parameters text is too long to read")
    assert main(["read", str(path)]) == 1
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and "too long" in out.err


@pytest.mark.parametrize(
    "size, expected",
    [
        ("512x768", (512, 768)),
        (" 64 × 32 ", (64, 32)),
        ("9" * 5000 + "x5", (None, None)),
        ("x", (None, None)),
    ],
)
def test_sizes_are_read_or_ignored_never_a_crash(size: str, expected: tuple) -> None:
    got = parse_parameters(f"p\nSteps: 1, Seed: 2, Size: {size}")
    assert (got.width, got.height) == expected
