import json


from handkit.cli import main
from handkit.data.formats.hand100m import write_annotations
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


def test_mine_cli_user_errors(tmp_path, capsys, monkeypatch):
    root = _root(tmp_path, videos=3)
    assert main(["mine", "--crops", str(root), "--out", str(tmp_path / "m.json"), "--k", "3"]) == 2
    assert "the pool has 3 videos; k=3" in capsys.readouterr().err
    assert main(["mine", "--crops", str(tmp_path / "nope"), "--out", "x.json"]) == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.delenv("HANDKIT_MEDIAPIPE_PYTHON", raising=False)
    assert main(["mine", "--crops", str(root), "--out", str(tmp_path / "m.json"),
                 "--detector", "mediapipe"]) == 2
    assert "mediapipe: no Python interpreter configured" in capsys.readouterr().err
