"""Shared fixtures: real data shipped with the tests or the package (never ../shared)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
PHOTOS = TESTS / "data" / "photos"


@pytest.fixture(scope="session")
def photo_dir() -> Path:
    """Folder of 24 real 128x128 Kodak photos."""
    return PHOTOS


@pytest.fixture(scope="session")
def torch_device() -> str:
    """Device for torch tests: ``$TORCH_DEVICE`` or CPU (timm's convention)."""
    return os.environ.get("TORCH_DEVICE", "cpu")
