"""Start-up of the desktop app."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    print(
        "The desktop window is not in this build yet. Use `wuerstchen-desktop generate PROMPT` "
        "(see `wuerstchen-desktop --help`).",
        file=sys.stderr,
    )
    return 1
