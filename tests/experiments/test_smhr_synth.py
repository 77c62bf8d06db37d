"""The SMHR synthetic-world experiment (experiments/smhr_synth.py): its mean-pose reference
checked against hand-made truth, and a toy run end to end."""

import math

import numpy as np
import pytest

from handkit.experiments.smhr_synth import MultiHandExperiment, mean_pose_reference, run_experiment


def _hand(rng, right=True):
    xyz = rng.normal(0, 0.03, (21, 3)) + [0, 0, 0.5]
    uv = xyz[:, :2] / xyz[:, 2:] * 200 + 64
    return {"uv": uv, "xyz": xyz, "is_right": right}


def _mirror(h, width=128.0):
    """The same hand seen in a mirror: x negated in 3D, u mirrored in the image."""
    xyz = h["xyz"] * [-1, 1, 1]
    uv = np.stack([width - h["uv"][:, 0], h["uv"][:, 1]], -1)
    return {"uv": uv, "xyz": xyz, "is_right": not h["is_right"]}


def test_the_reference_of_one_pose_is_exact_for_that_pose_and_its_mirror():
    rng = np.random.default_rng(0)
    h = _hand(rng)
    moved = dict(h, uv=h["uv"] * 1.5 + 7, xyz=h["xyz"] * 2 + 0.1)  # another box, a similarity
    for test in ([h], [moved], [_mirror(h)], [_mirror(moved), h]):
        ref = mean_pose_reference([h, h], test)
        assert ref["pa_mpjpe_mm"] == pytest.approx(0, abs=1e-6)
        assert ref["uv_px"] == pytest.approx(0, abs=1e-9)
        assert ref["ks"] == pytest.approx(1) and ref["ks_pass"] == 1.0
    # a left training hand is the mirrored right one: the same reference
    assert mean_pose_reference([_mirror(h)], [h])["uv_px"] == pytest.approx(0, abs=1e-9)


def test_the_2d_reference_is_the_mean_layout_in_the_true_box():
    rng = np.random.default_rng(1)
    a, b, t = _hand(rng), _hand(rng), _hand(rng)
    ref = mean_pose_reference([a, b], [t])

    def norm(uv):  # independent: centre of the keypoint box, divided by sqrt(w h)
        lo, hi = uv.min(0), uv.max(0)
        return (uv - (lo + hi) / 2) / np.sqrt(np.prod(hi - lo)), (lo + hi) / 2, \
            np.sqrt(np.prod(hi - lo))

    layout = (norm(a["uv"])[0] + norm(b["uv"])[0]) / 2
    _, c, s = norm(t["uv"])
    pred = c + s * layout
    err = np.linalg.norm(pred - t["uv"], axis=-1)
    assert ref["uv_px"] == pytest.approx(err.mean())
    assert ref["ks"] == pytest.approx(np.exp(-err ** 2 / (2 * (0.1 * s) ** 2)).mean())
    assert ref["hands"] == 1
    # the 3D reference is worse for a pose far from the training ones than for one of them
    assert mean_pose_reference([a, b], [a])["pa_mpjpe_mm"] < ref["pa_mpjpe_mm"]
    with pytest.raises(ValueError, match="needs labelled hands"):
        mean_pose_reference([], [t])


@pytest.mark.slow
def test_a_toy_run_reports_every_count_variant_and_the_reference(tmp_path):
    exp = MultiHandExperiment(n_train=8, n_test=4, size=128, epochs=1, batch_size=4,
                              counts=(1, 3), overrides=["model.options.channels=16"])
    res = run_experiment(exp, tmp_path)
    for name in ("full", "weak"):
        assert res[name]["train_s"] > 0 and set(res[name]["scores"]) == {1, 3}
        for n in (1, 3):
            s = res[name]["scores"][n]
            assert s["num_gt"] == s["gtc_hands"] == 4 * n
            assert math.isfinite(s["gtc_pa_mpjpe_mm"]) and math.isfinite(s["gtc_uv_px"])
        assert (tmp_path / name / "gallery_3hands.png").is_file()
    assert res["mean_pose"][3]["hands"] == 12
    again = run_experiment(exp, tmp_path)  # resumes: reuses the checkpoints and the scores
    np.testing.assert_equal(again["weak"]["scores"], res["weak"]["scores"])  # NaN == NaN here
    assert again["full"]["train_s"] == res["full"]["train_s"]


def test_the_centre_reference_uses_the_true_centre_and_the_mean_size():
    rng = np.random.default_rng(2)
    h = _hand(rng)
    big = dict(h, uv=(h["uv"] - 64) * 2 + 64)  # the same layout, twice the size
    # trained on h and big: mean size 1.5x h's; a test h placed at its centre at that size
    ref = mean_pose_reference([h, big], [h])
    lo, hi = h["uv"].min(0), h["uv"].max(0)
    s = np.sqrt(np.prod(hi - lo))
    rel = h["uv"] - h["uv"].mean(0)
    expected = np.linalg.norm(rel * 1.5 - rel, axis=-1).mean()
    assert ref["centre_uv_px"] == pytest.approx(expected)
    assert ref["uv_px"] == pytest.approx(0, abs=1e-9)  # in its own box: exact
    assert 0 < ref["centre_ks"] < 1 and s > 0
