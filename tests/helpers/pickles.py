"""A pickle that runs code when an ordinary unpickler reads it, as a hostile checkpoint would."""

from __future__ import annotations

from pathlib import Path


def _make_marker(path: str) -> None:
    Path(path).write_text("code ran", encoding="utf-8")


class Trap:
    """Unpickling this runs ``_make_marker``: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_make_marker, (self.marker,))
