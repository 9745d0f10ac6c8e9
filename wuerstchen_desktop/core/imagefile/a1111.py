r"""The grammar of the A1111-style ``parameters`` text, and its EXIF UserComment form.

The text is the prompt lines, then an optional ``Negative prompt:`` line and the lines after it, then one
line of ``Key: value`` pairs. A1111 reads that last line with ``finditer`` over
``\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)``, which backtracks quadratically on a long line
without a colon (20 KB took seconds). ``pairs`` finds the same matches in one pass. Nothing here imports
anything but the standard library.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Sequence

USER_COMMENT_UNICODE = b"UNICODE\0"
ELLIPSIS = "\u2026"
SHORTENED = ("Text shortened", "prompts cut to fit EXIF")
NEGATIVE = "Negative prompt:"

_RUN = re.compile(r"[\w \-/]+")  # the characters a key is made of
_WORD = re.compile(r"\w")
_SPACE = re.compile(r"\s*")
# A1111's quoted value, unrolled so that a failed match backtracks over each character once.
_QUOTED = re.compile(r'"[^\\"]*(?:\\.[^\\"]*)*"')
_NEEDS_QUOTES = re.compile(r"[,:\n\r\"]")
_SIZE = re.compile(r"^\s*(\d{1,9})\s*[x×]\s*(\d{1,9})\s*$")


def plain_text(text: str) -> str:
    """``text`` made safe for UTF-8/UTF-16 containers: NULs and lone surrogates become U+FFFD."""
    return text.replace("\0", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def quote(value: str) -> str:
    """A value as the settings line carries it: JSON-quoted when it holds ``,`` ``:`` quotes or newlines."""
    return json.dumps(value, ensure_ascii=False) if _NEEDS_QUOTES.search(value) else value


def pairs(line: str) -> list[tuple[str, str]]:
    """The ``(key, value)`` matches A1111's settings regex finds in ``line``, raw, in linear time.

    A match's key is the tail of a run of key characters that starts at its first word character and
    is followed by ``:``; every start inside a run ends where the run ends, so one look per run decides.
    """
    out: list[tuple[str, str]] = []
    pos, end = 0, len(line)
    while True:
        run = _RUN.search(line, pos)
        if run is None:
            return out
        start, stop = run.span()
        word = _WORD.search(line, start, stop - 1) if stop < end and line[stop] == ":" else None
        if word is None:  # no key here: a key needs a word character and one more character before ":"
            pos = stop
            continue
        value_at = _SPACE.match(line, stop + 1).end()  # type: ignore[union-attr]  # \s* always matches
        quoted = _QUOTED.match(line, value_at)
        if quoted and quoted.end() - value_at > 2 and (quoted.end() == end or line[quoted.end()] == ","):
            value, pos = quoted.group(), quoted.end() + 1
        else:
            comma = line.find(",", value_at)
            comma = end if comma < 0 else comma
            value, pos = line[value_at:comma], comma + 1
        out.append((line[word.start() : stop], value))
        if pos > end:
            return out


def format_text(
    prompt: str,
    negative: str,
    settings: Sequence[tuple[str, str]],
    free: Collection[str] = (),
    max_utf16: int | None = None,
) -> str:
    """Prompt lines, ``Negative prompt:`` (always), then the settings on one line.

    With ``max_utf16`` (room in UTF-16 code units, as EXIF stores text) a text that does not fit has its
    prompts, and the settings named in ``free``, cut to the longest equal length that fits, each cut
    marked with an ellipsis, and a ``Text shortened`` pair says so. ``ValueError`` if even that fails.
    """

    def build(limit: int | None) -> str:
        items = list(settings)
        if limit is not None:
            items = [(k, shorten(v, limit) if k in free else v) for k, v in items]
            items.insert(len(items) - 1, SHORTENED)
        line = ", ".join(f"{k}: {quote(plain_text(v))}" for k, v in items)
        first, second = (
            (prompt, negative) if limit is None else (shorten(prompt, limit), shorten(negative, limit))
        )
        return plain_text(f"{first}\n{NEGATIVE} {second}\n{line}")

    text = build(None)
    if max_utf16 is None or utf16_units(text) <= max_utf16:
        return text
    low, high = -1, max(len(prompt), len(negative), *(len(v) for k, v in settings if k in free))
    while high - low > 1:  # the longest cut that fits, by bisection: each try is one pass over the text
        mid = (low + high) // 2
        if utf16_units(build(mid)) <= max_utf16:
            low = mid
        else:
            high = mid
    if low < 0:
        raise ValueError("the parameters text does not fit even with its prompts left out")
    return build(low)


def read_text(text: str) -> tuple[str, str | None, dict[str, str]]:
    """The prompt, the negative prompt (None without a ``Negative prompt:`` line) and the settings."""
    lines = text.strip().replace("\r\n", "\n").split("\n")
    found: dict[str, str] = {}
    last = pairs(lines[-1])
    if len(last) >= 3:  # as A1111: fewer pairs make the last line part of the prompt
        lines.pop()
        found = {k.strip(): unquote(v) for k, v in last}
    prompt: list[str] = []
    negative: list[str] | None = None
    for line in lines:
        if negative is None and line.startswith(NEGATIVE):
            negative = [line[len(NEGATIVE) :].lstrip(" ")]
        elif negative is not None:
            negative.append(line)
        else:
            prompt.append(line)
    return "\n".join(prompt).strip(), None if negative is None else "\n".join(negative).strip(), found


def to_int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None and len(value) < 40 else None
    except ValueError:
        return None


def to_float(value: str | None) -> float | None:
    try:
        number = float(value.strip()) if value is not None and len(value) < 40 else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def to_size(value: str | None) -> tuple[int | None, int | None]:
    size = _SIZE.match(value or "")
    return (int(size.group(1)), int(size.group(2))) if size else (None, None)


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            loaded = json.loads(value)
        except ValueError:
            return value
        return loaded if isinstance(loaded, str) else value
    return value


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-be", "surrogatepass")) // 2


# -- EXIF UserComment ---------------------------------------------------------------------------------
def encode_user_comment(text: str) -> bytes:
    """EXIF UserComment as A1111 writes it: ``UNICODE\\0`` then UTF-16BE."""
    return USER_COMMENT_UNICODE + plain_text(text).encode("utf-16-be")


def decode_user_comment(data: bytes | str) -> str:
    """Any of the UserComment encodings seen in the wild (UTF-16 either byte order, ASCII, bare UTF-8)."""
    if isinstance(data, str):
        return data
    head, body = data[:8], data[8:]
    if head == USER_COMMENT_UNICODE:
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return body.decode("utf-16", "replace")
        # Without a BOM, guess the byte order from where the zero bytes of ASCII characters sit.
        big = body[0::2].count(0) >= body[1::2].count(0)
        return body[: len(body) // 2 * 2].decode("utf-16-be" if big else "utf-16-le", "replace")
    if head in (b"ASCII\0\0\0", b"\0" * 8):
        body = body.rstrip(b"\0")
        return body.decode("utf-8", "replace")
    return data.rstrip(b"\0").decode("utf-8", "replace")
