import pytest


def test_detect_format_reads_each_layout(tmp_path):
    from handkit.data.formats import detect_format

    layouts = {"freihand": ["training/rgb"], "dexycb": ["calibration"],
               "assemblyhands": ["annotations", "images"]}
    for name, folders in layouts.items():
        for folder in folders:
            (tmp_path / name / folder).mkdir(parents=True)
        assert detect_format(tmp_path / name) == name
    (tmp_path / "ho3d" / "evaluation" / "SM1" / "meta").mkdir(parents=True)
    with pytest.raises(ValueError, match="HO3D evaluation.txt"):  # the frame list is needed too
        detect_format(tmp_path / "ho3d")
    (tmp_path / "ho3d" / "evaluation.txt").write_text("SM1/0000\n")
    assert detect_format(tmp_path / "ho3d") == "ho3d"
    pool = tmp_path / "pool" / "annotations" / "Synth"
    pool.mkdir(parents=True)
    (pool / "Hand100M_Synth_1k_v1-1.json").write_text("{}")
    assert detect_format(tmp_path / "pool") == "hand100m"
    assert detect_format(pool / "Hand100M_Synth_1k_v1-1.json") == "hand100m"
    with pytest.raises(ValueError, match="cannot tell the layout"):
        detect_format(tmp_path / "freihand" / "training")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        detect_format(tmp_path / "nope")
