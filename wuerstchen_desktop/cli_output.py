"""What the command line shows: progress bars on stderr, and lines on a console that may not take them.

A console whose encoding cannot show a file name (cp1252, latin-1, a redirect) gets backslash escapes
instead of an exception, and a console that went away (a closed pipe) stops receiving lines: neither can
stop a job from writing its images.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.progress import StepEvent
    from wuerstchen_desktop.core.hub.download import DownloadProgress

STAGE_NAMES = {"prior": "Stage C (composing)", "decoder": "Stage B (decoding)", "vqgan": "Stage A (pixels)"}
log = logging.getLogger(__name__)


def make_console_safe() -> None:
    """Characters the console cannot encode come out as backslash escapes, never as an exception."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError, io.UnsupportedOperation):
                stream.reconfigure(errors="backslashreplace")


def say(line: object) -> bool:
    """Print ``line`` to stdout; False (and a line in the log) if stdout is gone, so the job goes on."""
    text = str(line)
    try:
        try:
            print(text, flush=True)
        except UnicodeEncodeError:  # a stream make_console_safe could not reconfigure
            encoding = getattr(sys.stdout, "encoding", None) or "ascii"
            print(text.encode(encoding, "backslashreplace").decode(encoding, "replace"), flush=True)
    except (OSError, ValueError) as exc:  # a closed pipe or console
        log.warning("could not print %r: %s", text, exc)
        with contextlib.suppress(OSError, ValueError, AttributeError):  # and no flush error at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return False
    return True


def console_json(data: Any, stream: TextIO) -> str:
    """``data`` as JSON; characters ``stream`` cannot encode are written as ``\\u`` escapes. Records never
    carry infinity or NaN (the reader refuses them as damaged), and ``allow_nan=False`` keeps it so."""
    text = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False)
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = json.dumps(data, indent=2, allow_nan=False)
    return text


class Progress:
    """Stage, step of total and an estimate of the time left, on one line of stderr."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.stage = ""
        self.started = 0.0

    def __call__(self, event: StepEvent) -> None:
        now = time.monotonic()
        if event.stage != self.stage:
            self.stage, self.started = event.stage, now
        done = event.step / event.total
        left = (now - self.started) / done * (1 - done)
        width = 24
        bar = "#" * round(done * width) + "." * (width - round(done * width))
        name = STAGE_NAMES.get(event.stage, event.stage)
        line = f"{name:22} [{bar}] {event.step}/{event.total}  ~{left:4.0f}s left"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if event.step == event.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class DownloadBar:
    """Bytes done of total, speed and time left, on one line of stderr (a line per file when not a tty)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.file = ""

    def __call__(self, p: DownloadProgress) -> None:
        from wuerstchen_desktop.core.hub.units import duration, human

        done = p.done / p.total if p.total else 1.0
        bar = "#" * round(done * 24) + "." * (24 - round(done * 24))
        left = f"~{duration(p.eta)} left" if p.eta is not None else ""
        speed = f"{human(p.speed)}/s" if p.speed else ""
        line = f"[{bar}] {human(p.done)} of {human(p.total)}  {speed}  {left}  {p.file}".rstrip()
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if p.done >= p.total else ""))
        elif p.file != self.file or p.done >= p.total:
            self.stream.write(line + "\n")
        self.file = p.file
        self.stream.flush()
