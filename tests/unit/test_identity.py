"""One home each: the app's names and folders, the table of engine choices, the random seed, the errors.

The source is read with ``ast``, so a second copy anywhere in the package fails here, wherever it is.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
from pathlib import Path

import pytest

from tests.helpers.import_graph import module_files
from wuerstchen_desktop.core import appdirs, choices
from wuerstchen_desktop.core.errors import WuerstchenError

MODULES = module_files()


def trees(skip: str) -> list[tuple[str, ast.AST]]:
    return [
        (name, ast.parse(path.read_text(encoding="utf-8"))) for name, path in MODULES.items() if name != skip
    ]


# -- names and folders -----------------------------------------------------------------------------
def test_only_appdirs_asks_platformdirs_and_spells_the_app_name() -> None:
    found = []
    for name, tree in trees("wuerstchen_desktop.core.appdirs"):
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                found += [f"{name} imports {m}" for m in modules if m and m.startswith("platformdirs")]
            elif isinstance(node, ast.Constant) and node.value == appdirs.APP_NAME:
                found.append(f"{name} spells {appdirs.APP_NAME!r}")
    assert found == []


def test_every_folder_is_under_the_app_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_path", lambda app, appauthor: tmp_path / "data" / app)
    monkeypatch.setattr(platformdirs, "user_pictures_path", lambda: tmp_path / "Pictures")
    from wuerstchen_desktop.core.library.history import default_index_path
    from wuerstchen_desktop.core.settings import Settings

    assert default_index_path(tmp_path / "out").parent == tmp_path / "data" / appdirs.APP_NAME / "history"
    assert Settings().output_dir == tmp_path / "Pictures" / "Wuerstchen"


# -- the table of choices --------------------------------------------------------------------------
def _string_sequences(tree: ast.AST) -> list[set[str]]:
    return [
        {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        for node in ast.walk(tree)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set))
    ]


def test_no_module_spells_the_choices_out_again() -> None:
    rows = [set(choices.without_auto(row)) for row in choices.ENGINE_CHOICES.values()]
    copies = [
        f"{name}: {sorted(seq)}"
        for name, tree in trees("wuerstchen_desktop.core.choices")
        for seq in _string_sequences(tree)
        if any(len(seq & row) >= 2 for row in rows)
    ]
    assert copies == []


def test_command_lines_offer_exactly_the_table() -> None:
    from wuerstchen_desktop.app import parse_args
    from wuerstchen_desktop.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("generate", "reproduce"):
        actions = commands.choices[command]._actions
        offered = {a.dest: tuple(a.choices) for a in actions if a.dest in choices.ENGINE_CHOICES}
        assert offered == choices.ENGINE_CHOICES
    for name in ("device", "dtype"):  # the window's options for one session
        for value in choices.ENGINE_CHOICES[name]:
            assert getattr(parse_args([f"--{name}", value]), name) == value
        with pytest.raises(SystemExit):
            parse_args([f"--{name}", "tpu"])


def test_the_engine_takes_every_value_of_the_table() -> None:
    from wuerstchen_desktop.core.engine.devices import Capabilities, choose
    from wuerstchen_desktop.core.engine.residency import MODES

    machine = Capabilities(cuda=True, cuda_bf16=True, cuda_free=80 * 2**30, mps=True, ram_available=2**40)
    for device in choices.DEVICES:
        for dtype in choices.DTYPES:
            for memory in choices.MEMORY_MODES:
                choose(device, dtype, memory, probe=lambda: machine)
    assert choices.without_auto(choices.MEMORY_MODES) == MODES


# -- the random seed -------------------------------------------------------------------------------
def test_one_place_draws_a_random_seed() -> None:
    """``secrets`` and ``random`` draw seeds; torch's generators (seeded from a job) make noise."""
    drawers = [
        name
        for name, tree in trees("wuerstchen_desktop.core.params")
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr in ("randbelow", "getrandbits"))
        or (isinstance(node, ast.Import) and any(a.name == "random" for a in node.names))
    ]
    assert drawers == []


def test_a_random_seed_leaves_room_for_a_full_job(monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    from wuerstchen_desktop.core.params import MAX_IMAGES, MAX_SEED, GenerationParams, random_seed

    monkeypatch.setattr(secrets, "randbelow", lambda n: n - 1)  # the largest seed it can draw
    highest = random_seed()
    assert highest + MAX_IMAGES - 1 <= MAX_SEED
    assert GenerationParams("a cat", seed=highest, images=MAX_IMAGES).for_image(MAX_IMAGES - 1).seed == (
        highest + MAX_IMAGES - 1
    )


# -- the errors ------------------------------------------------------------------------------------
# Moves to core/errors.py with the job runner it belongs to (worker/tasks.py is being moved).
def test_every_error_a_user_meets_lives_in_core_errors() -> None:
    strays, unexplained = [], []
    for name in MODULES:
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            if issubclass(cls, WuerstchenError):
                if name != "wuerstchen_desktop.core.errors":
                    strays.append(f"{name}.{cls_name}")
            elif "Not a WuerstchenError" not in (cls.__doc__ or ""):
                unexplained.append(f"{name}.{cls_name}")  # a signal that stays inside its module says why
    assert strays == [] and unexplained == []
