"""Helpers shared by several test modules (tests/ is on sys.path: ``from helpers import ...``)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from qdimd.buckets import bucket_range


def rect_hole(size: int, ratio: float, distance: int) -> np.ndarray:
    """A rectangular hole of about ``ratio`` of the image, exactly ``distance`` px from the top and left edges."""
    side = max(1, int(round(np.sqrt(ratio * size * size))))
    height = int(round(ratio * size * size / side))
    hole = np.zeros((size, size), bool)
    hole[distance:distance + height, distance:distance + side] = True
    return hole


def save_gray(path: Path, gray: np.ndarray, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gray).save(path, **kwargs)


def nvidia_style_folder(root: Path, per_group: int = 1) -> Path:
    """512x512 white-hole masks named like NVIDIA's: NNNNN // 2000 = bucket - 1, NNNNN % 2000 < 1000 = noborder."""
    rng = np.random.default_rng(0)
    for bucket in range(1, 7):
        lo, hi = bucket_range(bucket)
        for border in (False, True):
            for k in range(per_group):
                number = (bucket - 1) * 2000 + (1000 if border else 0) + 3 + 180 * k
                ratio = rng.uniform(lo + 0.01, hi - 0.01)
                distance = 0 if border else int(rng.integers(50, 52))
                hole = rect_hole(512, ratio, distance)
                save_gray(root / f"{number:05d}.png", hole.astype(np.uint8) * 255)
    return root


def read_manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


ROOT = Path(__file__).resolve().parents[1]
_BLOCKER = '''import sys

BLOCKED = {BLOCKED!r}


class _Blocked:
    """Makes the named top-level modules unimportable, as on a Python where they are not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, _Blocked())
'''


def without_modules_env(folder: Path, blocked: tuple[str, ...]) -> dict:
    """An environment for a subprocess where ``blocked`` modules cannot be imported and this checkout is on ``PYTHONPATH``.

    A ``sitecustomize.py`` in ``folder`` (first on ``PYTHONPATH``) installs a meta path finder that raises
    ``ModuleNotFoundError`` for them; the checkout comes next, so its code runs, not an installed copy.
    """
    import os

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_BLOCKER.format(BLOCKED=set(blocked)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST", "COV_"))}
    env.update(PYTHONPATH=os.pathsep.join([str(folder), str(ROOT)]), PYTHONWARNINGS="default", OMP_NUM_THREADS="1")
    return env


def pairs_cli(photo_dir: Path, masks: Path, out: Path, *options: str) -> Path:
    """``out`` filled by ``inpaint pairs`` at 64 px (extra CLI ``options`` appended); fails the test on a non-zero exit."""
    from click.testing import CliRunner

    from cli.inpaint_main import main

    result = CliRunner().invoke(main, ["pairs", "--images", str(photo_dir), "--masks", str(masks), "--out", str(out),
                                       "--size", "64", *options])
    assert result.exit_code == 0, result.output
    return out
