"""Malformed datasets through the verbs that read them (evaluate, pack, finetune): every image and
label mutation of a valid synthetic FreiHAND folder is a counted skip (one bad sample) or a
one-line error naming the file, never a traceback, and the dataset is never written to."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from _fuzz import (IMAGE_MUTATIONS, assert_error, assert_ok, copy_tree, json_mutation, run,
                   set_at, tree_hash)

FIRST_IMAGE = "training/rgb/00000000.jpg"

# ---------------------------------------------------------------------------------------------
# label mutations of the first sample (a counted skip) or of a whole file (an error naming it)

_NAN, _INF = float("nan"), float("inf")
_K_SINGULAR = [[0.0, 0.0, 32.0], [0.0, 0.0, 32.0], [0.0, 0.0, 1.0]]

SAMPLE_MUTATIONS = {
    # name: (file, edit of its JSON list)
    "K_nan": ("training_K.json", lambda v: set_at(v, (0, 0, 0), _NAN)),
    "K_inf": ("training_K.json", lambda v: set_at(v, (0, 1, 1), _INF)),
    "K_zero": ("training_K.json", lambda v: set_at(v, (0,), [[0.0] * 3] * 3)),
    "K_singular": ("training_K.json", lambda v: set_at(v, (0,), _K_SINGULAR)),
    "K_negative_focal": ("training_K.json", lambda v: set_at(v, (0, 0, 0), -100.0)),
    "K_last_row": ("training_K.json", lambda v: set_at(v, (0, 2), [0.0, 0.0, 0.0])),
    "K_2x3": ("training_K.json", lambda v: set_at(v, (0,), v[0][:2])),
    "K_string": ("training_K.json", lambda v: set_at(v, (0,), "K")),
    "K_ragged": ("training_K.json", lambda v: set_at(v, (0, 1), [1.0])),
    "xyz_negative_depth": ("training_xyz.json",
                           lambda v: set_at(v, (0,), [[x, y, -z] for x, y, z in v[0]])),
    "xyz_zero_depth": ("training_xyz.json",
                       lambda v: set_at(v, (0,), [[x, y, 0.0] for x, y, _ in v[0]])),
    "xyz_nan": ("training_xyz.json", lambda v: set_at(v, (0, 3, 2), _NAN)),
    "xyz_inf": ("training_xyz.json", lambda v: set_at(v, (0, 5, 0), _INF)),
    "xyz_20_joints": ("training_xyz.json", lambda v: set_at(v, (0,), v[0][:20])),
    "xyz_2d_points": ("training_xyz.json", lambda v: set_at(v, (0,), [p[:2] for p in v[0]])),
    "xyz_string": ("training_xyz.json", lambda v: set_at(v, (0, 0, 0), "x")),
    "xyz_null": ("training_xyz.json", lambda v: set_at(v, (0,), None)),
    "scale_zero": ("training_scale.json", lambda v: set_at(v, (0,), 0.0)),
    "scale_negative": ("training_scale.json", lambda v: set_at(v, (0,), -0.01)),
    "scale_nan": ("training_scale.json", lambda v: set_at(v, (0,), _NAN)),
    "scale_list": ("training_scale.json", lambda v: set_at(v, (0,), [0.01, 0.02])),
}

FILE_MUTATIONS = {
    # name: (file, edit of the whole file: None deletes it, a str is written as is)
    "K_missing": ("training_K.json", None),
    "xyz_missing": ("training_xyz.json", None),
    "K_truncated_json": ("training_K.json", "[[[1.0, 0.0"),
    "xyz_not_json": ("training_xyz.json", "\x00\x01binary"),
    "K_dict": ("training_K.json", lambda v: {"K": v}),
    "xyz_dict": ("training_xyz.json", lambda v: {"xyz": v}),
    "K_number": ("training_K.json", lambda v: 3.0),
    "xyz_one_entry": ("training_xyz.json", lambda v: v[:1]),  # mismatched list lengths
    "K_three_entries": ("training_K.json", lambda v: v + v[:1]),
    "scale_one_entry": ("training_scale.json", lambda v: v[:1]),
    "K_empty": ("training_K.json", lambda v: []),
    "K_directory": ("training_K.json", "DIR"),
}


def _mutate_file(root: Path, name: str, edit) -> None:
    path = root / name
    if edit is None:
        path.unlink()
    elif edit == "DIR":
        path.unlink()
        path.mkdir()
    elif isinstance(edit, str):
        path.write_text(edit)
    else:
        json_mutation(path, edit)


@pytest.fixture
def dataset(freihand_base, tmp_path) -> Path:
    return copy_tree(freihand_base, tmp_path / "data")


def _evaluate(data: Path, out: Path, capsys):
    return run(["evaluate", "--data", data, "--format", "freihand", "--split", "train",
                "--crop", "gt_box", "--batch-size", "2", "--gallery", "2", "--quiet",
                "--out", out], capsys)


def _pack(data: Path, out: Path, capsys):
    return run(["pack", "--data", data, "--format", "freihand", "--out", out,
                "--shard-size", "2"], capsys)


_VERBS = {"evaluate": _evaluate, "pack": _pack}


def _skipped(out: Path) -> int:
    return json.loads((out / "metrics.json").read_text())["meta"]["skipped"]


def _sentinel(out: Path) -> dict[str, str]:
    """An earlier run's output in `out`, which an error must leave intact."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text('{"earlier": "run"}\n')
    return tree_hash(out)


# ---------------------------------------------------------------------------------------------
# images


@pytest.mark.parametrize("mutation", sorted(IMAGE_MUTATIONS))
@pytest.mark.parametrize("verb", ["evaluate", "pack"])
def test_bad_image(verb, mutation, dataset, tmp_path, capsys):
    mutate, expected = IMAGE_MUTATIONS[mutation]
    mutate(dataset / FIRST_IMAGE)
    before = tree_hash(dataset)
    out = tmp_path / "out"
    if expected == "error":
        earlier = _sentinel(out)
        assert_error(_VERBS[verb](dataset, out, capsys), "training/rgb")
        assert tree_hash(out) == earlier
    else:
        text = assert_ok(_VERBS[verb](dataset, out, capsys))
        skipped = 1 if expected == "skip" else 0
        if verb == "evaluate":
            assert _skipped(out) == skipped, text
        assert f"packed {2 - skipped} of 2" in text if verb == "pack" else True
        if skipped:
            assert "00000000.jpg" in text  # the skipped sample is named
    assert tree_hash(dataset) == before


def test_evaluate_every_image_bad_is_an_error(dataset, tmp_path, capsys):
    for image in (dataset / "training/rgb").iterdir():
        image.write_bytes(b"")
    out = tmp_path / "eval"
    earlier = _sentinel(out)
    assert_error(_evaluate(dataset, out, capsys))
    assert tree_hash(out) == earlier


# ---------------------------------------------------------------------------------------------
# labels


# evaluate reads through the same reader and `Sample.validate` as pack: one of each kind here
EVALUATE_SUBSET = ["K_zero", "K_nan", "K_singular", "K_2x3", "xyz_negative_depth", "xyz_nan",
                   "xyz_20_joints", "scale_zero", "scale_negative"]


@pytest.mark.parametrize("mutation", EVALUATE_SUBSET)
def test_evaluate_bad_label_is_a_counted_skip(mutation, dataset, tmp_path, capsys):
    file, edit = SAMPLE_MUTATIONS[mutation]
    json_mutation(dataset / file, edit)
    before = tree_hash(dataset)
    out = tmp_path / "eval"
    text = assert_ok(_evaluate(dataset, out, capsys))
    assert _skipped(out) == 1 and "00000000.jpg" in text, text
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert tree_hash(dataset) == before


@pytest.mark.parametrize("mutation", sorted(SAMPLE_MUTATIONS))
def test_pack_bad_label_is_a_counted_skip(mutation, dataset, tmp_path, capsys):
    file, edit = SAMPLE_MUTATIONS[mutation]
    json_mutation(dataset / file, edit)
    before = tree_hash(dataset)
    text = assert_ok(_pack(dataset, tmp_path / "shards", capsys))
    field = {"K": "K", "xyz": "xyz", "scale": "scale"}[mutation.split("_")[0]]
    assert "packed 1 of 2 samples" in text and (field in text or "keypoints_3d" in text), text
    assert tree_hash(dataset) == before


@pytest.mark.parametrize("mutation", sorted(FILE_MUTATIONS))
@pytest.mark.parametrize("verb", ["evaluate", "pack"])
def test_bad_label_file_is_an_error_naming_it(verb, mutation, dataset, tmp_path, capsys):
    file, edit = FILE_MUTATIONS[mutation]
    _mutate_file(dataset, file, edit)
    before = tree_hash(dataset)
    out = tmp_path / "out"
    earlier = _sentinel(out)
    outcome = _VERBS[verb](dataset, out, capsys)
    assert_error(outcome, file)
    assert tree_hash(dataset) == before and tree_hash(out) == earlier
