"""Several prompts in one go: the prompt box's lines (a Shift+Enter break stays inside its prompt), list
files for ``generate --prompts`` (comments, blanks, bounds), and the command line making one job per
prompt whose files each record their own prompt. Real files, real tiny checkpoints."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import FAST, run_user_error
from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.prompts.lines import (
    MAX_LIST_FILE_BYTES,
    MAX_PROMPTS,
    SOFT_BREAK,
    box_prompts,
    box_text,
    read_prompt_file,
)
from wuerstchen_desktop.core.prompts.wildcards import expand


def test_each_line_of_the_box_is_a_prompt_and_a_soft_break_stays_inside_one() -> None:
    text = f"  a red fox \n\n\r\na castle,{SOFT_BREAK}at night\r\n   \nan owl"
    assert box_prompts(text) == ["a red fox", "a castle,\nat night", "an owl"]
    assert box_prompts("\n \n") == []
    assert box_prompts(box_text("one long prompt\nwrapped\r\nover lines")) == [
        "one long prompt\nwrapped\nover lines"
    ]


def test_a_list_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    text = "\ufeff# wordings of one idea\na red fox\n\n  # indented comment\r\na fox, red\n"
    path.write_bytes(text.encode())
    assert read_prompt_file(path) == ["a red fox", "a fox, red"]


def test_a_list_over_the_limit_or_with_nothing_in_it_is_refused(tmp_path: Path) -> None:
    long, empty = tmp_path / "long.txt", tmp_path / "empty.txt"
    long.write_text("\n".join(f"prompt {i}" for i in range(MAX_PROMPTS + 1)), encoding="utf-8")
    empty.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(InvalidParams, match=f"holds {MAX_PROMPTS + 1} prompts; one run takes at most"):
        read_prompt_file(long)
    with pytest.raises(InvalidParams, match="holds no prompt"):
        read_prompt_file(empty)
    (tmp_path / "exact.txt").write_text("\n".join(["x"] * MAX_PROMPTS), encoding="utf-8")
    assert len(read_prompt_file(tmp_path / "exact.txt")) == MAX_PROMPTS


def test_a_list_file_that_is_no_text_file_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_bytes(b"a cat\n" * (MAX_LIST_FILE_BYTES // 6 + 1))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    cases = {
        tmp_path / "big.txt": "too long to be a prompt list",
        tmp_path / "latin1.txt": "not UTF-8 text",
        tmp_path / "missing.txt": "There is no prompt list",
        tmp_path: "not a regular file",
    }
    if sys.platform != "win32":
        os.mkfifo(tmp_path / "pipe.txt")  # reading it would wait for a writer for ever
        cases[tmp_path / "pipe.txt"] = "not a regular file"
    for path, said in cases.items():
        with pytest.raises(InvalidParams, match=said):
            read_prompt_file(path)


def _generate(prior: Path, decoder: Path, out: Path, *text: str) -> list[str]:
    return ["generate", *text, "--prior", str(prior), "--decoder", str(decoder), "--out", str(out), *FAST]


def test_generate_prompts_makes_one_job_per_line_each_file_with_its_prompt(
    prior_dir, decoder_dir, tmp_path, capsys
) -> None:
    listed = tmp_path / "prompts.txt"
    listed.write_text("# three wordings\na red fox\n\na fox, red\na fox in red\n", encoding="utf-8")
    argv = _generate(prior_dir, decoder_dir, tmp_path / "out", "--prompts", str(listed), "--images", "2")
    assert main(argv) == 0
    paths = [Path(p) for p in capsys.readouterr().out.split()]
    records = [read_record(p).params for p in paths]
    assert [p.prompt for p in records] == ["a red fox"] * 2 + ["a fox, red"] * 2 + ["a fox in red"] * 2
    assert [p.seed for p in records] == [3, 4] * 3  # every prompt from the same seed: wordings compare
    assert all(p.prompt_template is None for p in records) and len(set(paths)) == 6


def test_generate_expands_wildcards_per_image_and_records_the_template(
    prior_dir, decoder_dir, tmp_path, capsys, wildcards_dir: Path
) -> None:
    wildcards_dir.mkdir()
    (wildcards_dir / "colour.txt").write_text("red\nblue\ngreen\ngold\nteal\n", encoding="utf-8")
    template = "a __colour__ {fox|owl|hare}"
    assert main(_generate(prior_dir, decoder_dir, tmp_path / "out", template, "--images", "3")) == 0
    records = [read_record(Path(p)).params for p in capsys.readouterr().out.split()]
    assert [p.prompt for p in records] == [expand(template, s, wildcards_dir) for s in (3, 4, 5)]
    assert all(p.prompt_template == template for p in records)


def test_generate_refuses_a_bad_list_or_wildcard_before_loading_any_model(
    decoder_dir, tmp_path, capsys
) -> None:
    nowhere = tmp_path / "no-prior"  # a model load would fail on this: the list is refused first
    long = tmp_path / "long.txt"
    long.write_text("\n".join(["a cat"] * (MAX_PROMPTS + 1)), encoding="utf-8")
    line = run_user_error(capsys, _generate(nowhere, decoder_dir, tmp_path, "--prompts", str(long)))
    assert f"one run takes at most {MAX_PROMPTS}" in line
    bad = tmp_path / "bad.txt"
    bad.write_text("a cat\na __missing__ dog\n", encoding="utf-8")
    line = run_user_error(capsys, _generate(nowhere, decoder_dir, tmp_path, "--prompts", str(bad)))
    assert "no wildcard list __missing__" in line and "missing.txt" in line
    line = run_user_error(capsys, _generate(nowhere, decoder_dir, tmp_path, "a __../../etc/passwd__"))
    assert "is not a wildcard name" in line
    assert not list(tmp_path.glob("*.png"))


def test_generate_takes_a_prompt_or_a_list_not_both_nor_neither(tmp_path, capsys) -> None:
    listed = tmp_path / "p.txt"
    listed.write_text("a cat\n", encoding="utf-8")
    for argv in (["generate", "a cat", "--prompts", str(listed)], ["generate"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    assert "--prompts" in capsys.readouterr().err
