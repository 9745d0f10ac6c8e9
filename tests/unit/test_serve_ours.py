"""The server's own routes (``/wuerstchen/v1``) over loopback HTTP: a real uvicorn, the tiny checkpoints,
the one job runner; compared with the same jobs run here through ``execute``."""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from tests.helpers.serve import StepGate, running_server, session_from, sse_events
from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.imagefile.record import record_to_dict
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.jobs.runner import execute
from wuerstchen_desktop.core.params import GenerationParams

SMALL = {"prompt": "a cat", "width": 256, "height": 256, "seed": 11, "prior_steps": 3, "decoder_steps": 2}
PARAMS = GenerationParams("a cat", width=256, height=256, seed=11, prior_steps=3, decoder_steps=2)


@pytest.fixture(scope="module")
def server(prior_dir: Path, decoder_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    with running_server(prior_dir, decoder_dir, tmp_path_factory.mktemp("served")) as running:
        yield running


def url(server, route: str) -> str:
    return f"http://127.0.0.1:{server.port}/wuerstchen/v1/{route}"


def post(server, route: str, body: dict, status: int = 200) -> dict:
    r = requests.post(url(server, route), json=body, timeout=300)
    assert r.status_code == status, r.text
    return r.json()


def pixels(data: str | bytes) -> np.ndarray:
    raw = base64.b64decode(data) if isinstance(data, str) else data
    with Image.open(io.BytesIO(raw)) as im:
        return np.asarray(im.convert("RGB"))


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to a batch's last-bit effects, as tests/unit/test_compose.py allows: an image made in a
    batch of two differs from one made alone by a level at a few pixels."""
    diff = np.abs(a.astype(int) - b.astype(int))
    return bool(diff.max() <= 2 and diff.mean() < 0.05)


def saved(answer: dict, tmp_path: Path) -> list[Path]:
    paths = []
    for n, made in enumerate(answer["files"]):
        path = tmp_path / f"{answer['job']}-{n}.png"
        path.write_bytes(base64.b64decode(made["file"]))
        paths.append(path)
    return paths


def test_compose_then_decode_over_http_is_the_local_compose_and_decode(server, pipeline, tmp_path) -> None:
    composed = post(server, "compose", {**SMALL, "images": 2})
    assert composed["kind"] == "compose" and composed["status"] == "done" and len(composed["job"]) == 16
    files = composed["files"]
    assert [f["kind"] for f in files] == ["composition"] * 2 and [f["seed"] for f in files] == [11, 12]
    remote = saved(composed, tmp_path)
    records = [read_record(p) for p in remote]
    assert [r.kind for r in records] == ["composition"] * 2
    assert files[0]["parameters"] == records[0].params.to_dict()
    assert files[0]["infotext"] == format_parameters(records[0])
    assert files[0]["name"].startswith("compositions/")
    # the same bytes as the file the server saved; the preview is that picture without the metadata
    assert (server.engine.out_dir / files[0]["name"]).read_bytes() == remote[0].read_bytes()
    assert np.array_equal(pixels(files[0]["preview"]), pixels(files[0]["file"]))
    # The same jobs here, through the one runner.
    local = tmp_path / "local"
    here = execute(pipeline, Job(PARAMS.replace(images=2), local, kind=JobKind.COMPOSE))[0]
    assert [read_record(p).latent for p in here] == [r.latent for r in records]
    (decoded_here,) = execute(pipeline, Job(None, local, kind=JobKind.DECODE, sources=(here[1],)))[0]
    decoded = post(server, "decode", {"composition": files[1]["file"]})
    assert decoded["kind"] == "decode" and [f["kind"] for f in decoded["files"]] == ["image"]
    assert np.array_equal(pixels(decoded["files"][0]["file"]), pixels(decoded_here.read_bytes()))
    record = read_record(saved(decoded, tmp_path)[0])
    assert record.latent == records[1].latent and record.params.decoder_seed == 12
    # vary detail: a decoder seed of the client's choosing
    varied = post(server, "decode", {"composition": files[1]["file"], "decoder_seed": 5, "decoder_steps": 3})
    assert varied["files"][0]["parameters"]["decoder_seed"] == 5
    assert varied["files"][0]["parameters"]["decoder_steps"] == 3


def test_blend_over_http_is_the_local_blend(server, pipeline, tmp_path) -> None:
    files = post(server, "compose", {**SMALL, "images": 2})["files"]
    blended = post(server, "blend", {"compositions": [f["file"] for f in files], "weight": 0.25})
    (path,) = saved(blended, tmp_path)
    record = read_record(path)
    assert record.blend is not None and record.blend.weight == 0.25 and record.blend.other.seed == 12
    local = tmp_path / "local"
    first, second = execute(pipeline, Job(PARAMS.replace(images=2), local, kind=JobKind.COMPOSE))[0]
    job = Job(None, local, kind=JobKind.BLEND, sources=(first, second), weight=0.25)
    (here,) = execute(pipeline, job)[0]
    assert np.array_equal(pixels(path.read_bytes()), pixels(here.read_bytes()))


def test_generate_and_reproduce_from_the_file_and_from_its_record(server, pipeline, tmp_path) -> None:
    made = post(server, "generate", {**SMALL, "images": 2})
    assert [f["seed"] for f in made["files"]] == [11, 12]
    second = saved(made, tmp_path)[1]
    direct = pipeline.generate(PARAMS.replace(seed=12))
    assert close(pixels(second.read_bytes()), np.asarray(direct.images[0]))
    from_file = post(server, "reproduce", {"image": base64.b64encode(second.read_bytes()).decode()})
    record = read_record(second)
    as_read = {"wuerstchen": {k: v for k, v in record_to_dict(record).items() if k != "latent"}}
    from_record = post(server, "reproduce", {"parameters": as_read})
    for again in (from_file, from_record):
        assert again["kind"] == "reproduce" and again["files"][0]["parameters"] == record.params.to_dict()
        assert close(pixels(again["files"][0]["file"]), pixels(second.read_bytes()))
    both = post(server, "reproduce", {"image": "aGk=", "parameters": as_read}, status=422)
    assert both["detail"] == "Send either the image or its parameters, one of the two."


def test_a_job_answered_at_once_is_looked_up_by_its_id(server) -> None:
    queued = post(server, "compose", {**SMALL, "wait": False}, status=202)
    assert queued["status"] in ("waiting", "running") and queued["files"] == []
    events = sse_events(requests.get(url(server, f"jobs/{queued['job']}/events"), stream=True, timeout=300))
    assert events[-1][0] == "status" and events[-1][1]["status"] == "done"
    looked = requests.get(url(server, f"jobs/{queued['job']}"), params={"send_files": True}, timeout=60)
    assert looked.status_code == 200
    found = looked.json()
    assert found["status"] == "done" and found["progress"] == 1.0
    assert len(found["files"]) == 1 and found["files"][0]["file"]
    mine = requests.get(url(server, "queue"), timeout=60).json()
    assert queued["job"] in [j["job"] for j in mine["jobs"]] and mine["limit"] == 4
    # another client sees neither the job nor it in its queue
    other = session_from("127.0.0.2")
    assert other.get(url(server, f"jobs/{queued['job']}"), timeout=60).status_code == 404
    assert other.delete(url(server, f"jobs/{queued['job']}"), timeout=60).status_code == 404
    assert queued["job"] not in [j["job"] for j in other.get(url(server, "queue"), timeout=60).json()["jobs"]]


def test_the_event_stream_says_each_step_in_order_with_previews(server) -> None:
    queued = post(server, "generate", {**SMALL, "wait": False}, status=202)
    r = requests.get(
        url(server, "events"), params={"job": queued["job"], "previews": True}, stream=True, timeout=300
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    steps = [data for name, data in events if name == "step"]
    stages = [(s["stage"], s["step"], s["total"]) for s in steps]
    prior = [(st, n, t) for st, n, t in stages if st == "prior"]
    decoder = [(st, n, t) for st, n, t in stages if st == "decoder"]
    assert prior == [("prior", n, 3) for n in (1, 2, 3)]
    assert decoder == [("decoder", n, 2) for n in (1, 2)]
    assert stages.index(prior[-1]) < stages.index(decoder[0])  # Stage C, then Stage B
    progress = [s["progress"] for s in steps]
    assert progress == sorted(progress) and progress[0] > 0 and progress[-1] <= 1
    assert all(s["job"] == queued["job"] for s in steps)
    previews = [s["preview"] for s in steps if s["preview"]]
    assert previews and all(pixels(p).shape == (24, 24, 3) for p in previews)
    assert [s for s in steps if s["preview"]][-1]["step"] == 3  # the last Stage C step's, at least
    assert events[-1] == ("status", {**events[-1][1], "status": "done", "job": queued["job"]})


def test_a_stream_read_after_the_job_ended_still_shows_the_last_preview(server) -> None:
    done = post(server, "compose", {**SMALL, "send_files": False})  # waits for the end
    assert done["status"] == "done"
    r = requests.get(
        url(server, f"jobs/{done['job']}/events"), params={"previews": True}, stream=True, timeout=300
    )
    steps = [data for name, data in sse_events(r) if name == "step"]
    assert [s["step"] for s in steps] == [1, 2, 3]
    with_preview = [s for s in steps if s["preview"]]
    assert [s["step"] for s in with_preview] == [3] and pixels(with_preview[0]["preview"]).shape == (
        24,
        24,
        3,
    )


def test_cancel_a_waiting_and_a_running_job(server) -> None:
    gate = StepGate()
    server.engine.step_listeners.append(gate)
    before = set(server.engine.out_dir.rglob("*.png"))
    answers: dict[str, dict] = {}
    worker = threading.Thread(target=lambda: answers.update(running=post(server, "generate", SMALL)))
    try:
        worker.start()
        gate.wait()
        waiting = post(server, "compose", {**SMALL, "wait": False}, status=202)
        assert waiting["status"] == "waiting" and waiting["position"] == 1
        (running,) = [
            j
            for j in requests.get(url(server, "queue"), timeout=60).json()["jobs"]
            if j["status"] == "running"
        ]
        cancelled = requests.delete(url(server, f"jobs/{waiting['job']}"), timeout=60).json()
        assert cancelled["status"] == "cancelled"
        stopping = requests.delete(url(server, f"jobs/{running['job']}"), timeout=60).json()
        assert stopping["status"] == "running"  # it stops after the step it is in
    finally:
        gate.release()
        worker.join(300)
        server.engine.step_listeners.remove(gate)
    assert answers["running"]["status"] == "interrupted" and answers["running"]["files"] == []
    looked = requests.get(url(server, f"jobs/{waiting['job']}"), timeout=60).json()
    assert looked["status"] == "cancelled"
    assert set(server.engine.out_dir.rglob("*.png")) == before  # neither wrote a file


def test_the_openapi_document_lists_every_route_with_its_models(server) -> None:
    doc = requests.get(f"http://127.0.0.1:{server.port}/openapi.json", timeout=60).json()
    paths, schemas = doc["paths"], doc["components"]["schemas"]

    def body(path: str) -> str:
        ref = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return ref.rsplit("/", 1)[-1]

    prefix = "/wuerstchen/v1"
    expected = {
        "generate": "TextJob",
        "compose": "TextJob",
        "decode": "DecodeRequest",
        "blend": "BlendRequest",
    }
    for route, model in {**expected, "reproduce": "ReproduceRequest"}.items():
        assert body(f"{prefix}/{route}") == model
        answer = paths[f"{prefix}/{route}"]["post"]["responses"]
        assert answer["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/JobAnswer")
        assert {"202", "422", "429"} <= set(answer)
    assert set(paths[f"{prefix}/jobs/{{job_id}}"]) == {"get", "delete"}
    for route in ("queue", "events", "jobs/{job_id}/events"):
        assert "get" in paths[f"{prefix}/{route}"]
    stream = paths[f"{prefix}/jobs/{{job_id}}/events"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream
    # the CLI's limits, stated
    text = schemas["TextJob"]["properties"]
    assert (text["width"]["minimum"], text["width"]["maximum"]) == (256, 2048)
    assert text["images"]["maximum"] == 16
    assert text["prompt"]["maxLength"] == 20_000
    assert schemas["TextJob"]["additionalProperties"] is False
    assert schemas["DecodeRequest"]["required"] == ["composition"]
    for name in ("JobAnswer", "MadeFile", "QueueAnswer", "ErrorAnswer", "StepEvent"):
        assert name in schemas or any(name in str(p) for p in paths.values()), name
    assert "/sdapi/v1/txt2img" in paths
