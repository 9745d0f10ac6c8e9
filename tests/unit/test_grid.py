"""Grids: axes read from text, cells, the batches that compose them, limits. Plain data, no models."""

from __future__ import annotations

import pytest

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.jobs.estimate import StageCosts
from wuerstchen_desktop.core.jobs.grid import MAX_CELLS, PRIORS, grid_seconds, make_grid, parse_axis
from wuerstchen_desktop.core.params import PRIOR_VARIANTS, GenerationParams

BASE = GenerationParams("a fox", width=256, height=256, seed=100, prior_steps=2)
PRIOR = "warp-ai/wuerstchen-prior"


def test_axes_read_as_a1111_writes_them() -> None:
    assert parse_axis("guidance=2, 4,6").values == (2.0, 4.0, 6.0)
    assert parse_axis("cfg: 1.5").values == (1.5,)
    assert parse_axis("seeds=3", seed=40).values == (40, 41, 42)
    assert parse_axis("seed=7,42").values == (7, 42)
    assert parse_axis("steps=12,official").values == (12, None)
    assert parse_axis("size=512x768, 256").values == ((512, 768), (256, 256))
    quoted = parse_axis('prompt="a fox, at dawn", a cat')
    assert quoted.values == ("a fox, at dawn", "a cat")
    assert parse_axis(quoted.to_text()) == quoted
    assert parse_axis("prior=interpolated,finetuned,base").values == tuple(r for r, _ in PRIOR_VARIANTS)
    assert parse_axis("prior=finetuned").labels() == ["prior finetuned"]
    assert parse_axis("steps=12,official").labels() == ["steps 12", "steps official"]


def test_prompt_variants_come_from_the_hook() -> None:
    def choices(template: str) -> list[str]:
        return [template.replace("{red|blue}", c) for c in ("red", "blue")]

    axis = parse_axis("prompt={red|blue} fox", variants=choices)
    assert axis.values == ("red fox", "blue fox")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("colour=red", "not one of"),
        ("guidance", "not one of"),
        ("guidance=", "no values"),
        ("guidance=a,b", "not a number"),
        ("seed=1,1", "twice"),
        ("size=512x512x3", "WIDTHxHEIGHT"),
        ("seeds=99", "from 1 to 32 seeds"),
    ],
)
def test_a_bad_axis_is_one_sentence(text: str, said: str) -> None:
    with pytest.raises(InvalidParams, match=said):
        parse_axis(text)


def test_cells_carry_their_row_and_column_values() -> None:
    grid = make_grid(BASE, PRIOR, ["seeds=4", "guidance=2,4,6"])
    assert grid.shape == (3, 4)
    cells = grid.cells()
    assert len(cells) == 12
    for cell in cells:
        assert cell.params.seed == 100 + cell.col
        assert cell.params.prior_guidance == (2.0, 4.0, 6.0)[cell.row]
        assert cell.params.images == 1 and cell.params.prompt == "a fox" and cell.prior == PRIOR
    assert grid.column_labels() == ["seed 100", "seed 101", "seed 102", "seed 103"]
    assert grid.row_labels() == ["guidance 2", "guidance 4", "guidance 6"]
    assert grid.describe() == "3 x 4: guidance by seed"


def test_consecutive_seeds_batch_and_each_prior_runs_together() -> None:
    grid = make_grid(BASE, PRIOR, ["seeds=4", "guidance=2,4,6"])
    batches = grid.batches()
    assert [(b.params.seed, b.params.images, b.params.prior_guidance) for b in batches] == [
        (100, 4, 2.0),
        (100, 4, 4.0),
        (100, 4, 6.0),
    ]
    assert [[(c.row, c.col) for c in b.cells] for b in batches][1] == [(1, 0), (1, 1), (1, 2), (1, 3)]
    # Seeds that are not consecutive cannot share a batch; priors alternate across columns but load once.
    grid = make_grid(BASE, PRIOR, ["prior=finetuned,interpolated", "seed=5,9,6"])
    batches = grid.batches()
    assert [b.prior for b in batches] == [PRIOR, PRIOR, PRIORS["finetuned"], PRIORS["finetuned"]]
    assert [(b.params.seed, b.params.images) for b in batches] == [(5, 2), (9, 1), (5, 2), (9, 1)]
    places = sorted((c.row, c.col) for b in batches for c in b.cells)
    assert places == [(r, c) for r in range(3) for c in range(2)]


def test_a_row_alone_and_the_limits() -> None:
    row = make_grid(BASE, PRIOR, ["prompt=a fox,a cat,an owl"])
    assert row.shape == (1, 3) and row.row_labels() == [""]
    assert [b.params.prompt for b in row.batches()] == ["a fox", "a cat", "an owl"]
    with pytest.raises(InvalidParams, match=f"at most {MAX_CELLS}"):
        make_grid(BASE, PRIOR, ["seeds=9", "guidance=1,2,3,4,5,6,7,8"])
    with pytest.raises(InvalidParams, match="Both grid axes"):
        make_grid(BASE, PRIOR, ["seeds=2", "seed=4,5"])
    with pytest.raises(InvalidParams, match="one or two axes"):
        make_grid(BASE, PRIOR, ["seeds=2", "guidance=2", "steps=3"])
    with pytest.raises(InvalidParams, match="The width 300 is not supported"):  # every cell is checked
        make_grid(BASE, PRIOR, ["size=256,300x256"])
    with pytest.raises(InvalidParams, match="prior guidance"):
        make_grid(BASE, PRIOR, ["guidance=4,99"])


def test_the_estimate_adds_the_batches_stage_c_steps() -> None:
    costs = StageCosts({"prior": 1.0})  # a second per step per 512x512 image
    grid = make_grid(BASE, PRIOR, ["seeds=4", "steps=2,4"])
    # 4 images of 256x256 (a quarter of 512x512 each): 1 unit, 2 steps, then 4 steps
    assert grid_seconds(grid, costs) == pytest.approx(1 * 2 + 1 * 4)


def test_a_prompt_axis_gives_each_cell_its_own_prompt_over_a_template(tmp_path) -> None:
    from wuerstchen_desktop.core.prompts.wildcards import expand_images, prompt_variants, with_prompt

    (tmp_path / "animal.txt").write_text("cat\ndog\n", encoding="utf-8")
    base = with_prompt(BASE, "a {red|blue} __animal__", tmp_path)  # the box's prompt: a template
    grid = make_grid(
        base, PRIOR, ["seeds=2", "prompt=a fox,a {old|young} __animal__"], prompt_variants(tmp_path)
    )
    assert grid.rows is not None
    assert grid.rows.values == ("a fox", "a old cat", "a old dog", "a young cat", "a young dog")
    for cell in grid.cells():
        # what the runner makes of each cell: the row's prompt, not the box's template drawn again
        (made,) = expand_images(cell.params, tmp_path)
        assert made.prompt == grid.rows.values[cell.row] and made.prompt_template is None
    # without the wildcard reader a value with choices stays one template, drawn per seed
    raw = make_grid(base, PRIOR, ["seeds=2", "prompt=a {old|young} fox"])
    cells = raw.cells()
    assert [c.params.prompt_template for c in cells] == ["a {old|young} fox"] * 2
    assert {expand_images(c.params, tmp_path)[0].prompt for c in cells} <= {"a old fox", "a young fox"}
