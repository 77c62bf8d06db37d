import json
import struct
import zlib

import cv2
import numpy as np
import pytest
from torch.utils.data import DataLoader

from _format_fixtures import _color, make_freihand, write_json
from handkit.data.formats import (SkipBadSamples, SkipReport, collate_skip_bad, list_formats,
                                  open_dataset)
from handkit.data.formats._base import BadSample
from handkit.data.formats.freihand import FreiHAND
from handkit.data.schema import SampleError

N = 3  # labels in make_freihand; 4 colour versions -> 12 images


@pytest.fixture
def fh(tmp_path):
    return make_freihand(tmp_path / "FreiHAND_pub_v2")


def test_training_index_maps_to_label_mod_n_and_version_blocks(fh):
    ds = FreiHAND(fh, "training")
    assert len(ds) == 4 * N and ds.versions == ("gs", "hom", "sample", "auto")
    for i in range(len(ds)):
        s = ds[i]
        v, k = divmod(i, N)
        assert s.extras["label_index"] == k and s.frame_id == v
        assert s.extras["version"] == ("gs", "hom", "sample", "auto")[v]
        np.testing.assert_allclose(s.image.reshape(-1, 3).mean(0), _color(v, k), atol=3)
        assert s.video_id == f"training/{k:08d}" and s.sample_id == f"training/rgb/{i:08d}.jpg"
        # x = 0.01 j + 0.01 k, z = 0.5, f = 100, c = 16 -> u = 2 j + 2 k + 16, v = 0.02·200 + 16
        np.testing.assert_allclose(s.keypoints_2d[0, :, 0], 2 * np.arange(21) + 2 * k + 16, atol=1e-4)
        np.testing.assert_allclose(s.keypoints_2d[0, :, 1], 20.0, atol=1e-5)
        assert s.keypoints_3d.shape == (1, 21, 3) and s.joint_valid.all() and s.is_right.all()
        assert s.scale[0] == pytest.approx(0.028 + 0.001 * k)
        assert s.extras["mano"].shape == (61,) and s.extras["mano"][0] == pytest.approx(0.1 * k)
        # mask: the first 10 + k columns are hand
        assert s.mask[:, : 9 + k].all() and not s.mask[:, 11 + k:].any()
        assert s.dataset == "freihand" and s.vertices is None


def test_version_subset_and_vertices(fh):
    ds = FreiHAND(fh, "train", versions=["hom", "auto"], vertices=True)
    assert len(ds) == 2 * N
    s = ds[N + 1]  # second block = auto, label 1 -> image 3·N + 1
    assert s.extras["version"] == "auto" and s.sample_id == f"training/rgb/{3 * N + 1:08d}.jpg"
    assert s.vertices.shape == (1, 778, 3)
    with pytest.raises(ValueError, match="versions: unknown value 'rgb'"):
        FreiHAND(fh, versions=["rgb"])


def test_evaluation_without_and_with_labels(tmp_path):
    root = make_freihand(tmp_path / "FreiHAND_pub_v2")
    s = FreiHAND(root, "evaluation")[1]
    assert not s.joint_valid.any() and s.keypoints_3d is None and s.scale[0] == pytest.approx(0.03)
    make_freihand(root, evaluation=tmp_path / "FreiHAND_pub_v2_eval")  # SiMHand's sibling dir
    s = FreiHAND(root, "evaluation")[1]
    assert s.joint_valid.all() and s.keypoints_3d is not None


def test_registry(fh):
    assert {"freihand", "interhand", "ho3d", "dexycb", "assemblyhands", "youtube3d"} <= set(list_formats())
    assert len(open_dataset("freihand", fh, "training", versions=["gs"])) == N
    with pytest.raises(ValueError, match=r"format: unknown value 'frei'; choose one of \['assemblyhands'"):
        open_dataset("frei", fh, "training")


def test_missing_file_names_the_file(fh):
    (fh / "training_K.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"training_K\.json: missing \(FreiHAND K\)"):
        FreiHAND(fh)


def test_malformed_json_names_the_file(fh):
    (fh / "training_xyz.json").write_text("[[1, 2,")
    with pytest.raises(SampleError, match=r"training_xyz\.json: malformed JSON"):
        FreiHAND(fh)


def test_label_count_mismatch(fh):
    write_json(fh / "training_scale.json", [0.03])
    with pytest.raises(SampleError, match=r"training_scale\.json: scale: 1 entries, but training_K"):
        FreiHAND(fh)


def test_wrong_shape_and_nan_name_file_and_field(fh):
    xyz = json.loads((fh / "training_xyz.json").read_text())
    xyz[1] = xyz[1][:20]
    xyz[2][5][0] = float("nan")
    (fh / "training_xyz.json").write_text(json.dumps(xyz))
    ds = FreiHAND(fh, versions=["gs"])
    with pytest.raises(SampleError, match=r"training_xyz\.json: xyz\[1\]: expected \(21, 3\), got \(20, 3\)"):
        ds[1]
    with pytest.raises(SampleError, match=r"training_xyz\.json: xyz\[2\]: contains NaN .*index \(5, 0\)"):
        ds[2]


def test_zero_K_and_negative_depth_are_bad_samples_naming_the_field(fh):
    K = json.loads((fh / "training_K.json").read_text())
    K[1] = [[0, 0, 0], [0, 0, 0], [0, 0, 0]]
    (fh / "training_K.json").write_text(json.dumps(K))
    xyz = json.loads((fh / "training_xyz.json").read_text())
    xyz[2][7][2] = -0.4
    (fh / "training_xyz.json").write_text(json.dumps(xyz))
    ds = FreiHAND(fh, versions=["gs"])
    with pytest.raises(SampleError, match=r"K: not a camera matrix \(fx = 0, fy = 0"):
        ds[1]
    with pytest.raises(SampleError, match=r"keypoints_3d: depth -0.4 m at hand 0, joint \d+"):
        ds[2]
    assert ds[0].validate() is not None  # the others still load


def _png_claiming(width, height):
    """A valid small PNG whose header claims width × height (CRC fixed)."""
    data = bytearray(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_an_image_claiming_60000_px_is_a_counted_skip(fh):
    (fh / "training" / "rgb" / "00000001.jpg").write_bytes(_png_claiming(60000, 60000))
    with pytest.raises(SampleError, match=r"00000001\.jpg: image: cannot decode"):
        FreiHAND(fh)[1]
    wrapped = SkipBadSamples(FreiHAND(fh))
    items = [wrapped[i] for i in range(len(wrapped))]
    assert [i for i, x in enumerate(items) if isinstance(x, BadSample)] == [1]
    assert wrapped.report.count == 1 and "cannot decode" in wrapped.report.bad[0].reason


def test_corrupt_image_and_image_count(fh):
    (fh / "training" / "rgb" / "00000001.jpg").write_bytes(b"not a jpeg")
    ds = FreiHAND(fh)
    with pytest.raises(SampleError, match=r"00000001\.jpg: image: cannot decode"):
        ds[1]
    (fh / "training" / "rgb" / "00000002.jpg").unlink()
    with pytest.raises(SampleError, match=r"rgb: images: 11 files is not a positive multiple of the 3"):
        FreiHAND(fh)


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_bad_samples_counts_and_loses_nothing_else(fh, workers):
    (fh / "training" / "rgb" / "00000004.jpg").write_bytes(b"")
    ds = SkipBadSamples(FreiHAND(fh))
    report = SkipReport()
    seen = []
    for batch in DataLoader(ds, batch_size=5, collate_fn=collate_skip_bad, num_workers=workers):
        report.update(batch)
        seen += batch.get("sample_id", [])
    assert report.count == 1 and ds.report.count == (1 if workers == 0 else 0)  # worker copies
    assert report.bad[0].sample_id == "training/rgb/00000004.jpg"
    assert sorted(seen) == [f"training/rgb/{i:08d}.jpg" for i in range(12) if i != 4]
    assert "skipped 1 bad sample(s)" in report.summary() and "image: cannot decode" in report.summary()


def test_vertices_in_the_real_layout_one_array_per_label(fh):
    verts = [(np.arange(778 * 3).reshape(778, 3) * 1e-4 + k).tolist() for k in range(N)]
    write_json(fh / "training_verts.json", verts)
    ds = FreiHAND(fh, "training", versions=["gs", "auto"], vertices=True)
    assert ds.verts.dtype == np.float32 and ds.verts.shape == (N, 778, 3)
    for i in range(len(ds)):
        s = ds[i]  # label i % N in both colour blocks, as training_xyz.json
        np.testing.assert_allclose(s.vertices[0], np.asarray(verts[i % N], np.float32))
        assert s.validate() is s


def test_ragged_vertices_name_the_file(fh):
    verts = [np.zeros((778, 3)).tolist(), np.zeros((777, 3)).tolist(), np.zeros((778, 3)).tolist()]
    write_json(fh / "training_verts.json", verts)
    with pytest.raises(SampleError, match=r"training_verts\.json: verts: every entry must be a "
                                          r"V×3 list with one V for all labels; found vertex "
                                          r"counts \[777, 778\]"):
        FreiHAND(fh, vertices=True)
