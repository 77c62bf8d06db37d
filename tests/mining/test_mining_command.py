import json

import cv2
import numpy as np
import torch

from handkit.cli import main
from handkit.data.formats.hand100m import read_annotations, write_annotations
from handkit.mining._toyhands import sample_pool


def _root(tmp_path, videos=20):
    pool = sample_pool(videos, 5, seed=2)
    images = [{"id": i, "file_name": f"f/{i}.jpg", "width": 640, "height": 480,
               "video_id": str(v), "frame_id": int(f)} for i, (v, f) in
              enumerate(zip(pool.video, pool.frame))]
    anns = [{"hand_id": str(i), "image_id": i, "boxes": pool.boxes[i],
             "keypoint_25d": pool.keypoint_25d[i],
             "left_right": "Right" if pool.is_right[i] else "Left"} for i in range(len(images))]
    write_annotations(tmp_path / "annotations" / "Synth" / "Hand100M_Synth_100_v1-1.json",
                      images, anns)
    return tmp_path


def test_mine_cli_end_to_end(tmp_path, capsys):
    root = _root(tmp_path)
    assert main(["mine", "--crops", str(root), "--out", str(tmp_path / "m.json"), "--k", "3"]) == 0
    assert "mined top-3 positives for 100/100 hands" in capsys.readouterr().out
    out = json.loads((tmp_path / "m.json").read_text())
    assert all(len(a["positive_sample"]) == 3 for a in out["annotations"])


def test_mine_cli_rerun_with_the_output_inside_the_pool(tmp_path, capsys):
    root = _root(tmp_path)  # where the README puts it: beside the pool's own JSON
    mined = root / "annotations" / "Synth" / "mined.json"
    argv = ["mine", "--crops", str(root), "--out", str(mined), "--k", "3", "--no-resume"]
    assert main(argv) == 0
    assert main(argv) == 0  # the first run's output is not taken for a second input
    assert "mined top-3 positives for 100/100 hands" in capsys.readouterr().out
    (root / "annotations" / "Synth" / "other.json").write_text("{}")
    assert main(argv) == 2  # a genuinely ambiguous pool still asks for --annotations
    assert "pass --annotations FILE" in capsys.readouterr().err


def test_mine_cli_user_errors(tmp_path, capsys, monkeypatch):
    root = _root(tmp_path, videos=3)
    assert main(["mine", "--crops", str(root), "--out", str(tmp_path / "m.json"), "--k", "3"]) == 2
    assert "the pool has 3 videos; k=3" in capsys.readouterr().err
    assert main(["mine", "--crops", str(tmp_path / "nope"), "--out", "x.json"]) == 2
    assert "does not exist" in capsys.readouterr().err
    import handkit.external.mediapipe as mp_ext

    monkeypatch.setattr(mp_ext, "mediapipe_available", lambda: False)
    monkeypatch.setattr(mp_ext, "_SHARED", {})  # no graph started by an earlier test
    assert main(["mine", "--crops", str(root), "--out", str(tmp_path / "m.json"),
                 "--detector", "mediapipe"]) == 2
    assert "mediapipe: not installed" in capsys.readouterr().err


class _FromImage(torch.nn.Module):
    """A stand-in 2D model: the pinky's u moves with the crop's red; confidence from green."""

    def forward(self, x):
        b = x.shape[0]
        j = torch.arange(21, dtype=x.dtype) * 5 + 10
        red, green = x[:, 0].mean((1, 2)), x[:, 1].mean((1, 2))
        u = j[None] + 40 * red[:, None] * (j[None] > 80)
        uv = torch.stack([u, 2 * j[None].expand(b, 21)], -1)
        return torch.cat([uv, green[:, None, None].expand(b, 21, 1)], -1)


def test_mine_cli_folder_of_crops_with_an_exported_model(tmp_path, capsys):
    crops = tmp_path / "crops"
    for v in range(4):
        for f in range(3):
            img = np.zeros((64, 48, 3), np.uint8)  # BGR on disk
            img[..., 2] = 60 * v + 10 * f  # red: the pose depends on video and frame
            img[..., 1] = 0 if (v, f) == (2, 1) else 255  # one crop without a hand
            (crops / f"vid{v}").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(crops / f"vid{v}" / f"frame_{30 * f:06d}.png"), img)
    model = tmp_path / "det.pt2"
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(_FromImage(), (torch.zeros(2, 3, 224, 224),),
                                  dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(model))
    out = tmp_path / "m.json"
    argv = ["mine", "--crops", str(crops), "--out", str(out), "--k", "2"]
    assert main(argv) == 2
    assert "no Hand100M JSON, so no labels" in capsys.readouterr().err
    assert main(argv + ["--detector", "model", "--model", str(model)]) == 0
    assert "mined top-2 positives for 11/12 hands" in capsys.readouterr().out
    ann = read_annotations(out)
    assert "7" not in ann.hand_ids  # vid2/frame_000030 (sorted 8th) had no hand
    assert (tmp_path / "m.json.skipped.txt").read_text() == "7\tno hand detected\n"
    assert ann.video_ids()[0] == "vid0" and ann.frame_ids()[:3].tolist() == [0, 30, 60]
    groups = ann.video_ids()
    row = ann.index_of()
    assert all(groups[row[p]] != groups[i] for i, ps in enumerate(ann.positives) for p in ps)
    assert max(max(d) for d in ann.distances) > 0
