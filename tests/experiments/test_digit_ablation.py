"""DIGIT's segmentation ablation (experiments/digit_ablation.py) at toy sizes."""

import math

import pytest

from handkit.experiments.digit_ablation import (VARIANTS, DigitAblation, run_ablation,
                                                table_lines, variant_config)


def test_each_variant_differs_only_in_its_segmentation(tmp_path):
    exp = DigitAblation(epochs=10, image_size=64, batch_size=4, lr=3e-4)
    cfgs = {v: variant_config(v, exp, tmp_path) for v in VARIANTS}
    assert {v: c.model.options["segmentation"] for v, c in cfgs.items()} == {
        v: v for v in VARIANTS}
    fused = cfgs["fused"]
    assert fused.model.options["size"] == "small" and fused.model.image_size == 64
    assert fused.optim.milestones == (8,) and fused.optim.lr == 3e-4
    assert fused.data.root == str(tmp_path) and fused.data.batch_size == 4
    for v in ("auxiliary", "none"):  # same seed, data, loss weights, schedule
        c = cfgs[v]
        assert (c.seed, c.data, c.loss, c.optim, c.trainer) == (fused.seed, fused.data,
                                                                fused.loss, fused.optim,
                                                                fused.trainer)


def test_the_table_says_which_variant_beats_the_reference():
    row = {"mpjpe_sh": 1.0, "mpjpe_ih": 2.0, "mrrpe": 3.0, "handedness_acc": 0.5,
           "train_s": 60.0}
    res = {"fused": {**row, "mpjpe_all": 9.0}, "none": {**row, "mpjpe_all": 11.0},
           "mean_pose": {**row, "mpjpe_all": 10.0}}
    lines = table_lines(res)
    assert len(lines) == 5 and lines[-1].startswith("| mean pose (reference) | 1.00 | 2.00 | 10.00")
    assert lines[2].startswith("| fused |") and "| yes |" in lines[2]
    assert lines[3].startswith("| none |") and "| no |" in lines[3]


@pytest.mark.slow
def test_a_toy_run_reports_every_variant_and_the_reference_and_resumes(tmp_path):
    exp = DigitAblation(n=40, epochs=1, batch_size=8)
    res = run_ablation(exp, tmp_path, threads=1)
    assert {*VARIANTS, "mean_pose", "setup"} <= set(res)
    for name in VARIANTS:
        assert math.isfinite(res[name]["mpjpe_all"]) and res[name]["train_s"] > 0
        assert res[name]["frames"] == 4 == res["mean_pose"]["frames"]
    again = run_ablation(exp, tmp_path, threads=1)  # reuses the world and every checkpoint
    assert again["fused"]["mpjpe_all"] == res["fused"]["mpjpe_all"]
    assert again["fused"]["train_s"] < res["fused"]["train_s"]
    with pytest.raises(ValueError, match="variants"):
        run_ablation(exp, tmp_path, ("segm",))
