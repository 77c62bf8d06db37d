import numpy as np
import pytest

from handkit.mining.embed import embed_poses, fit_pca


def _poses(n=5, seed=0):
    return np.random.default_rng(seed).uniform(0, 224, size=(n, 21, 2))


def test_hand_derived_scales():
    uv = np.full((1, 21, 2), [13.0, 14.0])
    uv[0, 0] = (10.0, 10.0)  # every other joint at offset (3, 4): distance 5
    rms = np.sqrt(20 * 25 / 21)
    e = embed_poses(uv, np.array([True])).reshape(21, 2)
    np.testing.assert_allclose(e[0], [0, 0])
    np.testing.assert_allclose(e[1], [3 / rms, 4 / rms], rtol=1e-6)
    np.testing.assert_allclose(embed_poses(uv, np.array([True]), scale_by="bone")[0, 18:20],
                               [3 / 5, 4 / 5], rtol=1e-6)
    np.testing.assert_allclose(embed_poses(uv, np.array([True]), scale_by="bbox")[0, 2:4],
                               [3 / 4, 4 / 4], rtol=1e-6)


def test_invariant_to_translation_scale_and_handedness():
    uv, right = _poses(), np.ones(5, bool)
    e = embed_poses(uv, right)
    np.testing.assert_allclose(embed_poses(uv * 2.5 + [7, -3], right), e, atol=1e-5)
    mirrored = uv.copy()
    mirrored[..., 0] = 224 - uv[..., 0]  # the same hand seen as a left hand in a flipped crop
    np.testing.assert_allclose(embed_poses(mirrored, ~right), e, atol=1e-5)
    assert not np.allclose(embed_poses(mirrored, right), e, atol=1e-3)


def test_rotation_align():
    uv, right = _poses(), np.ones(5, bool)
    a = 0.7
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    turned = (uv - 100) @ rot.T + 100
    e = embed_poses(uv, right, rotation="align")
    np.testing.assert_allclose(embed_poses(turned, right, rotation="align"), e, atol=1e-5)
    assert not np.allclose(embed_poses(turned, right), embed_poses(uv, right), atol=1e-3)
    mid = e.reshape(5, 21, 2)[:, 9]  # wrist -> middle MCP points up (-v)
    np.testing.assert_allclose(mid[:, 0], 0, atol=1e-6)
    assert (mid[:, 1] < 0).all()


def test_bad_input():
    with pytest.raises(ValueError, match="uv: expected \\(M, 21, 2\\)"):
        embed_poses(np.zeros((2, 16, 2)), np.ones(2, bool))
    with pytest.raises(ValueError, match="is_right: expected \\(2\\)"):
        embed_poses(np.zeros((2, 21, 2)), np.ones(3, bool))
    uv = _poses(2)
    uv[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="uv: contains NaN"):
        embed_poses(uv, np.ones(2, bool))
    with pytest.raises(ValueError, match="uv: pose 1 is degenerate"):
        embed_poses(np.stack([_poses(1)[0], np.ones((21, 2))]), np.ones(2, bool))
    with pytest.raises(ValueError, match="scale_by: unknown value 'wrist'.*'bbox', 'bone', 'rms'"):
        embed_poses(_poses(1), np.ones(1, bool), scale_by="wrist")


def test_pca_recovers_a_planted_subspace():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(42, 3)))[0].T  # 3 orthonormal directions in 42-D
    x = (rng.normal(size=(500, 3)) * [5, 2, 1]) @ basis + 1.5
    pca = fit_pca(x, 3)
    np.testing.assert_allclose(pca.explained.sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(3), atol=1e-5)
    z = pca.apply(x)
    np.testing.assert_allclose(z @ pca.components + pca.mean, x, atol=1e-4)  # lossless
    assert z[:, 0].var() > z[:, 1].var() > z[:, 2].var()
    with pytest.raises(ValueError, match="dim: expected 1..42, got 43"):
        fit_pca(x, 43)
