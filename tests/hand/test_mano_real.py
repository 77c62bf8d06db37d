"""Parity with the user's real MANO v1.2 files: runs where HANDKIT_MANO_DIR is set, else skips.

The facts checked are those of specs/mesh.md §1.1 (read from the released file) and the rest
wrist every MANO user sees, J₀ = (0.09567, 0.00638, 0.00619) m.
"""

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from handkit.hand import mano_file
from handkit.hand.mano import MANO
from handkit.utils.safe_pickle import load_pickle

F64 = torch.float64
_RIGHT_SHA = ("45d60aa3", "de264767")  # prefix and suffix of the released MANO_RIGHT.pkl


def _real(side):
    folder = os.environ.get("HANDKIT_MANO_DIR")
    if not folder:
        pytest.skip("HANDKIT_MANO_DIR is not set (parity tests need the licensed MANO files)")
    try:
        path = mano_file.mano_file(Path(folder), side)
    except mano_file.ManoFileError:
        pytest.skip(f"no {mano_file.MANO_FILES[side]} in HANDKIT_MANO_DIR")
    if side == "right":
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if not (sha.startswith(_RIGHT_SHA[0]) and sha.endswith(_RIGHT_SHA[1])):
            pytest.skip(f"{path}: not the released v1.2 file (SHA-256 {sha[:8]}…)")
    return path


def test_real_right_file_facts():
    path = _real("right")
    raw = load_pickle(path, what="MANO model", allowed=mano_file._MANO_GLOBALS)
    data = mano_file.read_mano(path, side="right", cache=False)
    np.testing.assert_allclose(data.J_regressor @ data.v_template, np.asarray(raw["J"]), atol=1e-12)
    np.testing.assert_allclose(data.J_regressor.sum(1), 1, atol=1e-9)
    np.testing.assert_allclose(data.weights.sum(1), 1, atol=1e-9)
    np.testing.assert_allclose(data.v_template.min(0), [-0.079, -0.027, -0.073], atol=1e-3)
    np.testing.assert_allclose(data.v_template.max(0), [0.114, 0.035, 0.095], atol=1e-3)
    norms = np.linalg.norm(data.hands_components, axis=1)
    np.testing.assert_allclose(norms[:3], [1.307, 1.080, 0.885], atol=1e-3)
    np.testing.assert_allclose(norms[-1], 0.037, atol=1e-3)
    gram = data.hands_components @ data.hands_components.T
    assert np.abs(gram - np.diag(np.diag(gram))).max() < 1e-6  # orthogonal rows
    assert data.faces.shape == (1538, 3) and data.shapedirs.shape == (778, 3, 10)
    assert mano_file.rest_chirality(data.v_template, data.J_regressor) > 0.1


def test_real_rest_wrist_and_conventions():
    model = MANO(_real("right"), dtype=F64, cache=False, flat_hand_mean=True)
    zero = torch.zeros(1, 3, dtype=F64)
    out = model.forward_mano(zero, finger_aa=torch.zeros(1, 45, dtype=F64))
    np.testing.assert_allclose(out.joints16[0, 0].numpy(), [0.09566994, 0.00638343, 0.0061863],
                               atol=1e-7)
    s2hand = MANO(_real("right"), dtype=F64, cache=False, root_mode="s2hand")
    wrist = MANO(_real("right"), dtype=F64, cache=False)
    pca = torch.randn(2, 30, generator=torch.Generator().manual_seed(0), dtype=F64)
    a = s2hand.forward_mano(torch.zeros(2, 3, dtype=F64), finger_pca=pca)
    b = wrist.forward_mano(torch.tensor([[math.pi, 0, 0]] * 2, dtype=F64), finger_pca=pca)
    torch.testing.assert_close(a.vertices, b.vertices, atol=2e-8, rtol=0)  # spec §1.6


def test_real_left_file_side_and_shapedirs_bug():
    left_path = _real("left")
    _real("right")
    with pytest.raises(mano_file.ManoFileError, match=r"left-hand model"):
        mano_file.read_mano(left_path, side="right", cache=False)
    left = mano_file.read_mano(left_path, side="left", cache=False)
    right = mano_file.read_mano(left_path.with_name("MANO_RIGHT.pkl"), side="right", cache=False)
    assert mano_file.has_left_shapedirs_bug(left, right)  # v1.2's known bug (smplx #48)
    np.testing.assert_allclose((left.J_regressor @ left.v_template)[0],
                               [-0.09566994, 0.00638343, 0.0061863], atol=1e-4)
    assert MANO(left_path, side="left", cache=False).shapedirs_negated
