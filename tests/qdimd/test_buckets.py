"""Tests for qdimd.buckets: ratios, border distances, bucket numbers, margins."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qdimd.buckets import (
    DEFAULT_EDGES,
    GROUPS,
    border_distance,
    bucket_of,
    bucket_range,
    default_margin,
    group_of,
    hole_ratio,
)

holes = arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24)))


def _brute_distance(hole: np.ndarray) -> int:
    """The definition, pixel by pixel: min over hole pixels of the distance to the nearest edge."""
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    if ys.size == 0:
        return min(h, w)
    return int(min(ys.min(), xs.min(), (h - 1 - ys).min(), (w - 1 - xs).min()))


@settings(max_examples=200, deadline=None)
@given(hole=holes)
@example(hole=np.zeros((3, 5), bool))
@example(hole=np.ones((1, 1), bool))
def test_border_distance_matches_definition(hole):
    assert border_distance(hole) == _brute_distance(hole)


@settings(max_examples=100, deadline=None)
@given(hole=holes)
def test_hole_ratio_is_fraction_of_true(hole):
    assert hole_ratio(hole) == pytest.approx(hole.sum() / hole.size)
    assert 0.0 <= hole_ratio(hole) <= 1.0


@settings(max_examples=300, deadline=None)
@given(ratio=st.floats(0.0, 1.0))
@example(ratio=0.01)  # lower edge belongs to no bucket: (0.01, 0.1]
@example(ratio=0.1)  # upper edges are inclusive
@example(ratio=0.6)
@example(ratio=0.6000001)
@example(ratio=0.0)
def test_bucket_of_matches_half_open_intervals(ratio):
    expected = 0
    for k in range(1, len(DEFAULT_EDGES)):
        if DEFAULT_EDGES[k - 1] < ratio <= DEFAULT_EDGES[k]:
            expected = k
    assert bucket_of(ratio) == expected
    if expected:
        lo, hi = bucket_range(expected)
        assert lo < ratio <= hi


def test_bucket_of_exact_values():
    assert [bucket_of(r) for r in (0.005, 0.01, 0.05, 0.1, 0.15, 0.2, 0.35, 0.5, 0.55, 0.6, 0.7)] == [
        0, 0, 1, 1, 2, 2, 4, 5, 6, 6, 0]


def test_custom_edges_and_bad_edges():
    assert bucket_of(0.3, edges=(0.0, 0.25, 0.5)) == 2
    assert bucket_of(0.25, edges=(0.0, 0.25, 0.5)) == 1
    with pytest.raises(ValueError, match="strictly increasing"):
        bucket_of(0.3, edges=(0.5, 0.2))
    with pytest.raises(ValueError, match="Expected a bucket"):
        bucket_range(7)


@pytest.mark.parametrize("size, margin", [(512, 50), (256, 25), (128, 12), (1024, 100), (64, 6)])
def test_default_margin_scales_nvidia_50_at_512(size, margin):
    assert default_margin(size, size) == margin


def test_default_margin_uses_shorter_side():
    assert default_margin(256, 512) == 25


@settings(max_examples=100, deadline=None)
@given(distance=st.integers(0, 300), margin=st.integers(0, 300))
def test_group_of_threshold(distance, margin):
    assert group_of(distance, margin) == (GROUPS[0] if distance >= margin else GROUPS[1])


def test_nvidia_like_rule_on_a_synthetic_mask():
    # a 512x512 mask whose hole keeps exactly 50 px from every edge is "noborder"; 49 px is "border"
    hole = np.zeros((512, 512), bool)
    hole[50:462, 50:462] = True
    assert border_distance(hole) == 50 and group_of(border_distance(hole), default_margin(512, 512)) == "noborder"
    hole[49, 100] = True
    assert group_of(border_distance(hole), 50) == "border"


def test_border_distance_rejects_3d():
    with pytest.raises(ValueError, match="Expected a 2-D hole mask"):
        border_distance(np.zeros((2, 2, 2), bool))
