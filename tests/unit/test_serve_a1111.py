"""``serve`` driven by a client no one here wrote, the ``webuiapi`` package, over loopback HTTP: a real
uvicorn server, the tiny checkpoints, the one job runner."""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.serve import StepGate, api, running_server
from wuerstchen_desktop.core.engine.schedule import official_prior_timesteps
from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters, parse_parameters
from wuerstchen_desktop.core.imagefile.read import read_parameters, read_record

FAST = {"width": 256, "height": 256, "steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def server(prior_dir: Path, decoder_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    with running_server(prior_dir, decoder_dir, tmp_path_factory.mktemp("served")) as running:
        yield running


def _files(result, folder: Path) -> list[Path]:
    """The answer's base64 images as files, byte for byte as they came."""
    paths = []
    for i, data in enumerate(result.json["images"]):
        path = folder / f"answer-{i}.png"
        path.write_bytes(base64.b64decode(data))
        paths.append(path)
    return paths


def test_txt2img_images_carry_our_parameters(server, prior_dir, tmp_path) -> None:
    result = api(server).txt2img(prompt="a cat", cfg_scale=5.5, batch_size=2, n_iter=2, **FAST)
    assert len(result.images) == 4 and all(im.size == (256, 256) for im in result.images)
    paths = _files(result, tmp_path)
    records = [read_record(p) for p in paths]
    assert [r.params.seed for r in records] == [3, 4, 5, 6]  # image i of the request has seed + i
    for r in records:
        p = r.params
        assert (p.prompt, p.width, p.height, p.prior_steps, p.prior_guidance) == ("a cat", 256, 256, 2, 5.5)
        assert (p.decoder_steps, p.decoder_guidance, p.images) == (12, 0.0, 1)
        assert r.prior_model == str(prior_dir)
    assert read_parameters(paths[0]).record == records[0]
    text = Image.open(paths[0]).info["parameters"]  # the A1111 text, as PIL and other tools read it
    assert text.startswith("a cat\nNegative prompt: \nSteps: 2, Sampler: ")
    found = parse_parameters(text)
    assert (found.seed, found.steps, found.guidance, found.width, found.height) == (3, 2, 5.5, 256, 256)
    # A1111's answer: `info` is a JSON string whose infotexts are the files' texts; `parameters` echoes
    assert isinstance(result.info, dict) and result.info["all_seeds"] == [3, 4, 5, 6]
    assert result.info["infotexts"] == [format_parameters(r) for r in records]
    assert (result.info["steps"], result.info["cfg_scale"], result.info["seed"]) == (2, 5.5, 3)
    assert result.parameters["prompt"] == "a cat" and result.parameters["n_iter"] == 2
    # the same files are in the output folder, with their records
    saved = sorted(server.engine.out_dir.rglob("*-a-cat.png"))
    assert {p.read_bytes() for p in paths} <= {p.read_bytes() for p in saved}


def test_sd_parsers_reads_the_answer(server) -> None:
    import sd_parsers

    result = api(server).txt2img(prompt="a red fox", negative_prompt="fog", **FAST)
    info = sd_parsers.ParserManager().parse(result.images[0])
    assert info is not None and info.full_prompt == "a red fox" and info.full_negative_prompt == "fog"
    params = info.samplers[0].parameters
    assert str(params["seed"]) == "3" and str(params["steps"]) == "2"


def test_our_fields_and_a_random_seed(server, tmp_path) -> None:
    answer = api(server).custom_post(
        "txt2img",
        {
            "prompt": "a dog",
            "width": 256,
            "height": 256,
            "steps": 1,
            "decoder_steps": 2,
            "decoder_cfg_scale": 1.5,
            "seed": -1,
            "batch_size": 2,
        },
        baseurl=True,
    )
    records = [read_record(p) for p in _files(answer, tmp_path)]
    seed = records[0].params.seed
    assert seed >= 0 and records[1].params.seed == seed + 1
    assert {(r.params.decoder_steps, r.params.decoder_guidance) for r in records} == {(2, 1.5)}


def test_no_steps_means_the_official_schedule(server, tmp_path) -> None:
    answer = api(server).custom_post(
        "txt2img", {"prompt": "a dog", "width": 256, "height": 256, "seed": 9}, baseurl=True
    )
    record = read_record(_files(answer, tmp_path)[0])
    official = tuple(official_prior_timesteps().tolist())
    assert record.params.prior_steps is None and record.prior_schedule == pytest.approx(official)


def test_progress_during_a_job_and_when_idle(server) -> None:
    client, gate = api(server), StepGate()
    server.engine.step_listeners.append(gate)
    answers: list[object] = []
    worker = threading.Thread(target=lambda: answers.append(client.txt2img(prompt="a cat", **FAST)))
    try:
        worker.start()
        gate.wait()
        during = client.get_progress()
    finally:
        gate.release()
        worker.join(120)
        server.engine.step_listeners.remove(gate)
    state = during["state"]
    steps = ("job_count", "job_no", "sampling_step", "sampling_steps")
    assert [state[k] for k in steps] == [1, 0, 1, 2]
    assert 0 < during["progress"] < 1 and during["eta_relative"] >= 0
    preview = Image.open(io.BytesIO(base64.b64decode(during["current_image"])))
    assert preview.format == "PNG" and preview.width > 0
    assert len(answers[0].images) == 1
    idle = client.get_progress()
    assert (idle["progress"], idle["state"]["job_count"], idle["current_image"]) == (0, 0, None)


def test_interrupt_stops_the_running_request_only(server) -> None:
    client, gate = api(server), StepGate()
    server.engine.step_listeners.append(gate)
    before = set(server.engine.out_dir.rglob("*.png"))
    answers: list[object] = []
    worker = threading.Thread(
        target=lambda: answers.append(client.txt2img(prompt="a stopped cat", n_iter=3, **FAST))
    )
    try:
        worker.start()
        gate.wait()
        assert client.interrupt() == {}
        interrupted = client.get_progress()["state"]["interrupted"]
    finally:
        gate.release()
        worker.join(120)
        server.engine.step_listeners.remove(gate)
    assert interrupted is True
    assert answers[0].images == [] and set(server.engine.out_dir.rglob("*.png")) == before
    assert len(client.txt2img(prompt="a cat", **FAST).images) == 1  # the next request runs as usual


def test_sd_models_and_options_name_the_prior(server, prior_dir) -> None:
    client = api(server)
    models = client.get_sd_models()
    assert [(m["model_name"], m["filename"]) for m in models] == [(prior_dir.name, str(prior_dir))]
    assert client.get_options()["sd_model_checkpoint"] == models[0]["title"]


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        ({"width": 1000}, "The width 1000 is not supported: Würstchen needs a multiple of 128"),
        ({"steps": 500}, "The number of prior steps must be a whole number from 1 to 200, not 500."),
        ({"batch_size": 4, "n_iter": 5}, "A request makes at most 16 images, not 20"),
        ({"seed": -7}, "The seed must be a whole number from 0"),
        ({"cfg_scale": 31}, "The prior guidance must be a number from 0 to 30, not 31.0."),
        ({"width": "wide"}, "The field width is not valid: "),
        ({"prompt": "x" * 20_001}, "The field prompt is not valid: "),
    ],
)
def test_a_wrong_value_is_a_422_with_the_cli_sentence(server, change, sentence) -> None:
    before = set(server.engine.out_dir.rglob("*.png"))
    payload = {"prompt": "a cat", **FAST, **change}
    with pytest.raises(RuntimeError) as caught:
        api(server).txt2img(**payload)
    status, body = caught.value.args
    assert status == 422 and json.loads(body)["detail"].startswith(sentence)
    assert set(server.engine.out_dir.rglob("*.png")) == before


def test_a_path_in_the_prompt_stays_a_name(server) -> None:
    client = api(server)
    result = client.txt2img(prompt="../../../outside/evil", **FAST)
    assert len(result.images) == 1
    out = server.engine.out_dir.resolve()
    assert not (out.parent / "outside").exists()
    assert all(p.resolve().is_relative_to(out) for p in out.rglob("*evil*"))
