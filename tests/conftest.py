"""Shared fixtures: real data shipped with the tests or the package (never ../shared)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# No test may depend on the machine's speed (issue 10): Hypothesis' per-example deadline and its
# too-slow health check both fire on a loaded machine, so neither applies to this suite.
settings.register_profile("qdimd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("qdimd")

TESTS = Path(__file__).parent
PHOTOS = TESTS / "data" / "photos"


@pytest.fixture(scope="session")
def photo_dir() -> Path:
    """Folder of 24 real 128x128 Kodak photos."""
    return PHOTOS


@pytest.fixture(scope="session")
def copy_photos(photo_dir):
    """``copy_photos(folder, n)``: a private copy of the first ``n`` real photos in the new ``folder`` (tests may add files)."""
    from inpaint.images import find_images

    def copy(folder: Path, n: int) -> Path:
        folder.mkdir()
        for path in find_images(photo_dir)[:n]:
            shutil.copy(path, folder / path.name)
        return folder

    return copy


@pytest.fixture(scope="session")
def torch_device() -> str:
    """Device for torch tests: ``$TORCH_DEVICE`` or CPU (timm's convention)."""
    return os.environ.get("TORCH_DEVICE", "cpu")
