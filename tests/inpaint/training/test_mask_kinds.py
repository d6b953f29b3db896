"""inpaint train --mask-kind: training masks of any qdimd.kinds kind, seeded like the default ones."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from inpaint.training.config import TrainConfig, resolve_config
from inpaint.training.data import DataConfig, InpaintDataset, training_files
from qdimd.errors import ProblemLog
from qdimd.kinds import KindGenerator
from qdimd.masks.params import MaskConfig


def test_dataset_masks_are_the_kind_generator_masks(photo_dir):
    files = training_files(photo_dir, ProblemLog())
    data = InpaintDataset(files, DataConfig((64, 64), seed=3, augment=False, mask_kind="lama-train:1,box:1"))
    gen = KindGenerator("lama-train:1,box:1", MaskConfig(size=(64, 64), split="train"), seed=3)
    for s in range(5):
        assert np.array_equal(data.hole(s), gen.generate(s))
        assert np.array_equal(data[s]["hole"][0].numpy().astype(bool), gen.generate(s))


def test_config_checks_the_kind_up_front(photo_dir, tmp_path):
    base = dict(images=str(photo_dir), out=str(tmp_path), size=(32, 32), model="pconv")
    assert resolve_config(TrainConfig(**base, mask_kind="mat[variant=256]")).mask_kind == "mat[variant=256]"
    with pytest.raises(ValueError, match="Expected a mask kind"):
        resolve_config(TrainConfig(**base, mask_kind="lama-wide"))
    with pytest.raises(ValueError, match="either --masks DIR or --mask-kind"):
        resolve_config(TrainConfig(**base, mask_kind="deepfill", masks=str(tmp_path)))
    assert TrainConfig.from_dict({k: v for k, v in TrainConfig(**base).to_dict().items() if k != "mask_kind"}).mask_kind == "qdimd"


def test_cli_option():
    from qdimd_cli.inpaint_main import main

    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0 and "--mask-kind" in result.output
    bad = CliRunner().invoke(main, ["train", "--images", ".", "--out", "x", "--mask-kind", "nope"])
    assert bad.exit_code == 2 and "Expected a mask kind" in bad.output
