"""The command line writes the same image the reference makes for the same seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from wuerstchen_desktop.cli import main


def test_generate_writes_the_reference_image(
    prior_dir: Path, decoder_dir: Path, reference, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            "a cat",
            "--prior",
            str(prior_dir),
            "--decoder",
            str(decoder_dir),
            "--width",
            "256",
            "--height",
            "384",
            "--prior-steps",
            "3",
            "--decoder-steps",
            "2",
            "--seed",
            "7",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    paths = [Path(line) for line in captured.out.splitlines()]
    assert len(paths) == 1 and paths[0].parent == out and paths[0].suffix == ".png"
    assert "Stage C" in captured.err and "3/3" in captured.err
    ours = np.asarray(Image.open(paths[0]).convert("RGB"), dtype=np.float32) / 255
    ref = reference(
        "a cat",
        width=256,
        height=384,
        prior_num_inference_steps=3,
        num_inference_steps=2,
        generator=torch.Generator("cpu").manual_seed(7),
        output_type="pt",
    ).images[0]
    ref_hwc = ref.permute(1, 2, 0).numpy()
    assert ours.shape == (384, 256, 3)
    # 8-bit rounding adds at most half a level to the 1e-3 float tolerance.
    assert np.abs(ours - ref_hwc).max() <= 0.5 / 255 + 1e-3
