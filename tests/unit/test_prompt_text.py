"""Prompts that are not valid text (lone surrogates: bytes that were not UTF-8) are repaired with U+FFFD and
noted, never a tokenizer traceback: from GenerationParams, the token counter, the command line's raw
argument bytes, and a record read from a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image, PngImagePlugin

from wuerstchen_desktop.core.engine.tokens import TokenCounter
from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.imagefile.record import record_to_json
from wuerstchen_desktop.core.params import GenerationParams, replaced_text_notes

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--width", "256", "--height", "256", "--prior-steps", "2", "--decoder-steps", "1", "--seed", "5"]
CPU = ["--device", "cpu", "--dtype", "float32", "--offline"]


def test_params_repair_lone_surrogates_and_say_where() -> None:
    p = GenerationParams("caf\udcff au lait", negative_prompt="\ud800blurry")
    assert p.prompt == "caf\ufffd au lait" and p.negative_prompt == "\ufffdblurry"
    assert p.prompt.encode("utf-8")  # valid text now
    assert GenerationParams.from_dict(p.to_dict()) == p
    assert GenerationParams.from_dict({**p.to_dict(), "prompt": "caf\udcff au lait"}) == p
    notes = replaced_text_notes([p])
    assert len(notes) == 2 and "prompt" in notes[0] and "character 4" in notes[0] and "UTF-8" in notes[0]
    assert "negative prompt" in notes[1] and "character 1" in notes[1]
    assert replaced_text_notes([GenerationParams("café")]) == []


def test_the_token_counter_and_the_pipeline_take_invalid_text(pipeline, prior_dir: Path) -> None:
    counter = TokenCounter(prior_dir / "tokenizer" / "tokenizer.json")
    assert (
        counter.count("caf\udcff")
        == counter.count("caf\ufffd")
        == pipeline.prior_text.count_tokens("caf\udcff")
    )
    assert counter.cut_words("caf\udcff") == ""


def test_the_command_line_takes_argument_bytes_that_are_not_utf8(
    prior_dir: Path, decoder_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LC_ALL": "C.UTF-8", "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "wuerstchen_desktop", "generate", b"caf\xff", *SMALL, *CPU]
    argv += ["--prior", str(prior_dir), "--decoder", str(decoder_dir), "--out", str(tmp_path)]
    run = subprocess.run(argv, capture_output=True, env=env, timeout=600)
    err = run.stderr.decode("utf-8", "replace")
    assert run.returncode == 0, err
    assert "Traceback" not in err
    assert "Note: The prompt held bytes that are not valid text" in err and "character 4" in err
    path = Path(run.stdout.decode().strip())
    assert read_record(path).params.prompt == "caf\ufffd"


def test_a_record_holding_a_lone_surrogate_is_reproduced(pipeline, tmp_path: Path, capsys) -> None:
    from wuerstchen_desktop.cli import main
    from wuerstchen_desktop.core.jobs.records import image_record

    params = GenerationParams("caf\ufffd", width=256, height=256, seed=5, prior_steps=2, decoder_steps=1)
    record = image_record(pipeline, params, None)
    # The file says "\udcff" where a well-made one says "\ufffd": lone surrogates survive JSON escapes.
    text = record_to_json(record).replace("caf\\ufffd", "caf\\udcff")
    assert "\\udcff" in text
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", format_parameters(record))
    info.add_text("wuerstchen", text, zip=True)
    path = tmp_path / "hostile.png"
    Image.new("RGB", (256, 256)).save(path, pnginfo=info)
    assert read_record(path).params.prompt == "caf\ufffd"
    out = tmp_path / "again"
    assert main(["reproduce", str(path), "--out", str(out), "--device", "cpu", "--dtype", "float32"]) == 0
    made = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert read_record(made).params.prompt == "caf\ufffd"
