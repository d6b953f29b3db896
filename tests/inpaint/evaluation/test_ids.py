"""P-IDS / U-IDS (MAT's linear SVM) on separable, identical and indistinguishable feature sets."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from inpaint.evaluation.ids import discriminative_scores  # noqa: E402


def test_separable_sets_score_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 5))
    p_ids, u_ids = discriminative_scores(x + 4.0, x - 4.0)
    assert (p_ids, u_ids) == (0.0, 0.0)  # every output is told apart and ranks below its ground truth


def test_identical_sets():
    x = np.random.default_rng(1).normal(size=(60, 4))
    p_ids, u_ids = discriminative_scores(x, x)
    # each point carries both labels: one of the two is always wrong; ties are not "greater"
    assert u_ids == pytest.approx(0.5) and p_ids == 0.0


def test_independent_samples_of_one_distribution_score_about_half():
    rng = np.random.default_rng(2)
    p_ids, u_ids = discriminative_scores(rng.normal(size=(3000, 4)), rng.normal(size=(3000, 4)))
    assert abs(p_ids - 0.5) < 0.05 and abs(u_ids - 0.5) < 0.05


def test_outputs_closer_to_real_score_higher():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(800, 4))
    far = discriminative_scores(real, real + rng.normal(0.8, 1.0, size=real.shape))
    near = discriminative_scores(real, real + rng.normal(0.1, 1.0, size=real.shape))
    assert near[0] > far[0] and near[1] > far[1]


def test_unpaired_sets_are_refused():
    with pytest.raises(ValueError, match="paired"):
        discriminative_scores(np.zeros((5, 3)), np.zeros((4, 3)))
