"""Grids of compositions: one or two axes (columns, then rows) over seeds, prompts, prior guidance, prior
steps, the prior checkpoint or the image size. Every cell is an ordinary compose job's parameters for one
image; cells that differ only by consecutive seeds run as one batch, and a grid over priors runs one
prior's cells together, so each prior loads once. Plain data: no torch, no Qt.

An axis is written as A1111's X/Y plot writes its values, ``kind=v1,v2,...`` (``:`` works too; values
holding a comma are quoted, CSV style): ``guidance=2,4,6``, ``seeds=4`` (four consecutive seeds from the
job's), ``seed=7,42``, ``prompt="a fox, at dawn","a fox, at dusk"``, ``steps=12,official``,
``prior=interpolated,finetuned,base`` (or a Hub id or folder), ``size=512x512,768x512``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.jobs.estimate import StageCosts, planned_steps, work_units
from wuerstchen_desktop.core.jobs.job import JobKind
from wuerstchen_desktop.core.params import MAX_IMAGES, PRIOR_VARIANTS, GenerationParams
from wuerstchen_desktop.core.prompts.wildcards import has_wildcards

MAX_CELLS = 64  # 8x8: a screenful of tiles, and a grid image still legible
MAX_VALUES = 32  # on one axis
PRIORS = {
    name: repo
    for name, (repo, _label) in zip(("interpolated", "finetuned", "base"), PRIOR_VARIANTS, strict=True)
}
# kind -> the names an axis may be given by
KINDS = {
    "seed": ("seed", "seeds"),
    "prompt": ("prompt", "prompts"),
    "prior_guidance": ("guidance", "prior_guidance", "prior-guidance", "cfg"),
    "prior_steps": ("steps", "prior_steps", "prior-steps"),
    "prior": ("prior", "checkpoint", "model"),
    "size": ("size",),
}
KIND_LABELS = {
    "seed": "seed",
    "prompt": "prompt",
    "prior_guidance": "guidance",
    "prior_steps": "steps",
    "prior": "prior",
    "size": "size",
}
_NAMES = {name: kind for kind, names in KINDS.items() for name in names}
OFFICIAL = "official"

# Wildcard prompts: with ``wildcards.prompt_variants`` (as the window and the CLI read a grid),
# ``prompt={red|blue} fox`` gives one value per choice. Without it, each value is a prompt as written.
PromptVariants = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class Axis:
    """One axis: what it varies (a key of ``KINDS``) and its values, already checked and converted."""

    kind: str
    values: tuple[Any, ...]

    def label(self, index: int) -> str:
        """What a header shows for value ``index``: "guidance 4", "seed 12", "512x768", the prompt."""
        value = self.values[index]
        if self.kind == "prompt":
            return str(value)
        if self.kind == "size":
            return f"{value[0]}x{value[1]}"
        if self.kind == "prior":
            return f"prior {prior_name(value)}"
        if self.kind == "prior_steps":
            return f"steps {OFFICIAL if value is None else value}"
        if self.kind == "prior_guidance":
            return f"guidance {value:g}"
        return f"{KIND_LABELS[self.kind]} {value}"

    def labels(self) -> list[str]:
        return [self.label(i) for i in range(len(self.values))]

    def to_text(self) -> str:
        """The axis as ``parse_axis`` reads it back."""
        out: list[str] = []
        for v in self.values:
            if self.kind == "size":
                out.append(f"{v[0]}x{v[1]}")
            elif self.kind == "prior_steps" and v is None:
                out.append(OFFICIAL)
            elif self.kind == "prior_guidance":
                out.append(f"{v:g}")
            else:
                out.append(str(v))
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(out)
        return f"{KIND_LABELS[self.kind]}={buf.getvalue()}"


def prior_name(ref: str) -> str:
    """A prior as an artist names it: interpolated, finetuned, base, or the folder's or repository's name."""
    for name, repo in PRIORS.items():
        if ref == repo:
            return name
    return Path(ref).name or ref


def _split(text: str) -> list[str]:
    try:
        rows = list(csv.reader([text], skipinitialspace=True))
    except csv.Error as exc:
        raise InvalidParams(f"The grid values {text!r} could not be read: {exc}.") from exc
    return [v.strip() for v in (rows[0] if rows else []) if v.strip()]


def _number(kind: str, value: str, cast: Callable[[str], Any]) -> Any:
    try:
        return cast(value)
    except ValueError:
        raise InvalidParams(
            f"The {KIND_LABELS[kind]} value {value!r} is not a number.", "Write numbers separated by commas."
        ) from None


def _size(value: str) -> tuple[int, int]:
    parts = value.lower().replace("×", "x").split("x")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise InvalidParams(f"The size {value!r} is not WIDTHxHEIGHT.", "Write sizes like 512x768.")
    width, height = (_number("size", p.strip(), int) for p in parts)
    return width, height


def parse_axis(text: str, seed: int = 0, variants: PromptVariants | None = None) -> Axis:
    """``kind=v1,v2,...`` as an axis; ``seeds=N`` alone means N consecutive seeds from ``seed``."""
    name, sep, rest = text.partition("=")
    if not sep:
        name, sep, rest = text.partition(":")
    key = name.strip().lower()
    kind = _NAMES.get(key)
    if kind is None or not sep:
        known = ", ".join(names[0] for names in KINDS.values())
        raise InvalidParams(
            f"The grid axis {text.strip()!r} is not one of {known}.",
            "Write it as AXIS=V1,V2 (guidance=2,4,6).",
        )
    raw = _split(rest)
    if not raw:
        raise InvalidParams(f"The grid axis {key} has no values.", "Write it as AXIS=V1,V2 (guidance=2,4,6).")
    values: list[Any]
    if kind == "seed":
        values = [_number(kind, v, int) for v in raw]
        if key == "seeds" and len(values) == 1:
            count = values[0]
            if not 1 <= count <= MAX_VALUES:
                raise InvalidParams(f"A grid takes from 1 to {MAX_VALUES} seeds on an axis, not {count}.")
            values = [seed + i for i in range(count)]
    elif kind == "prompt":
        values = [p for v in raw for p in (variants(v) if variants is not None else [v])]
    elif kind == "prior_guidance":
        values = [_number(kind, v, float) for v in raw]
    elif kind == "prior_steps":
        values = [None if v.lower() == OFFICIAL else _number(kind, v, int) for v in raw]
    elif kind == "prior":
        values = [PRIORS.get(v.lower(), v) for v in raw]
    else:
        values = [_size(v) for v in raw]
    if len(values) > MAX_VALUES:
        raise InvalidParams(f"The grid axis {key} has {len(values)} values; it takes at most {MAX_VALUES}.")
    if len(set(values)) != len(values):
        raise InvalidParams(f"The grid axis {key} names a value twice.", "Give each value once.")
    return Axis(kind, tuple(values))


@dataclass(frozen=True)
class Cell:
    """One composition of the grid: its place, its parameters (one image) and the prior that makes it."""

    row: int
    col: int
    params: GenerationParams
    prior: str


@dataclass(frozen=True)
class Batch:
    """Cells composed by one job: the same prior and parameters, consecutive seeds (``params.images``)."""

    prior: str
    params: GenerationParams
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Grid:
    """Columns (the first axis) and rows (the second; none: one row) over ``base``, composed by ``prior``.
    Building it checks every cell's parameters and the number of cells."""

    base: GenerationParams
    prior: str
    columns: Axis
    rows: Axis | None = None

    def __post_init__(self) -> None:
        if self.rows is not None and self.rows.kind == self.columns.kind:
            raise InvalidParams(
                f"Both grid axes vary the {KIND_LABELS[self.rows.kind]}.", "Choose two different axes."
            )
        n = len(self.columns.values) * (len(self.rows.values) if self.rows else 1)
        if n > MAX_CELLS:
            raise InvalidParams(
                f"This grid has {n} cells; a grid holds at most {MAX_CELLS}.", "Give its axes fewer values."
            )
        self.cells()  # every cell's parameters are valid, or the grid is refused now

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (len(self.rows.values) if self.rows else 1), len(self.columns.values)

    def cells(self) -> list[Cell]:
        """Every cell, row by row."""
        base = self.base.replace(images=1, decoder_seed=None)
        nrows, ncols = self.shape
        out = []
        for r in range(nrows):
            for c in range(ncols):
                changes: dict[str, Any] = {}
                prior = self.prior
                for axis, i in ((self.columns, c), (self.rows, r)):
                    if axis is None:
                        continue
                    value = axis.values[i]
                    if axis.kind == "prior":
                        prior = value
                    elif axis.kind == "size":
                        changes["width"], changes["height"] = value
                    elif axis.kind == "prompt":  # the cell's own prompt, not the base's template
                        changes["prompt"] = value
                        changes["prompt_template"] = value if has_wildcards(value) else None
                    else:
                        changes[axis.kind] = value
                out.append(Cell(r, c, base.replace(**changes), prior))
        return out

    def batches(self) -> list[Batch]:
        """The jobs that compose the grid: one prior's cells together (the grid's own prior first), and
        within them runs of consecutive seeds with otherwise equal parameters as one batch."""
        groups: dict[tuple[str, GenerationParams], list[Cell]] = {}
        for cell in self.cells():
            groups.setdefault((cell.prior, cell.params.replace(seed=0)), []).append(cell)
        priors = list(dict.fromkeys([self.prior, *(cell.prior for cell in self.cells())]))
        out: list[Batch] = []
        for prior in priors:
            for (p, _), cells in groups.items():
                if p != prior:
                    continue
                run: list[Cell] = []
                for cell in sorted(cells, key=lambda c: c.params.seed):
                    last = run[-1].params.seed if run else None
                    if run and (cell.params.seed != last + 1 or len(run) == MAX_IMAGES):  # type: ignore[operator]
                        out.append(_batch(prior, run))
                        run = []
                    run.append(cell)
                out.append(_batch(prior, run))
        return out

    def row_labels(self) -> list[str]:
        return self.rows.labels() if self.rows else [""]

    def column_labels(self) -> list[str]:
        return self.columns.labels()

    def describe(self) -> str:
        """ "3 x 4: guidance by seed" for a status line."""
        nrows, ncols = self.shape
        across = KIND_LABELS[self.columns.kind]
        down = f"{KIND_LABELS[self.rows.kind]} by " if self.rows else ""
        return f"{nrows} x {ncols}: {down}{across}"

    def to_dict(self) -> dict[str, Any]:
        """The axes as text (``parse_axis`` reads them back), for the grid image's record."""
        return {
            "columns": self.columns.to_text(),
            "rows": self.rows.to_text() if self.rows else None,
            "column_labels": self.column_labels(),
            "row_labels": self.row_labels() if self.rows else [],
            "prior": self.prior,
        }


def _batch(prior: str, run: list[Cell]) -> Batch:
    first = run[0].params
    return Batch(prior, dataclasses.replace(first, images=len(run)), tuple(run))


def grid_seconds(grid: Grid, costs: StageCosts) -> float:
    """The grid's Stage C time at ``costs`` (the README's CPU figures until this machine has timed a
    step); loading another prior is not counted."""
    total = 0.0
    for batch in grid.batches():
        steps = planned_steps(JobKind.COMPOSE, batch.params)
        total += sum(costs.per_step(stage) * n for stage, n in steps.items()) * work_units(batch.params)
    return total


def make_grid(
    base: GenerationParams,
    prior: str,
    axes: Sequence[str],
    variants: PromptVariants | None = None,
) -> Grid:
    """A grid from one or two axes as text (the first across, the second down)."""
    if not 1 <= len(axes) <= 2:
        raise InvalidParams(f"A grid has one or two axes, not {len(axes)}.", "Give one or two axes.")
    parsed = [parse_axis(text, base.seed, variants) for text in axes]
    return Grid(base, prior, parsed[0], parsed[1] if len(parsed) > 1 else None)


__all__ = [
    "MAX_CELLS",
    "Axis",
    "Batch",
    "Cell",
    "Grid",
    "grid_seconds",
    "make_grid",
    "parse_axis",
    "prior_name",
]
