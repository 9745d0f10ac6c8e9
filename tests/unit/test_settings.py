from __future__ import annotations

import logging
from pathlib import Path

from wuerstchen_desktop.core.settings import Settings


def test_round_trip() -> None:
    s = Settings(
        device="cpu",
        dtype="bfloat16",
        output_dir=Path("/tmp/pictures"),
        image_format="webp",
        prior="some/prior",
        decoder="/models/decoder",
        offline=True,
        theme="dark",
        memory="low",
        compile=True,
    )
    again, warnings = Settings.from_mapping(s.to_mapping())
    assert again == s and warnings == []


def test_bad_values_fall_back_to_defaults_with_a_warning(caplog) -> None:
    caplog.set_level(logging.WARNING)
    stored = {
        "device": "tpu",
        "dtype": 3,
        "offline": "maybe",
        "output_dir": "",
        "theme": "dark",
        "prior": None,
    }
    s, warnings = Settings.from_mapping(stored)
    defaults = Settings()
    assert (s.device, s.dtype, s.offline, s.output_dir, s.prior) == (
        defaults.device,
        defaults.dtype,
        defaults.offline,
        defaults.output_dir,
        defaults.prior,
    )
    assert s.theme == "dark"
    assert len(warnings) == 5
    assert "device='tpu'" in caplog.text


def test_text_booleans_from_ini_files() -> None:
    assert Settings.from_mapping({"offline": "true"})[0].offline is True
    assert Settings.from_mapping({"offline": "false"})[0].offline is False


def test_file_name_pattern_and_models_folder(tmp_path) -> None:
    s, warnings = Settings.from_mapping({"name_pattern": "{seed}-{slug}", "models_dir": str(tmp_path)})
    assert (s.name_pattern, warnings) == ("{seed}-{slug}", [])
    bad, warnings = Settings.from_mapping({"name_pattern": "../{seed}"})
    assert bad.name_pattern == Settings().name_pattern and len(warnings) == 1
    # The folder handed to the Hub code as ``cache_dir``; none set means huggingface_hub's own cache.
    assert s.models_folder == tmp_path
    assert Settings().models_folder is None and Settings(models_dir="  ").models_folder is None
    assert Settings(models_dir="~/models").models_folder == Path.home() / "models"
