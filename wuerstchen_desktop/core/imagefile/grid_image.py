"""A grid of compositions as one labelled image, as A1111's X/Y plot draws it: the column values in a band
on top, the row values in a band on the left, in a font sized to the cells.

The PNG carries the A1111 ``parameters`` text of the first cell (so other tools, and our own reader,
show something) and a compressed ``wuerstchen-grid`` chunk: the axes and every cell's record without its
latent. It has no ``wuerstchen`` chunk: the grid is not one image and cannot be decoded or reproduced as
one; ``read_grid`` gives its cells back.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from wuerstchen_desktop.core.atomicfile import write_bytes_atomic
from wuerstchen_desktop.core.errors import ImageReadError, NoParametersFound
from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters
from wuerstchen_desktop.core.imagefile.read import PNG_PARAMETERS_KEY, open_pixels
from wuerstchen_desktop.core.imagefile.record import ImageRecord, record_to_dict
from wuerstchen_desktop.core.imagefile.record_json import record_from_json

GRID_KEY = "wuerstchen-grid"
GRID_SCHEMA = 1
MIN_CELL = 256  # cells are enlarged (whole multiples) to at least this many pixels a side
BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
MAX_GRID_CHARS = 4_000_000


@dataclass(frozen=True)
class GridCell:
    """One cell of a grid image: its place, its picture (None: left blank) and its record."""

    row: int
    col: int
    image: Image.Image | None
    record: ImageRecord | None
    name: str = ""  # the composition's file name


@dataclass(frozen=True)
class GridRecord:
    """What a grid image carries: the axes (``Grid.to_dict``) and each cell's record, by place."""

    axes: dict[str, Any]
    cells: dict[tuple[int, int], ImageRecord]
    names: dict[tuple[int, int], str]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)  # Pillow's bundled scalable font (Pillow >= 10.1)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int, max_lines: int = 4) -> list[str]:
    """``text`` in lines no wider than ``width``, at most ``max_lines`` (the last ends in "…" if cut)."""
    lines: list[str] = []
    for word in text.split():
        while draw.textlength(word, font=font) > width and len(word) > 1:  # a word wider than the cell
            cut = len(word)
            while cut > 1 and draw.textlength(word[:cut], font=font) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and draw.textlength(last + "…", font=font) > width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last + "…"]
    return lines or [""]


def _draw_label(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], lines: list[str], font: Any, size: int
) -> None:
    x0, y0, x1, y1 = box
    height = size * 1.25 * len(lines)
    y = y0 + (y1 - y0 - height) / 2
    for line in lines:
        x = x0 + (x1 - x0 - draw.textlength(line, font=font)) / 2
        draw.text((x, y), line, fill=INK, font=font)
        y += size * 1.25


def draw_grid(
    cells: Sequence[GridCell], row_labels: Sequence[str], column_labels: Sequence[str]
) -> Image.Image:
    """The grid as one RGB image: cells enlarged to at least ``MIN_CELL`` a side, labels on top and left."""
    nrows, ncols = max(1, len(row_labels)), max(1, len(column_labels))
    shown = [c.image for c in cells if c.image is not None]
    w = max((im.width for im in shown), default=MIN_CELL)
    h = max((im.height for im in shown), default=MIN_CELL)
    scale = max(1, math.ceil(MIN_CELL / min(w, h)))
    cw, ch = w * scale, h * scale
    size = max(16, min(cw, ch) // 12)
    font = _font(size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line = size * 1.25
    pad = size // 2
    col_lines = [_wrap(measure, t, font, cw - 2 * pad) for t in column_labels]
    top = int(max(len(lines) for lines in col_lines) * line + 2 * pad)
    has_rows = any(row_labels)
    left_width = min(
        2 * cw, max(cw // 2, int(max(measure.textlength(t, font=font) for t in row_labels)) + 2 * pad)
    )
    left = left_width if has_rows else 0
    canvas = Image.new("RGB", (left + ncols * cw, top + nrows * ch), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for c, lines in enumerate(col_lines):
        _draw_label(draw, (left + c * cw + pad, 0, left + (c + 1) * cw - pad, top), lines, font, size)
    if has_rows:
        max_lines = max(1, int((ch - 2 * pad) // line))
        for r, text in enumerate(row_labels):
            lines = _wrap(measure, text, font, left - 2 * pad, max_lines)
            _draw_label(draw, (pad, top + r * ch, left - pad, top + (r + 1) * ch), lines, font, size)
    for cell in cells:
        if cell.image is None:
            continue
        im = cell.image.convert("RGB")
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.LANCZOS)
        x = left + cell.col * cw + (cw - im.width) // 2
        y = top + cell.row * ch + (ch - im.height) // 2
        canvas.paste(im, (x, y))
    return canvas


def _record_dict(record: ImageRecord) -> dict[str, Any]:
    return record_to_dict(replace(record, latent=None))


def encode_grid(
    cells: Sequence[GridCell],
    axes: dict[str, Any],
    row_labels: Sequence[str],
    column_labels: Sequence[str],
) -> bytes:
    """The grid image as PNG bytes with the first cell's A1111 text and every cell's record."""
    image = draw_grid(cells, row_labels, column_labels)
    data = {
        "schema": GRID_SCHEMA,
        "axes": axes,
        "cells": [
            {"row": c.row, "col": c.col, "name": c.name, "record": _record_dict(c.record)}
            for c in cells
            if c.record is not None
        ],
    }
    info = PngImagePlugin.PngInfo()
    first = next((c.record for c in cells if c.record is not None), None)
    if first is not None:
        info.add_text(PNG_PARAMETERS_KEY, format_parameters(first))
    info.add_text(GRID_KEY, json.dumps(data, ensure_ascii=True, separators=(",", ":")), zip=True)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def write_grid(
    cells: Sequence[GridCell],
    axes: dict[str, Any],
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    folder: Path,
    stem: str,
) -> Path:
    """Save the grid image as ``folder/stem.png`` (atomic, never over another file); returns its path."""
    return write_bytes_atomic(encode_grid(cells, axes, row_labels, column_labels), folder, stem, ".png")


def read_grid(path: Path) -> GridRecord:
    """The axes and cell records of a grid image; ``NoParametersFound`` for any other image, and
    ``ImageReadError`` when its grid record is damaged."""
    with open_pixels(Path(path)) as im:
        text = getattr(im, "text", {}).get(GRID_KEY) if im.format == "PNG" else None
    if not isinstance(text, str):
        raise NoParametersFound(f"{Path(path).name} is not a grid image made by Würstchen Desktop.")
    if len(text) > MAX_GRID_CHARS:
        raise ImageReadError(f"The grid record of {Path(path).name} is far too large.")
    try:
        data = json.loads(text)
        axes = data["axes"]
        cells: dict[tuple[int, int], ImageRecord] = {}
        names: dict[tuple[int, int], str] = {}
        for cell in data["cells"]:
            place = (int(cell["row"]), int(cell["col"]))
            cells[place] = record_from_json(json.dumps(cell["record"]))
            names[place] = str(cell.get("name", ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise ImageReadError(
            f"The grid record of {Path(path).name} is damaged.", "Make the grid again."
        ) from exc
    if not isinstance(axes, dict):
        raise ImageReadError(f"The grid record of {Path(path).name} is damaged.", "Make the grid again.")
    return GridRecord(axes, cells, names)


__all__ = ["GRID_KEY", "GridCell", "GridRecord", "draw_grid", "encode_grid", "read_grid", "write_grid"]
