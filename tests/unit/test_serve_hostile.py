"""Hostile requests to ``serve`` get a 4xx answer with a sentence and change nothing: no file written, the
queue as it was. A real uvicorn on loopback with the tiny checkpoints, one server per test."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

import pytest
import requests

from tests.helpers.serve import StepGate, running_server, session_from
from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.imagefile.record import record_to_dict
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.jobs.runner import execute
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.server.app import BODY_LIMITS, MAX_BODY_BYTES
from wuerstchen_desktop.server.auth import token_for

SMALL = {"prompt": "a cat", "width": 256, "height": 256, "seed": 11, "prior_steps": 2, "decoder_steps": 2}
PATHS = ("../../etc/passwd", "C:\\Windows\\win.ini", "file:///etc/passwd", "\\\\server\\share\\x.png")


@pytest.fixture
def composition(pipeline, tmp_path: Path) -> Path:
    """A real composition file outside the server's folder: a sentinel a path-following server would read
    (and then succeed with)."""
    params = GenerationParams("a cat", width=256, height=256, seed=3, prior_steps=2)
    (path,) = execute(pipeline, Job(params, tmp_path / "elsewhere", kind=JobKind.COMPOSE))[0]
    return path


def files_in(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def uploads_left() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("wuerstchen-upload-*")}


def bodies(composition: Path) -> dict[str, dict]:
    data = base64.b64encode(composition.read_bytes()).decode()
    return {
        "generate": SMALL,
        "compose": SMALL,
        "decode": {"composition": data},
        "blend": {"compositions": [data, data]},
        "reproduce": {"image": data},
    }


def test_without_the_token_every_route_is_a_401(prior_dir, decoder_dir, tmp_path, monkeypatch, composition):
    monkeypatch.setattr(appdirs, "server_token_file", lambda: tmp_path / "data" / "server-token")
    token = token_for("0.0.0.0")
    out = tmp_path / "out"
    with running_server(prior_dir, decoder_dir, out, host="0.0.0.0", token=token) as server:
        base = f"http://127.0.0.1:{server.port}"
        good = requests.post(
            f"{base}/wuerstchen/v1/compose",
            json={**SMALL, "wait": False},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ).json()["job"]
        documented = server.app.openapi()["paths"]  # every route, as the document lists them
        routes = [(m.upper(), path) for path, ops in documented.items() for m in ops]
        routes += [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/redoc")]
        assert len(routes) == 19
        posts = bodies(composition)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
            for method, path in routes:
                target = base + path.replace("{job_id}", good)
                body = posts.get(path.rsplit("/", 1)[-1], {"prompt": "a cat"}) if method == "POST" else None
                r = requests.request(
                    method, target, json=body, params={"job": good}, headers=headers, timeout=60
                )
                assert r.status_code == 401, (method, path, headers)
                assert r.json() == {
                    "detail": "This server needs its token: send it as `Authorization: Bearer TOKEN`."
                }
        mine = requests.get(
            f"{base}/wuerstchen/v1/queue", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        assert [j["job"] for j in mine.json()["jobs"]] == [good]  # nothing queued, nothing cancelled
        assert mine.json()["jobs"][0]["status"] != "cancelled"
    assert {p.relative_to(out).parts[0] for p in files_in(out)} <= {"compositions"}
    assert len(files_in(out)) == 1  # the one job asked with the token


def test_bodies_past_each_routes_limit(prior_dir, decoder_dir, tmp_path, composition) -> None:
    out = tmp_path / "out"
    with running_server(prior_dir, decoder_dir, out) as server:
        base = f"http://127.0.0.1:{server.port}/wuerstchen/v1"
        for route in ("generate", "compose", "decode", "blend", "reproduce"):
            limit = BODY_LIMITS.get(f"/wuerstchen/v1/{route}", MAX_BODY_BYTES)
            big = b'{"prompt": "' + b"x" * limit + b'"}'
            r = requests.post(
                f"{base}/{route}", data=big, headers={"Content-Type": "application/json"}, timeout=60
            )
            assert r.status_code == 413, route
            assert (
                r.json()["detail"]
                == f"The request is larger than the {limit // 1024} KiB this server accepts."
            )
        # a composition route takes more than 1 MiB past the guard; its field's own limit then says no
        data = "A" * (MAX_BODY_BYTES + 10)
        r = requests.post(f"{base}/decode", json={"composition": data}, timeout=60)
        assert r.status_code == 422 and r.json()["detail"].startswith("The field composition is not valid: ")
        assert requests.get(f"{base}/queue", timeout=60).json()["jobs"] == []
    assert not out.exists() or files_in(out) == set()


ABSURD = [
    ("generate", {"width": 10**9}, "The field width is not valid: "),
    ("compose", {"prior_steps": -1}, "The field prior_steps is not valid: "),
    ("generate", {"images": 10**6}, "The field images is not valid: "),
    ("compose", {"seed": 10**400}, "The field seed is not valid: "),
    ("generate", {"width": 1000}, "The width 1000 is not supported: Würstchen needs a multiple of 128"),
    ("compose", {"prompt": "x" * 1_000_000}, "The field prompt is not valid: "),
    ("generate", {"colour": "red"}, "The field colour is not valid: "),
    ("compose", {"prompt": ["a", "list"]}, "The field prompt is not valid: "),
    ("decode", {"composition": "", "decoder_steps": 10**9}, "The field decoder_steps is not valid: "),
    ("decode", {"composition": "!!!"}, "The composition is not base64 text. Send the file's bytes"),
    ("decode", {"composition": "aGVsbG8="}, "composition.png is not a PNG, JPEG or WebP image"),
    ("blend", {"compositions": ["aGk="] * 3}, "The field compositions is not valid: "),
    ("blend", {"compositions": ["aGk="] * 2, "weight": 2}, "The field weight is not valid: "),
    ("reproduce", {}, "Send either the image or its parameters, one of the two."),
    ("reproduce", {"parameters": {"schema": 1}}, "The Würstchen parameters stored in this image are damaged"),
]


def test_absurd_values_are_a_422_with_a_sentence(prior_dir, decoder_dir, tmp_path) -> None:
    out, left = tmp_path / "out", uploads_left()
    with running_server(prior_dir, decoder_dir, out) as server:
        base = f"http://127.0.0.1:{server.port}/wuerstchen/v1"
        for route, change, sentence in ABSURD:
            body = {**SMALL, **change} if route in ("generate", "compose") else change
            r = requests.post(f"{base}/{route}", json=body, timeout=60)
            assert r.status_code == 422, (route, change, r.text)
            detail = r.json()["detail"]
            assert detail.startswith(sentence), (route, detail)
            assert "\n" not in detail and "Traceback" not in detail
        # NaN and infinity, which Python's JSON reader takes: refused, not compared as numbers
        for number in ("NaN", "Infinity", "-Infinity"):
            raw = json.dumps(SMALL)[:-1] + f', "prior_guidance": {number}}}'
            r = requests.post(
                f"{base}/generate", data=raw, headers={"Content-Type": "application/json"}, timeout=60
            )
            assert r.status_code == 422 and r.json()["detail"].startswith(
                "The field prior_guidance is not valid"
            )
        a1111 = f"http://127.0.0.1:{server.port}/sdapi/v1/txt2img"
        raw = '{"prompt": "a cat", "width": 256, "height": 256, "cfg_scale": NaN}'
        r = requests.post(a1111, data=raw, headers={"Content-Type": "application/json"}, timeout=60)
        assert r.status_code == 422
        assert r.json()["detail"] == "The prior guidance must be a number from 0 to 30, not nan."
        assert requests.get(f"{base}/queue", timeout=60).json()["jobs"] == []
        assert uploads_left() == left
    assert not out.exists() or files_in(out) == set()


def test_unicode_tricks_stay_text(prior_dir, decoder_dir, tmp_path) -> None:
    out = tmp_path / "out"
    tricks = [
        "\u202eevil\u202c.png",
        "zero\u200bwidth",
        "nul\x00byte",
        "../\u2215etc\u2215passwd",
    ]
    with running_server(prior_dir, decoder_dir, out) as server:
        base = f"http://127.0.0.1:{server.port}/wuerstchen/v1"
        for text in tricks:
            raw = json.dumps({**SMALL, "prompt": text, "negative_prompt": text})
            r = requests.post(
                f"{base}/compose", data=raw, headers={"Content-Type": "application/json"}, timeout=60
            )
            assert r.status_code == 200, (text, r.text)
            (made,) = r.json()["files"]
            assert made["parameters"]["prompt"] == text
        # a lone surrogate is no text at all: refused by the JSON reader with a sentence
        raw = json.dumps({**SMALL, "prompt": "\ud800 lone"})
        r = requests.post(
            f"{base}/compose", data=raw, headers={"Content-Type": "application/json"}, timeout=60
        )
        assert r.status_code == 422 and r.json()["detail"].startswith("The field prompt is not valid: ")
    outside = {p for p in files_in(tmp_path) if not p.is_relative_to(out)}
    assert outside == set()
    assert all(p.resolve().is_relative_to(out.resolve()) for p in files_in(out))


def test_path_like_strings_are_never_opened(prior_dir, decoder_dir, tmp_path, composition) -> None:
    out, left = tmp_path / "out", uploads_left()
    before = files_in(tmp_path)
    sentinel = str(composition)  # a path a server that opened paths would find, and succeed with
    with running_server(prior_dir, decoder_dir, out) as server:
        base = f"http://127.0.0.1:{server.port}/wuerstchen/v1"
        record = record_to_dict(read_record(composition))
        for text in (*PATHS, sentinel, Path(sentinel).as_uri()):
            for route, body in (
                ("decode", {"composition": text}),
                ("blend", {"compositions": [text, text]}),
                ("reproduce", {"image": text}),
                ("reproduce", {"parameters": text}),
                ("reproduce", {"parameters": {"wuerstchen": text}}),
            ):
                r = requests.post(f"{base}/{route}", json=body, timeout=60)
                assert r.status_code == 422, (route, text, r.text)
            for route in (f"jobs/{text}", f"jobs/{text}/events"):
                r = requests.get(f"{base}/{route}", timeout=60)
                assert r.status_code == 404, (route, r.status_code)
            assert requests.get(f"{base}/events", params={"job": text}, timeout=60).status_code == 404
            assert requests.delete(f"{base}/jobs/{text}", timeout=60).status_code == 404
        assert requests.get(f"{base}/queue", timeout=60).json()["jobs"] == []
        # A record naming paths as its models and prompt: reproduced with the server's own models,
        # the names only written down as text.
        named = {**record, "models": {"prior": {"id": PATHS[0]}, "decoder": {"id": PATHS[1]}}}
        named["params"] = {**record["params"], "prompt": sentinel, "negative_prompt": PATHS[2]}
        r = requests.post(f"{base}/reproduce", json={"parameters": named}, timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["files"][0]["parameters"]["prompt"] == sentinel
        # a picture's sha256 must be a sha256, not a file name
        sourced = {**record, "params": {**record["params"], "source": "../../etc/passwd", "strength": 0.5}}
        r = requests.post(f"{base}/reproduce", json={"parameters": sourced}, timeout=60)
        assert r.status_code == 422 and "sha256" in r.json()["detail"]
        assert uploads_left() == left
    made = files_in(tmp_path) - before
    assert made and all(p.is_relative_to(out) for p in made)  # the one reproduce, in the output folder


def test_a_flood_from_one_client_is_429_and_others_are_still_served(prior_dir, decoder_dir, tmp_path) -> None:
    out = tmp_path / "out"
    with running_server(prior_dir, decoder_dir, out) as server:
        base = f"http://127.0.0.1:{server.port}/wuerstchen/v1"
        gate = StepGate()
        server.engine.step_listeners.append(gate)
        try:
            first = requests.post(f"{base}/compose", json={**SMALL, "wait": False}, timeout=60)
            gate.wait()  # the first runs, held; the others wait behind it
            answers = [
                requests.post(f"{base}/compose", json={**SMALL, "seed": n, "wait": False}, timeout=60)
                for n in range(49)
            ]
            statuses = [first.status_code] + [r.status_code for r in answers]
            assert statuses == [202] * 5 + [429] * 45
            assert answers[-1].json() == {
                "detail": "You already have 4 requests waiting, the most one client may queue. "
                "Wait for one to finish, then send the next."
            }
            other = session_from("127.0.0.2")
            theirs = other.post(f"{base}/compose", json={**SMALL, "wait": False}, timeout=60)
            assert theirs.status_code == 202 and theirs.json()["position"] == 1  # its turn comes first
            mine = requests.get(f"{base}/queue", timeout=60).json()["jobs"]
            assert [j["position"] for j in mine] == [None, 2, 3, 4, 5] and mine[0]["status"] == "running"
            for job in mine[2:]:
                assert (
                    requests.delete(f"{base}/jobs/{job['job']}", timeout=60).json()["status"] == "cancelled"
                )
        finally:
            gate.release()
            server.engine.step_listeners.remove(gate)
        for job in (first.json(), answers[0].json()):
            events = requests.get(f"{base}/jobs/{job['job']}/events", stream=True, timeout=300)
            for _ in events.iter_lines():
                pass
        looked = other.get(f"{base}/jobs/{theirs.json()['job']}", timeout=60).json()
        assert looked["status"] == "done"
    assert len(files_in(out)) == 3  # the first, theirs, the next of mine; the rest cancelled unrun
