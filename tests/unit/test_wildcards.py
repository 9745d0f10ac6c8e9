"""Wildcards: ``{a|b}`` choices and ``__name__`` lists from the wildcards folder, expanded from the seed
(the oracle is the documented rule: ``random.Random(seed)`` draws each pick, left to right); hostile
templates and list files; the record keeps both the template and the prompt, and a job made from a file
keeps its recorded prompt. Real files, real tiny pipeline."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters
from wuerstchen_desktop.core.imagefile.read import read_parameters, read_record
from wuerstchen_desktop.core.imagefile.record import ImageRecord
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.jobs.runner import execute
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.core.prompts import wildcards as w
from wuerstchen_desktop.core.prompts.wildcards import expand, expand_images, has_wildcards, with_prompt

SMALL = GenerationParams("", width=256, height=256, seed=5, prior_steps=2, decoder_steps=1)


def lists(folder: Path, **files: str) -> Path:
    for name, text in files.items():
        path = folder / f"{name.replace('__', '/')}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def test_a_choice_is_drawn_from_the_seed(tmp_path: Path) -> None:
    options = ["red", "blue", "green", "gold", "grey"]
    for seed in range(20):
        pick = options[random.Random(seed).randrange(len(options))]
        assert expand("a {red|blue|green|gold|grey} car", seed, tmp_path) == f"a {pick} car"
    made = {expand("a {red|blue|green|gold|grey} car", seed, tmp_path) for seed in range(20)}
    assert len(made) >= 3  # different seeds, different prompts


def test_picks_go_left_to_right_and_only_the_chosen_branch_draws(tmp_path: Path) -> None:
    for seed in range(30):
        rng = random.Random(seed)
        first = ["old", "new"][rng.randrange(2)]
        second = "cat" if rng.randrange(2) == 0 else ["small", "big"][rng.randrange(2)] + " dog"
        assert expand("{old|new} {cat|{small|big} dog}", seed, tmp_path) == f"{first} {second}"


def test_lists_are_lines_of_files_with_comments_blanks_and_subfolders(tmp_path: Path) -> None:
    folder = lists(tmp_path, colour="# colours\nred\n\n  blue  \n#green\n", animals__cat="tabby\nsiamese\n")
    for seed in range(12):
        rng = random.Random(seed)
        colour = ["red", "blue"][rng.randrange(2)]
        cat = ["tabby", "siamese"][rng.randrange(2)]
        assert expand("a __colour__ __animals/cat__ cat", seed, folder) == f"a {colour} {cat} cat"


def test_a_list_line_may_hold_choices_and_other_lists(tmp_path: Path) -> None:
    folder = lists(tmp_path, scene="__place__ at {dawn|dusk}", place="a harbour\na forest")
    made = {expand("__scene__", seed, folder) for seed in range(40)}
    assert made == {f"{p} at {t}" for p in ("a harbour", "a forest") for t in ("dawn", "dusk")}


def test_the_same_template_seed_and_files_give_the_same_prompt(tmp_path: Path) -> None:
    folder = lists(tmp_path, style="oil\nink\nwatercolour\npastel")
    template = "__style__ of a {fox|hare|owl} in {rain|snow}"
    first = [expand(template, s, folder) for s in range(10)]
    assert [expand(template, s, folder) for s in range(10)] == first


def test_image_i_of_a_job_expands_with_its_own_seed(tmp_path: Path) -> None:
    template = "a {red|blue|green|gold|grey|pink} {cat|dog|owl}"
    job = with_prompt(SMALL.replace(seed=40, images=4), template, tmp_path)
    assert job.prompt_template == template and job.prompt == expand(template, 40, tmp_path)
    images = expand_images(job, tmp_path)
    assert [p.seed for p in images] == [40, 41, 42, 43] and all(p.images == 1 for p in images)
    assert [p.prompt for p in images] == [expand(template, s, tmp_path) for s in range(40, 44)]
    assert len({p.prompt for p in images}) > 1
    plain = with_prompt(SMALL, "a plain cat", tmp_path)
    assert plain.prompt_template is None and expand_images(plain, tmp_path) == [plain]


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/etc/passwd", "a/../../b", "..", "sub/../x", "C:/x", "a\\b", "a/./b", "sub/"],
)
def test_a_name_cannot_leave_the_wildcards_folder(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "wildcards"
    lists(tmp_path, passwd="secret", x="secret")  # beside the folder: never read
    (folder / "sub").mkdir(parents=True)
    with pytest.raises(InvalidParams, match="is not a wildcard name") as info:
        expand(f"a __{name}__ b", 0, folder)
    assert "secret" not in str(info.value)


def test_a_missing_list_names_the_file_and_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "wildcards"
    with pytest.raises(InvalidParams) as info:
        expand("a __animals/fish__", 0, folder)
    text = str(info.value)
    assert "__animals/fish__" in text and str(folder / "animals" / "fish.txt") in text
    assert f"wildcards folder {folder}" in text


def test_a_list_that_names_itself_stops_with_a_sentence(tmp_path: Path) -> None:
    folder = lists(tmp_path, loop="more __loop__", a="__b__", b="x __a__")
    for template in ("__loop__", "__a__"):
        with pytest.raises(InvalidParams, match=f"nest more than {w.MAX_DEPTH} deep"):
            expand(template, 0, folder)


def test_lists_that_multiply_are_stopped_before_they_run_away(tmp_path: Path) -> None:
    forty = " ".join(["__leaf__"] * 40)
    folder = lists(tmp_path, top=" ".join(["__mid__"] * 40), mid=forty, leaf="x")
    with pytest.raises(InvalidParams, match=f"more than {w.MAX_PICKS} choices"):
        expand("__top__", 0, folder)


def test_a_long_expansion_is_refused(tmp_path: Path) -> None:
    folder = lists(tmp_path, big="y" * 6000)
    with pytest.raises(InvalidParams, match="expands to more than"):
        expand("__big__ __big__", 0, folder)


def test_a_huge_list_file_is_refused_unread(tmp_path: Path) -> None:
    folder = lists(tmp_path)
    folder.mkdir(exist_ok=True)
    (folder / "huge.txt").write_bytes(b"word\n" * (w.MAX_LIST_BYTES // 5 + 1))
    with pytest.raises(InvalidParams, match="too long to be a wildcard list"):
        expand("__huge__", 0, folder)


@pytest.mark.skipif(sys.platform == "win32", reason="no FIFOs on Windows")
def test_a_pipe_named_like_a_list_is_not_opened_for_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")  # opening it to read would wait for a writer for ever
    with pytest.raises(InvalidParams, match="not a regular file"):
        expand("__pipe__", 0, tmp_path)


def test_empty_lists_broken_text_and_stray_braces_are_sentences(tmp_path: Path) -> None:
    folder = lists(tmp_path, empty="# only a comment\n\n")
    (folder / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    cases = {
        "__empty__": "holds no choices",
        "__latin1__": "not UTF-8 text",
        "a {red|blue": "no “}” to close it",
        "a red} car": "no “{” before it",
        "{" * 40 + "}" * 40: "nests choices more than",
    }
    for template, said in cases.items():
        with pytest.raises(InvalidParams, match=said):
            expand(template, 0, folder)


def test_what_counts_as_a_template() -> None:
    assert has_wildcards("a {red|blue} car") and has_wildcards("a __colour__ car")
    assert not has_wildcards("a red car, 8k, highly_detailed") and not has_wildcards("a | b")


def test_the_record_keeps_the_template_and_the_prompt(tmp_path: Path) -> None:
    made = with_prompt(SMALL, "a {red|blue} car", tmp_path)
    data = made.to_dict()
    assert data["prompt_template"] == "a {red|blue} car" and data["prompt"] in ("a red car", "a blue car")
    assert GenerationParams.from_dict(data) == made
    assert "prompt_template" not in SMALL.replace(prompt="a car").to_dict()  # old records stay as they were
    with pytest.raises(InvalidParams, match="template must be text"):
        GenerationParams.from_dict({**data, "prompt_template": 3})
    text = format_parameters(ImageRecord(made))
    assert text.startswith(made.prompt + "\n") and "Wildcard prompt: a {red|blue} car, " in text


def test_a_job_makes_each_image_from_its_own_expansion_and_a_reproduce_keeps_it(
    pipeline, tmp_path: Path, wildcards_dir: Path
) -> None:
    folder = lists(wildcards_dir, colour="red\nblue\ngreen\ngold\ngrey\npink\nteal")  # the app's folder
    template = "a __colour__ {cat|dog|owl}"
    params = with_prompt(SMALL.replace(images=3, seed=11), template, folder)
    paths, _ = execute(pipeline, Job(params, tmp_path / "out"))
    records = [read_record(p) for p in paths]
    assert [r.params.prompt for r in records] == [expand(template, s, folder) for s in (11, 12, 13)]
    assert len({r.params.prompt for r in records}) > 1
    assert all(r.params.prompt_template == template for r in records)
    assert [r.params.seed for r in records] == [11, 12, 13]
    assert read_parameters(paths[1]).prompt == records[1].params.prompt
    # The lists change; made again from its file, the image keeps the prompt its record holds.
    (folder / "colour.txt").write_text("violet\n", encoding="utf-8")
    job = Job(None, tmp_path / "again", kind=JobKind.REPRODUCE, sources=(paths[1],))
    (again,), _ = execute(pipeline, job)
    assert read_record(again).params == records[1].params
    # A new job (no source file) expands again, from the lists as they are now.
    (fresh,), _ = execute(pipeline, Job(params.replace(images=1), tmp_path / "fresh"))
    assert read_record(fresh).params.prompt.startswith("a violet ")


def test_a_compose_job_composes_each_seed_from_its_own_expansion(
    pipeline, tmp_path: Path, wildcards_dir: Path
) -> None:
    template = "a {red|blue|green|gold|grey|pink} {cat|dog|owl} on __place__"
    lists(wildcards_dir, place="a roof\na boat\na hill")
    params = with_prompt(SMALL.replace(images=4, seed=30), template, wildcards_dir)
    paths, _ = execute(pipeline, Job(params, tmp_path, kind=JobKind.COMPOSE))
    records = [read_record(p) for p in paths]
    assert all(r.kind == "composition" and r.params.prompt_template == template for r in records)
    assert [r.params.prompt for r in records] == [expand(template, s, wildcards_dir) for s in range(30, 34)]


def test_a_template_stands_for_every_prompt_it_can_make(tmp_path: Path) -> None:
    folder = lists(tmp_path, animal="# pets\ncat\n\ndog\n", pet__colour="{red|blue}\n")
    got = w.all_expansions("a {big|small} __animal__", folder)
    assert got == ["a big cat", "a big dog", "a small cat", "a small dog"]
    # nested lists and choices, each prompt once
    assert w.all_expansions("__pet/colour__ {x|{x|y}}", folder) == ["red x", "red y", "blue x", "blue y"]
    # every draw of expand is one of them
    drawn = {expand("a {big|small} __animal__", seed, folder) for seed in range(40)}
    assert drawn == set(got)
    with pytest.raises(InvalidParams, match="more than 8 prompts"):
        w.all_expansions("{a|b|c}{a|b|c}", folder, limit=8)
    with pytest.raises(InvalidParams, match="no wildcard list __missing__"):
        w.all_expansions("__missing__", folder)
    with pytest.raises(InvalidParams, match="not a wildcard name"):
        w.all_expansions("__../secret__", folder)
    (folder / "loop.txt").write_text("__loop__\n", encoding="utf-8")
    with pytest.raises(InvalidParams, match="nest more than"):
        w.all_expansions("__loop__", folder)
    plain = w.prompt_variants(folder)
    assert plain("a fox, at dusk") == ["a fox, at dusk"] and plain("a {red|blue} fox") == [
        "a red fox",
        "a blue fox",
    ]
