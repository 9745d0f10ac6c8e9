"""The reference pipeline over the same tiny checkpoint folders as ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.reference import build_reference


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.parity)


@pytest.fixture(scope="session")
def reference(prior_dir: Path, decoder_dir: Path):
    return build_reference(prior_dir, decoder_dir)
