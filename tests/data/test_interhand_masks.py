"""Part masks for InterHand2.6M from MANO fits (fabricated MANO files, the §6 fixture)."""

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from handkit.data.formats.interhand import InterHand26M
from handkit.data.formats.interhand_masks import mano_vertices, write_interhand_masks
from handkit.hand.mano import MANO
from test_formats_interhand import make_interhand

sys.path.insert(0, str(Path(__file__).parents[1] / "hand"))  # the fabricated MANO pickles
from _mano_fixture import mano_arrays, mirror_arrays, write_mano_pickle  # noqa: E402


def _fit(cam_xyz_m, R, C):
    """A MANO fit whose root sits at camera-frame `cam_xyz_m` (world trans in meters)."""
    world_mm = np.asarray(cam_xyz_m) * 1000 @ R + C  # R^T X + C, row vectors
    return {"pose": [0.0] * 48, "shape": [0.0] * 10, "trans": (world_mm / 1000).tolist()}


def test_masks_from_mano_fits_per_hand_and_skips(tmp_path):
    root, _ = make_interhand(tmp_path / "InterHand")
    mano = tmp_path / "mano"
    arrays = mano_arrays(0)
    write_mano_pickle(mano / "MANO_RIGHT.pkl", arrays)
    write_mano_pickle(mano / "MANO_LEFT.pkl", mirror_arrays(arrays))
    cams = json.loads((root / "annotations/train/InterHand2.6M_train_camera.json").read_text())
    R = np.array(cams["0"]["camrot"]["400001"])
    C = np.array(cams["0"]["campos"]["400001"])
    # the fixture's K (f 1200, c (167, 256)) with 48 x 64 images: at 3 m, (−0.357, −0.611)
    # projects to the image centre and a 0.1 m hand spans ~40 px
    centre = np.array([(24 - 167) / 1200 * 3, (32 - 256) / 1100 * 3, 3.0])
    right, left = _fit(centre - [0.02, 0, 0], R, C), _fit(centre + [0.02, 0, 0], R, C)
    fits = {"0": {"1000": {"right": right, "left": None},        # right frame
                  "1001": {"right": None, "left": left},         # left frame
                  "1002": {"right": right, "left": left},        # interacting
                  "1003": {"right": right, "left": None}}}       # interacting, one fit: skip
    (root / "annotations/train/InterHand2.6M_train_MANO_NeuralAnnot.json").write_text(
        json.dumps(fits))
    written, skipped = write_interhand_masks(root, "train", mano)
    assert written == 3 and sum(skipped.values()) == 1
    assert "do not match hand_type interacting" in next(iter(skipped))
    seg = root / "segm_32/train/Capture0/0000_seq/cam400001"
    masks = [cv2.imread(str(seg / f"image{f}.png"), cv2.IMREAD_UNCHANGED) for f in
             (1000, 1001, 1002)]
    assert not (seg / "image1003.png").exists()
    assert masks[0].shape == (64, 48) and masks[0].max() <= 16 and masks[0].max() > 0
    assert masks[1].min() == 0 and masks[1][masks[1] > 0].min() >= 17
    assert (masks[2] > 0).any() and (masks[2] > 16).any() and ((masks[2] > 0) &
                                                             (masks[2] <= 16)).any()
    ds = InterHand26M(root, "train")
    assert ds[2].part_seg is not None and ds[3].part_seg is None  # read back by the loader
    again, _ = write_interhand_masks(root, "train", mano)
    assert again == 0  # existing masks are kept (resumable)


def test_vertices_land_in_the_camera_frame(tmp_path):
    mano = tmp_path / "mano"
    arrays = mano_arrays(0)
    write_mano_pickle(mano / "MANO_RIGHT.pkl", arrays)
    write_mano_pickle(mano / "MANO_LEFT.pkl", mirror_arrays(arrays))
    models = {s: MANO(mano, side=s, dtype=torch.float64) for s in ("right", "left")}
    R = np.eye(3)
    C = np.array([100.0, 0.0, -500.0])  # camera 0.5 m behind the world origin
    fit = {"pose": [0.0] * 48, "shape": [0.0] * 10, "trans": [0.0, 0.0, 0.0]}
    verts = mano_vertices(models, {"right": fit, "left": None}, R, C, "fits.json", "[f]")
    rest = models["right"].forward_mano(torch.zeros(1, 3, dtype=torch.float64),
                                        finger_aa=torch.zeros(1, 45, dtype=torch.float64))
    expected = rest.vertices[0].numpy() - C / 1000.0
    assert np.allclose(verts[0], expected) and np.isnan(verts[1]).all()


def test_handkit_masks_needs_a_mano_folder(tmp_path, monkeypatch, capsys):
    from handkit.cli import main

    root, _ = make_interhand(tmp_path / "InterHand")
    monkeypatch.delenv("HANDKIT_MANO_DIR", raising=False)
    assert main(["masks", "--data", str(root), "--split", "train"]) == 2
    assert "--mano" in capsys.readouterr().err
