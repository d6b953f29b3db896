"""Report cells: the papers' buckets with N, B and all, and LaMa's 10% hole-area bins."""
from __future__ import annotations

import pytest

from inpaint.evaluation.bins import LAMA_LABELS, cell_file_stem, cell_order, cell_title, cells_of, lama_bin


@pytest.mark.parametrize("area, label", [(0.0, "0-10%"), (0.0999, "0-10%"), (0.1, "10-20%"), (0.25, "20-30%"),
                                         (0.6, "50-60%"), (0.7, "60-70%"), (0.8, "80-90%"), (0.95, "90-100%"), (1.0, "90-100%")])
def test_lama_bins_include_the_lower_edge(area, label):
    # LaMa's InpaintingEvaluator: searchsorted(linspace(0, 1, 11), area, side="right") - 1, area 1 -> last bin;
    # linspace's 0.6 is 0.6000000000000001, so an area of exactly 0.6 falls in 50-60% there and here (0.7 likewise)
    assert lama_bin(area) == label


def test_lama_bin_refuses_areas_outside_unit_interval():
    with pytest.raises(ValueError, match="hole area"):
        lama_bin(1.5)


def test_cells_of_a_row():
    assert cells_of(3, "border", 0.25) == [("3", "border"), ("3", "all"), ("all", "all")]
    assert cells_of(3, "border", 0.25, "lama") == [("20-30%", "all"), ("all", "all")]
    with pytest.raises(ValueError, match="bins"):
        cells_of(3, "border", 0.25, "coco")


def test_cell_order_and_titles():
    paper = cell_order()
    assert len(paper) == 6 * 3 + 1 and paper[:3] == [("1", "noborder"), ("1", "border"), ("1", "all")]
    assert paper[-1] == ("all", "all") and cell_title(*paper[1]) == "(0.01,0.1] B" and cell_title("all", "all") == "all"
    lama = cell_order("lama")
    assert [b for b, _ in lama[:-1]] == list(LAMA_LABELS) and cell_title("0-10%", "all", "lama") == "0-10%"


def test_feature_file_stems_are_safe():
    assert cell_file_stem("pconv:run/a b", "0-10%", "all") == "pconv_run_a_b__0-10pct_all"
    assert cell_file_stem("telea", "3", "noborder") == "telea__3_noborder"
