"""qdimd.kinds.spec: parsing --kind values, option checks, round trips."""
from __future__ import annotations

import pytest

from qdimd.kinds import KIND_NAMES, BoxOptions, KindSpec, LamaOptions, MatOptions, parse_kind


def test_single_kind_and_defaults():
    spec = parse_kind("lama-thick")
    assert spec.components == (("lama-thick", LamaOptions(), 1.0),)
    assert parse_kind("qdimd").is_default and not spec.is_default
    assert parse_kind("comodgan").components[0][1] == MatOptions(variant="comodgan")
    assert str(spec) == "lama-thick"


def test_options_weights_and_round_trip():
    spec = parse_kind("mat[hole_range=0.1..0.6,variant=256]:0.25, box[count=1..3,center=true]:0.75,qdimd:1")
    assert spec.names == ("mat", "box", "qdimd")
    assert spec.components[0] == ("mat", MatOptions(hole_range=(0.1, 0.6), variant="256"), 0.25)
    assert spec.components[1][1] == BoxOptions(count=(1, 3), center=True)
    assert parse_kind(str(spec)) == spec
    assert KindSpec.from_dict(spec.to_dict()) == spec
    assert parse_kind(spec) is spec


@pytest.mark.parametrize("text, match", [
    ("nope", "Expected a mask kind"),
    ("", "Expected NAME"),
    ("box,", "Expected NAME"),
    ("box:heavy", "Expected a number as the weight"),
    ("box:0", "Expected a weight > 0"),
    ("box[count=2..1]", "Expected count"),
    ("box[size=0..0.5]", "Expected size"),
    ("box[colour=red]", "Expected options of kind 'box'"),
    ("box[count]", "Expected key=value"),
    ("box[count=1..2", "unclosed"),
    ("box]", "stray"),
    ("mat[hole_range=0.5..0.5]", "lo < hi"),
    ("mat[hole_range=0.2..1.5]", "Expected hole_range"),
    ("mat[variant=1024]", "Expected variant"),
    ("comodgan[variant=512]", "Expected no variant"),
    ("lama-thin[base=300]", "Expected base"),
    ("lama-train[base=512]", "Expected base 256"),
    ("qdimd[width_min=3]", "generator's own flags"),
])
def test_bad_specs(text, match):
    with pytest.raises(ValueError, match=match):
        spec = parse_kind(text)
        if text.startswith("lama-train"):  # the base is checked against the kind when sampling
            from qdimd.kinds import KindGenerator

            KindGenerator(spec).generate(0)


def test_every_kind_has_a_name():
    assert KIND_NAMES[0] == "qdimd" and len(set(KIND_NAMES)) == len(KIND_NAMES) == 9
