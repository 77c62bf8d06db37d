"""S2HAND's pooled 2D PCK (eval/keypoints_2d.py) against hand-counted cases."""

import numpy as np
import pytest

from handkit.eval.keypoints_2d import pooled_pck, report_2d


def test_pooled_pck_counts_all_joints_together_inclusive():
    errors = np.array([[0.0, 1.0, 3.0], [2.0, np.nan, 60.0]])  # 5 finite errors
    pck, area = pooled_pck(errors, np.array([0.0, 1.0, 2.0, 3.0]))
    assert pck.tolist() == pytest.approx([1 / 5, 2 / 5, 3 / 5, 4 / 5])  # d <= t
    assert area == pytest.approx(np.trapezoid([0.2, 0.4, 0.6, 0.8], [0, 1, 2, 3]) / 3)
    full, a49 = pooled_pck(np.zeros((2, 21)))
    assert full.shape == (50,) and a49 == 1.0
    with pytest.raises(ValueError, match="no finite error"):
        pooled_pck(np.full((1, 21), np.nan))


def test_report_2d_per_source():
    gt = np.zeros((2, 21, 2))
    shifted = gt + [3.0, 4.0]  # 5 px everywhere
    det = shifted.copy()
    det[0, 0] = np.nan  # not detected: left out
    rep = report_2d({"projected": shifted, "detected": det}, gt)
    assert rep["projected"]["mean_px"] == pytest.approx(5.0)
    assert rep["projected"]["pck"][4] == 0.0 and rep["projected"]["pck"][5] == 1.0
    assert rep["detected"]["per_joint_px"][0] == pytest.approx(5.0)
