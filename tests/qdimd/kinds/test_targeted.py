"""qdimd.kinds.targeted: bucketed masks of any kind, by the kind's own means."""
from __future__ import annotations

import numpy as np
import pytest

from qdimd.buckets import border_distance, hole_ratio
from qdimd.kinds import KindTargetedGenerator, create_generator, create_targeted
from qdimd.masks.generator import MaskGenerator
from qdimd.masks.params import MaskConfig
from qdimd.masks.targeted import TargetedGenerator

CONFIG = MaskConfig(size=(64, 64))


@pytest.mark.parametrize("kind, bucket, group", [("mat", 4, "border"), ("lama-thick", 2, "noborder"),
                                                 ("deepfill", 1, "border"), ("box:1,mat:1", 5, "border")])
def test_cells_are_met_and_deterministic(kind, bucket, group):
    gen = KindTargetedGenerator.for_group(kind, bucket, group, CONFIG, seed=3)
    lo, hi = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)[bucket - 1:bucket + 1]
    for index in range(8):
        record, hole = gen.generate_with_params(index)
        assert lo < hole_ratio(hole) <= hi and gen.accepts(hole) and record.draws >= 1
        distance = border_distance(hole)
        assert distance >= 6 if group == "noborder" else distance <= 5  # margin round(50 * 64 / 512) = 6
        assert np.array_equal(hole, KindTargetedGenerator.for_group(kind, bucket, group, CONFIG, seed=3).generate(index))


def test_mat_uses_its_hole_range():
    gen = KindTargetedGenerator("mat", CONFIG, seed=0, ratio_range=(0.3, 0.4))
    assert gen.spec.components[0][1].hole_range == (0.3, 0.4)
    with pytest.raises(ValueError, match="overlap"):
        KindTargetedGenerator("mat[hole_range=0.5..0.9]", CONFIG, ratio_range=(0.1, 0.2))


def test_factories_keep_plain_qdimd_unchanged():
    assert isinstance(create_generator(CONFIG, None, 0, None), MaskGenerator)
    assert isinstance(create_generator(CONFIG, None, 0, "qdimd"), MaskGenerator)
    assert not isinstance(create_generator(CONFIG, None, 0, "box"), MaskGenerator)
    assert isinstance(create_targeted("qdimd", CONFIG, None, 0, (0.1, 0.2)), TargetedGenerator)
    assert isinstance(create_targeted("box", CONFIG, None, 0, (0.1, 0.2)), KindTargetedGenerator)


def test_bad_targets():
    with pytest.raises(ValueError, match="Expected ratio_range"):
        KindTargetedGenerator("box", CONFIG, ratio_range=(0.5, 0.2))
    with pytest.raises(ValueError, match="at most one"):
        KindTargetedGenerator("box", CONFIG, min_border_distance=1, max_border_distance=2)
    with pytest.raises(ValueError, match="Expected group"):
        KindTargetedGenerator.for_group("box", 1, "edge", CONFIG)
    impossible = KindTargetedGenerator("box[size=0.9..1]", CONFIG, ratio_range=(0.01, 0.1))
    with pytest.raises(ValueError, match="draws, got none"):
        impossible.generate(0)


def test_mat_low_bucket_falls_back_to_rejection():
    gen = KindTargetedGenerator.for_group("mat", 1, "border", CONFIG, seed=0)
    assert gen.spec.components[0][1].hole_range == (0.0, 1.0)  # (0.01, 0.1] would draw no MAT shape
    assert 0.01 < hole_ratio(gen.generate(0)) <= 0.1
