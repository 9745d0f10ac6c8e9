"""A Stage C latent beyond float16's range is stored in float32, never as inf, and every reader takes both."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from wuerstchen_desktop.core.engine.outputs import stored
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.imagefile.record import decode_latent, encode_latent, record_to_json
from wuerstchen_desktop.core.imagefile.write import make_record, write_image
from wuerstchen_desktop.core.jobs.records import record_latent
from wuerstchen_desktop.core.params import GenerationParams

PARAMS = GenerationParams("a red kite", width=256, height=256, seed=3)


def latent(peak: float) -> torch.Tensor:
    x = torch.linspace(-2, 2, 16 * 6 * 6).reshape(1, 16, 6, 6)
    x[0, 3, 2, 4] = peak
    return x


def test_a_latent_beyond_float16_is_stored_in_float32_without_inf(tmp_path: Path) -> None:
    big = latent(1e5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" fails the test
        record = make_record(PARAMS, big[0])
        path = write_image(Image.new("RGB", (256, 256)), record, tmp_path)
    back = read_record(path)
    assert back.latent is not None
    arr = decode_latent(back.latent)
    assert arr.dtype == np.float32 and np.isfinite(arr).all()
    assert torch.equal(record_latent(back), big)
    assert json.loads(record_to_json(back))["stage_c"]["format"] == "safetensors-float32"
    # What decoding from the file starts from is what the pipeline decodes when it is not read back.
    assert torch.equal(stored(big), record_latent(back))


def test_a_latent_in_float16_range_is_still_stored_in_float16() -> None:
    usual = latent(60000.0)
    data = encode_latent(usual.numpy())
    arr = decode_latent(data)
    assert arr.dtype == np.float16 and float(arr.max()) == 60000.0
    assert len(data) < 16 * 6 * 6 * 2 + 200
    assert torch.equal(stored(usual), torch.from_numpy(arr.astype(np.float32)))
    record = make_record(PARAMS, usual[0])
    assert json.loads(record_to_json(record))["stage_c"]["format"] == "safetensors-float16"


def test_stored_decides_image_by_image() -> None:
    batch = torch.cat([latent(1e5), latent(1.0) / 3])
    out = stored(batch)
    assert torch.equal(out[0], batch[0])  # kept in float32, exactly
    assert torch.equal(out[1], batch[1].half().float())  # rounded as its file stores it
    assert not torch.equal(out[1], batch[1])
