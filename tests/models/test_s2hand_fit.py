"""S2HAND's test-time refinement (models/s2hand_fit.py) on a known synthetic hand."""

import pytest
import torch

from handkit.geometry.camera import project
from handkit.models.s2hand import S2HandHand
from handkit.models.s2hand_fit import FIT_SCHEDULE, fit_hand, initial_guess


@pytest.fixture(scope="module")
def hand():
    return S2HandHand(None)


@pytest.fixture(scope="module")
def scene(hand):
    """A known hand (OpenHand, PCA pose, rotation, translation) and its exact 2D keypoints."""
    g = torch.Generator().manual_seed(0)
    true = {"pose": torch.randn(1, 30, generator=g) * 0.8, "shape": torch.zeros(1, 10),
            "scale": torch.ones(1, 1), "trans": torch.tensor([[0.02, -0.01, 0.6]]),
            "rot": torch.randn(1, 3, generator=g) * 0.5}
    K = torch.tensor([[[450.0, 0, 112], [0, 450.0, 112], [0, 0, 1]]])
    with torch.no_grad():
        joints = true["trans"][:, None] + hand(true["pose"], true["shape"], true["rot"]).joints
    return true, K, project(joints, K)


def _error(hand, p, K, uv):
    with torch.no_grad():
        geo = hand(p["pose"], p["shape"], p["rot"])
        joints = p["trans"][:, None] + p["scale"].abs()[:, :, None] * geo.joints
    return float((project(joints, K) - uv).norm(dim=-1).mean())


def test_the_official_refinement_recovers_the_2d_of_a_known_pose_deterministically(hand, scene):
    _, K, uv = scene
    conf = torch.ones(1, 21)
    init = initial_guess(hand, uv, conf, K)
    before = _error(hand, init, K, uv)
    fit = fit_hand(hand, uv, conf, K, init)  # 151 iterations, Adam re-created every iteration
    assert fit.history.shape == (151,)
    after = float((fit.j2d - uv).norm(dim=-1).mean())
    assert before > 30 and after < 0.25 * before, (before, after)
    again = fit_hand(hand, uv, conf, K, init)
    assert torch.equal(fit.j2d, again.j2d) and torch.equal(fit.pose, again.pose)
    # the returned geometry is the one evaluated before the last step (as released)
    assert torch.allclose(project(fit.joints, K), fit.j2d)


def test_missing_joints_do_not_pull(hand, scene):
    _, K, uv = scene
    conf = torch.ones(1, 21)
    bad = uv.clone()
    bad[0, 8] = float("nan")  # index tip not found
    conf[0, 8] = 0.0
    fit = fit_hand(hand, bad, conf, K, iterations=20)
    assert torch.isfinite(fit.j2d).all() and torch.isfinite(fit.history).all()


def _one_steps(hand, scene, adam, iterations):
    _, K, uv = scene
    conf = torch.ones(1, 21)
    init = initial_guess(hand, uv, conf, K)
    steps, prev = [], init
    for n in range(1, iterations + 1):
        fit = fit_hand(hand, uv, conf, K, init, iterations=n, adam=adam)
        cur = {k: getattr(fit, k) for k in init}
        steps.append(torch.cat([(cur[k] - prev[k]).flatten() for k in ("pose", "trans", "rot")]))
        prev = cur
    return steps


def test_official_adam_steps_are_sign_like_the_fixed_one_keeps_its_moments(hand, scene):
    lr = FIT_SCHEDULE[0][1]
    official = _one_steps(hand, scene, "official", 3)
    for step in official:  # a fresh Adam's first step: lr · g / (|g| + 1e-8) per coordinate
        assert (step.abs() <= lr * 1.001).all()
        # |g| here is ≥ 1e-6, so |step| ≥ 0.99 lr (the objective is small: λ_j2d = 1e-3)
        assert torch.allclose(step.abs(), torch.full_like(step, lr), rtol=0.01)
    fixed = _one_steps(hand, scene, "fixed", 3)
    assert torch.allclose(fixed[0], official[0])  # the first step is the same
    assert not torch.allclose(fixed[2].abs(), torch.full_like(fixed[2], lr), rtol=0.01)


def test_init_must_be_complete(hand, scene):
    _, K, uv = scene
    with pytest.raises(ValueError, match=r"init: missing \['rot'\]"):
        fit_hand(hand, uv, torch.ones(1, 21), K, {"pose": torch.zeros(1, 30),
                 "shape": torch.zeros(1, 10), "scale": torch.ones(1, 1),
                 "trans": torch.zeros(1, 3)})
    with pytest.raises(ValueError, match="adam"):
        fit_hand(hand, uv, torch.ones(1, 21), K, adam="reset")
