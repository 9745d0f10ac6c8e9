"""Several prompts in one go: the prompt box's lines, or a list file for ``generate --prompts``.

In the box, each line (Enter) is a prompt of its own; a line break typed with Shift+Enter (Qt's line
separator, U+2028) stays inside its prompt. A list file has one prompt per line, ``#`` comment lines and
blank lines skipped. Either way a list is refused past ``MAX_PROMPTS``: that many jobs is a typo, not a plan.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from wuerstchen_desktop.core.errors import InvalidParams

MAX_PROMPTS = 100
MAX_LIST_FILE_BYTES = 1 << 20  # a list of a hundred long prompts is far below this
SOFT_BREAK = "\u2028"  # what Shift+Enter inserts in a Qt text box: a line break inside one paragraph
_LINE_END = re.compile(r"\r\n|\r|\n")  # str.splitlines would also split at SOFT_BREAK


def box_prompts(text: str) -> list[str]:
    """The prompts the prompt box holds: one per line, blank lines skipped, each stripped; a soft line
    break inside a line becomes a plain line break of that prompt."""
    prompts = [line.replace(SOFT_BREAK, "\n").strip() for line in _LINE_END.split(text)]
    return [p for p in prompts if p]


def box_text(prompt: str) -> str:
    """A single prompt as the prompt box shows it: its line breaks soft, so it stays one prompt."""
    return _LINE_END.sub(SOFT_BREAK, prompt)


def check_count(prompts: list[str], where: str = "The prompt box") -> list[str]:
    """``prompts`` unless there are none or more than ``MAX_PROMPTS``."""
    if not prompts:
        raise InvalidParams(f"{where} holds no prompt.", "Write one prompt per line.")
    if len(prompts) > MAX_PROMPTS:
        raise InvalidParams(
            f"{where} holds {len(prompts)} prompts; one run takes at most {MAX_PROMPTS}.",
            f"Split the list into parts of {MAX_PROMPTS} or fewer.",
        )
    return prompts


def file_prompts(text: str) -> list[str]:
    """The prompts of a list file's text: one per line; blank lines and lines starting with ``#`` skipped."""
    lines = (line.strip() for line in _LINE_END.split(text.replace(SOFT_BREAK, " ")))
    return [line for line in lines if line and not line.startswith("#")]


def read_prompt_file(path: Path) -> list[str]:
    """The prompts listed in the file at ``path``, checked (``check_count``)."""
    text = read_text_file(path, MAX_LIST_FILE_BYTES, "prompt list", "one prompt per line")
    return check_count(file_prompts(text), f"The prompt list {path}")


def read_text_file(path: Path, limit: int, what: str, form: str) -> str:
    """A small UTF-8 text file, read with a bound: a pipe, a device, a folder, a file over ``limit``
    bytes or one that is not UTF-8 text is refused with a sentence naming it as a ``what`` of ``form``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise InvalidParams(f"There is no {what} at {path}.", "Check the name and the folder.") from None
    except OSError as exc:
        raise InvalidParams(f"Could not read the {what} {path}: {exc.strerror or exc}.") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a pipe would never end, a folder cannot be read
        os.close(fd)
        raise InvalidParams(f"The {what} {path} is not a regular file.", f"Give a text file, {form}.")
    with os.fdopen(fd, "rb") as f:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidParams(
            f"The {what} {path} is over {limit // 1024:,} KB, too long to be a {what}.",
            f"Give a text file, {form}.",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidParams(
            f"The {what} {path} is not UTF-8 text (byte {exc.start + 1} is not valid).",
            "Save it as UTF-8.",
        ) from exc
