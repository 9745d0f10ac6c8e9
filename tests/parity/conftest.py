"""The reference pipeline over the same tiny checkpoint folders as ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference import build_reference

pytestmark = pytest.mark.parity


@pytest.fixture(scope="session")
def reference(prior_dir: Path, decoder_dir: Path):
    return build_reference(prior_dir, decoder_dir)
