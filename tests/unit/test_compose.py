"""Compose first, decode later: Stage C alone, decoding stored compositions, blends, and reproducing
every kind of file from its record alone. Real tiny checkpoints, real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.disk import full_disk_after
from wuerstchen_desktop.core.engine import compose as c
from wuerstchen_desktop.core.engine.schedule import WuerstchenSampler, official_prior_timesteps
from wuerstchen_desktop.core.errors import InvalidParams, WuerstchenError
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.imagefile.write import write_image
from wuerstchen_desktop.core.jobs.job import COMPOSITIONS_FOLDER, Job, JobKind
from wuerstchen_desktop.core.jobs.records import image_record, record_latent
from wuerstchen_desktop.core.jobs.reproduce import reproduce
from wuerstchen_desktop.core.jobs.runner import execute
from wuerstchen_desktop.core.params import GenerationParams

SMALL = GenerationParams("a cat", width=256, height=256, seed=11, prior_steps=3, decoder_steps=2)


def close_images(a: np.ndarray, b: Image.Image) -> bool:
    """Equal up to a batch's last-bit effects: a composition made in a batch of two rounds to float16 a
    hair away from the same composition made alone, which moves a few pixels by one level."""
    diff = np.abs(a.astype(int) - np.asarray(b).astype(int))
    print("max pixel difference", diff.max(), "mean", diff.mean())
    return bool(diff.max() <= 2 and diff.mean() < 0.05)


def close_latents(a: torch.Tensor, b: torch.Tensor) -> bool:
    print("max latent difference", (a - b).abs().max().item())
    return torch.allclose(a, b, rtol=2e-3, atol=2e-3)


def pixels_of(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def run(pipeline, job: Job) -> tuple[Path, ...]:
    paths, _warnings = execute(pipeline, job, None, None)
    return paths


def test_denoised_estimate_recovers_the_clean_latent() -> None:
    sampler = WuerstchenSampler()
    x0, eps = torch.randn(2, 16, 4, 4), torch.randn(2, 16, 4, 4)
    for st in sampler.steps(official_prior_timesteps())[:25]:
        ac = sampler.alpha_cumprod(torch.tensor([st.t]))
        x = ac.sqrt() * x0 + (1 - ac).sqrt() * eps
        assert torch.allclose(sampler.denoised(st, x, eps), x0, atol=1e-4)


def test_compose_is_the_stage_c_of_generate(pipeline) -> None:
    params = SMALL.replace(images=2)
    full = pipeline.generate(params)
    composed = c.compose(pipeline, params)
    assert torch.equal(composed.stage_c, full.stage_c)
    assert [p.seed for p in composed.params] == [11, 12]
    assert all(p.images == 1 for p in composed.params)
    # Without a previewer network the previews are approximate, at the previewer's size.
    assert [im.size for im in composed.previews] == [(24, 24), (24, 24)]  # 4x the 6x6 latent
    assert composed.approximate
    a, b = (np.asarray(im) for im in composed.previews)
    assert not np.array_equal(a, b)  # two compositions, two layouts


def test_a_decoded_composition_is_the_image_generate_makes(pipeline) -> None:
    composed = c.compose(pipeline, SMALL)
    params = c.decoding_params(composed.params[0])
    assert params.decoder_seed == SMALL.seed
    decoded = c.decode(pipeline, composed.stage_c, [params])
    direct = pipeline.generate(params)
    assert torch.equal(decoded.pixels, direct.pixels)
    other = c.decode(pipeline, composed.stage_c, [params.replace(decoder_seed=99)])
    assert (other.pixels - decoded.pixels).abs().max() > 0.01  # vary detail is a new image


def test_decode_refuses_params_without_a_decoder_seed(pipeline) -> None:
    latent = c.compose(pipeline, SMALL).stage_c
    with pytest.raises(InvalidParams):
        c.decode(pipeline, latent, [SMALL])


def test_blend_weights(pipeline) -> None:
    a = c.compose(pipeline, SMALL).stage_c
    b = c.compose(pipeline, SMALL.replace(seed=12)).stage_c
    assert torch.equal(c.blend_latents(a, b, 0.0), c.stored(a))
    assert torch.equal(c.blend_latents(a, b, 1.0), c.stored(b))
    mid = c.blend_latents(a, b, 0.5)
    assert torch.allclose(mid, (c.stored(a) + c.stored(b)) / 2, rtol=1e-3, atol=1e-3)
    with pytest.raises(InvalidParams, match="different sizes"):
        c.blend_latents(a, torch.zeros(1, 16, 6, 8), 0.5)


def test_compose_job_writes_compositions_that_decode_and_reproduce(pipeline, tmp_path: Path) -> None:
    out = tmp_path / "out"
    compositions = run(pipeline, Job(SMALL.replace(images=2), out, kind=JobKind.COMPOSE))
    assert len(compositions) == 2
    for path in compositions:
        assert path.relative_to(out).parts[0] == COMPOSITIONS_FOLDER
        assert path.suffix == ".png"
        assert Image.open(path).size == (24, 24)
    record = read_record(compositions[1])
    assert record.kind == "composition" and record.params.seed == 12 and record.latent is not None
    # The composition file alone composes the same latent again.
    again = reproduce(pipeline, record)
    assert isinstance(again, c.CompositionResult)
    assert close_latents(c.stored(again.stage_c), record_latent(record))

    # Decode it: the image equals the full recipe with the recorded parameters.
    (image,) = run(pipeline, Job(None, out, kind=JobKind.DECODE, sources=(compositions[1],)))
    decoded = read_record(image)
    assert decoded.kind == "image"
    assert decoded.params.seed == 12 and decoded.params.decoder_seed == 12
    assert decoded.latent == record.latent
    direct = pipeline.generate(decoded.params)
    assert close_images(pixels_of(image), direct.images[0])


def test_vary_detail_more_steps_and_vary_composition(pipeline, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (image,) = run(pipeline, Job(SMALL, out))
    original = read_record(image)
    (varied,) = run(
        pipeline, Job(None, out, kind=JobKind.DECODE, sources=(image,), changes=(("decoder_seed", 5),))
    )
    v = read_record(varied)
    assert v.params == original.params.replace(decoder_seed=5) and v.latent == original.latent
    (more,) = run(
        pipeline, Job(None, out, kind=JobKind.DECODE, sources=(image,), changes=(("decoder_steps", 4),))
    )
    m = read_record(more)
    assert m.params.decoder_steps == 4 and m.params.decoder_seed == SMALL.seed
    assert np.array_equal(pixels_of(more), np.asarray(pipeline.generate(m.params).images[0]))
    # Vary composition: a new prior seed, a whole new image.
    changes = (("seed", 77), ("decoder_seed", None))
    (new,) = run(pipeline, Job(None, out, kind=JobKind.GENERATE, sources=(image,), changes=changes))
    n = read_record(new)
    assert n.params == original.params.replace(seed=77)
    assert n.latent != original.latent


def test_blend_job_records_both_parents_and_reproduces(pipeline, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first, second = run(pipeline, Job(SMALL.replace(images=2), out, kind=JobKind.COMPOSE))
    (blended,) = run(pipeline, Job(None, out, kind=JobKind.BLEND, sources=(first, second), weight=0.25))
    record = read_record(blended)
    assert record.blend is not None
    assert record.blend.weight == 0.25 and record.blend.other.seed == 12
    assert record.params.seed == 11 and record.params.decoder_seed == 11
    a, b = record_latent(read_record(first)), record_latent(read_record(second))
    expected = (a + 0.25 * (b - a)).half().float()  # a quarter of the way from the first to the second
    assert torch.equal(record_latent(record), expected)
    # From the record alone (both compositions composed again, mixed, decoded): the same pixels.
    again = reproduce(pipeline, record)
    assert isinstance(again, c.GenerationResult)
    assert close_images(pixels_of(blended), again.images[0])
    # Vary detail of a blend keeps the blend.
    (varied,) = run(
        pipeline, Job(None, out, kind=JobKind.DECODE, sources=(blended,), changes=(("decoder_seed", 3),))
    )
    assert read_record(varied).blend == record.blend
    # A blend of a blend is refused with a way forward.
    with pytest.raises(InvalidParams, match="already a blend"):
        run(pipeline, Job(None, out, kind=JobKind.BLEND, sources=(blended, first)))


def test_blending_different_sizes_is_refused(pipeline, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (a,) = run(pipeline, Job(SMALL, out, kind=JobKind.COMPOSE))
    (b,) = run(pipeline, Job(SMALL.replace(width=384), out, kind=JobKind.COMPOSE))
    with pytest.raises(InvalidParams, match=r"same size|different sizes"):
        run(pipeline, Job(None, out, kind=JobKind.BLEND, sources=(a, b)))


def test_decoding_a_file_without_our_record_is_a_clear_error(pipeline, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.png"
    Image.new("RGB", (64, 64), "red").save(foreign)
    with pytest.raises(WuerstchenError) as info:
        run(pipeline, Job(None, tmp_path, kind=JobKind.DECODE, sources=(foreign,)))
    assert "no" in str(info.value).lower() and "parameters" in str(info.value).lower()


def test_an_image_without_a_latent_cannot_be_decoded_again(pipeline, tmp_path: Path) -> None:
    record = image_record(pipeline, SMALL, c.compose(pipeline, SMALL).stage_c[0])
    bare = write_image(Image.new("RGB", (256, 256)), record.__class__(record.params), tmp_path)
    with pytest.raises(InvalidParams, match="latent"):
        run(pipeline, Job(None, tmp_path, kind=JobKind.DECODE, sources=(bare,)))


def test_job_kinds_check_their_sources(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Job(None, tmp_path, kind=JobKind.DECODE)
    with pytest.raises(ValueError):
        Job(None, tmp_path, kind=JobKind.BLEND, sources=(tmp_path / "a.png",))
    with pytest.raises(ValueError):
        Job(SMALL, tmp_path, kind="paint")


# -- what the files record ----------------------------------------------------------------------------
def test_records_of_compositions_and_blends_round_trip() -> None:
    import json

    from wuerstchen_desktop.core.errors import ImageReadError
    from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters
    from wuerstchen_desktop.core.imagefile.record import Blend, ImageRecord, record_to_json
    from wuerstchen_desktop.core.imagefile.record_json import record_from_json

    plain = ImageRecord(SMALL)
    assert json.loads(record_to_json(plain))["schema"] == 1  # older readers still read plain images
    composition = ImageRecord(SMALL, kind="composition")
    blend = ImageRecord(
        SMALL.replace(decoder_seed=11), blend=Blend(SMALL.replace(seed=40, prompt="a dog"), 0.3)
    )
    for record in (plain, composition, blend):
        assert record_from_json(record_to_json(record)) == record
    assert json.loads(record_to_json(blend))["schema"] == 2
    text = format_parameters(blend)
    assert "Blend seed: 40" in text and "Blend weight: 0.3" in text and "Blend prompt: a dog" in text
    assert "Composition: not decoded" in format_parameters(composition)

    data = json.loads(record_to_json(blend))
    for damage in ({"weight": 2.0}, {"weight": "half"}, {"params": {"prompt": 3}}):
        broken = dict(data, blend=dict(data["blend"], **damage))
        with pytest.raises(ImageReadError, match="damaged"):
            record_from_json(json.dumps(broken))
    with pytest.raises(ImageReadError, match="damaged"):
        record_from_json(json.dumps(dict(data, kind="hologram")))
    with pytest.raises(ImageReadError, match="newer"):
        record_from_json(json.dumps(dict(data, schema=3)))
    with pytest.raises(InvalidParams, match="same size"):
        ImageRecord(SMALL, blend=Blend(SMALL.replace(width=512), 0.5))


def test_history_knows_compositions(pipeline, tmp_path: Path) -> None:
    from wuerstchen_desktop.core.library.history import History

    out = tmp_path / "out"
    (composition,) = run(pipeline, Job(SMALL, out, kind=JobKind.COMPOSE))
    (image,) = run(pipeline, Job(None, out, kind=JobKind.DECODE, sources=(composition,)))
    with History(out, tmp_path / "index.sqlite3") as history:
        kinds = {item.path: item.kind for item in history.items()}
        assert kinds == {composition: "composition", image: "image"}
        assert all(item.has_latent for item in history.items())


V1_SCHEMA = """
CREATE TABLE items (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    created REAL NOT NULL, prompt TEXT NOT NULL, prompt_fold TEXT NOT NULL, negative TEXT NOT NULL,
    seed INTEGER, width INTEGER, height INTEGER, source TEXT NOT NULL, has_latent INTEGER NOT NULL,
    favourite INTEGER NOT NULL DEFAULT 0);
CREATE INDEX items_created ON items (created DESC, id DESC);
CREATE TABLE thumbs (
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE, px INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (item_id, px));
"""


def test_an_index_from_the_previous_schema_is_rebuilt(pipeline, tmp_path: Path) -> None:
    import sqlite3

    from wuerstchen_desktop.core.library.history import History

    out, index = tmp_path / "out", tmp_path / "index.sqlite3"
    (composition,) = run(pipeline, Job(SMALL, out, kind=JobKind.COMPOSE))
    con = sqlite3.connect(index)
    con.executescript(V1_SCHEMA)  # an index as the previous version left it: every column but kind
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    with History(out, index) as history:
        assert [(i.path, i.kind) for i in history.items()] == [(composition, "composition")]


def test_a_decode_records_the_prior_that_composed_it(pipeline, repo_copy, tmp_path: Path) -> None:
    from wuerstchen_desktop.core.engine.checkpoints import prior_source
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

    other = Pipeline(prior_source(str(repo_copy("wuerstchen-prior"))), pipeline.decoder_source)
    out = tmp_path / "out"
    (composition,) = run(pipeline, Job(SMALL, out, kind=JobKind.COMPOSE))
    (image,) = run(other, Job(None, out, kind=JobKind.DECODE, sources=(composition,)))
    assert read_record(image).prior_model == pipeline.prior_source.ref != other.prior_source.ref
    # Compositions of two different priors do not blend.
    (foreign,) = run(other, Job(SMALL.replace(seed=5), out, kind=JobKind.COMPOSE))
    with pytest.raises(InvalidParams, match="different priors"):
        run(pipeline, Job(None, out, kind=JobKind.BLEND, sources=(composition, foreign)))


def test_a_stored_latent_of_the_wrong_shape_is_refused(pipeline, tmp_path: Path) -> None:
    record = image_record(pipeline, SMALL, torch.zeros(1, 16, 40, 40), kind="composition")
    damaged = write_image(Image.new("RGB", (48, 48)), record, tmp_path)
    with pytest.raises(InvalidParams, match="damaged"):
        run(pipeline, Job(None, tmp_path, kind=JobKind.DECODE, sources=(damaged,)))


def test_a_full_disk_mid_job_keeps_what_was_saved(pipeline, tmp_path: Path, monkeypatch) -> None:
    from wuerstchen_desktop.core.errors import PartlySaved

    full_disk_after(monkeypatch, saved=1)
    with pytest.raises(PartlySaved) as info:
        run(pipeline, Job(SMALL.replace(images=3), tmp_path, kind=JobKind.COMPOSE))
    (kept,) = info.value.paths
    assert kept.is_file() and read_record(kept).params.seed == SMALL.seed
    assert str(info.value).startswith("Only 1 of 3 files were saved. The disk is full")
    # Nothing saved at all: the plain disk-full error.
    full_disk_after(monkeypatch, saved=0)
    with pytest.raises(WuerstchenError, match="disk is full") as nothing:
        run(pipeline, Job(SMALL, tmp_path / "other"))
    assert not isinstance(nothing.value, PartlySaved)
