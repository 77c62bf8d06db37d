"""DIGIT's segmentation ablation (experiments/digit_ablation.py) at toy sizes."""

import math

import pytest

from handkit.experiments.digit_ablation import (VARIANTS, DigitAblation, run_ablation,
                                                run_name, table_lines, variant_config)


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


def test_the_table_says_which_run_beats_the_reference_and_averages_the_seeds():
    row = {"mpjpe_sh": 1.0, "mpjpe_ih": 2.0, "mrrpe": 3.0, "handedness_acc": 0.5,
           "train_s": 60.0}
    res = {"fused": {**row, "mpjpe_all": 9.0, "variant": "fused", "seed": 1},
           "fused_seed2": {**row, "mpjpe_all": 7.0, "variant": "fused", "seed": 2},
           "none": {**row, "mpjpe_all": 11.0, "variant": "none", "seed": 1},
           "mean_pose": {**row, "mpjpe_all": 10.0}, "setup": {}}
    lines = table_lines(res)
    assert len(lines) == 7
    assert lines[-1].startswith("| mean pose (reference) | | 1.00 | 2.00 | 10.00")
    assert lines[2].startswith("| fused | 1 |") and "| yes, by 1.0 mm |" in lines[2]
    assert lines[3].startswith("| fused | 2 |") and "| yes, by 3.0 mm |" in lines[3]
    assert lines[4].startswith("| **fused, mean** | 2 seeds | 1.00 | 2.00 | 8.00 |")
    assert lines[5].startswith("| none | 1 |") and "| no |" in lines[5]


def test_seeds_encoder_and_depth_bins_reach_every_variant(tmp_path):
    exp = DigitAblation(image_size=96, seeds=(1, 2), backbone="resnet18_s4", init="w.pt")
    c1, c2 = (variant_config("none", exp, tmp_path, seed) for seed in (1, 2))
    assert (c1.seed, c2.seed) == (1, 2) and run_name("none", 1) == "none"
    assert run_name("none", 2) == "none_seed2"
    assert c1.model.backbone == "resnet18_s4" and c1.init == "w.pt"
    assert c1.model.options["depth_bins"] == 24  # the heat-map side, the official ratio
    assert variant_config("fused", DigitAblation(depth_bins=64), tmp_path
                          ).model.options["depth_bins"] == 64


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
