"""Malicious and corrupt checkpoints, configs and pickles (a canary file that must never
appear), outputs that are folders, files or unwritable, malformed mining pools, bad photos for
predict, and synth into folders it did not write: each a one-line error or a counted skip, the
inputs and every earlier output byte-identical."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from _fuzz import (IMAGE_MUTATIONS, Evil, assert_error, assert_ok, copy_tree, run, set_at,
                   tree_hash, write_evil_checkpoint, write_evil_pickle, write_evil_yaml)

# ---------------------------------------------------------------------------------------------
# checkpoints and configs that are malicious, corrupt or empty


def _bad_file(kind: str, path: Path, canary: Path) -> Path:
    if kind == "evil_torch":
        return write_evil_checkpoint(path, canary, {"state_dict": {}})
    if kind == "evil_pickle":
        return write_evil_pickle(path, canary)
    if kind == "garbage":
        path.write_bytes(b"PK\x03\x04 not really a zip" * 10)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        torch.save({"state_dict": {"w": torch.zeros(64)}}, path)
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "wrong_content":
        torch.save({"weights": [1, 2, 3]}, path)
    return path


KINDS = ["evil_torch", "evil_pickle", "garbage", "empty", "truncated", "wrong_content"]

# where a checkpoint-like file goes: (argv with {file} {data} {img} {out}, file name)
CONSUMERS = {
    "evaluate-ckpt": (["evaluate", "--data", "{data}", "--split", "train", "--ckpt", "{file}",
                       "--quiet", "--out", "{out}"], "m.ckpt"),
    "predict-ckpt": (["predict", "{img}", "--ckpt", "{file}", "--detector", "centre", "--quiet",
                      "--out", "{out}"], "m.ckpt"),
    "export-pack-ckpt": (["export", "--ckpt", "{file}", "--pack", "{out}/p.pt"], "m.ckpt"),
    "export-onnx-ckpt": (["export", "--ckpt", "{file}", "--onnx", "{out}/m.onnx"], "m.ckpt"),
    "export-encoder-ckpt": (["export-encoder", "--ckpt", "{file}", "--out", "{out}/e.pth"],
                            "p.ckpt"),
    "finetune-init": (["finetune", "--data", "{data}", "--init", "{file}", "--out", "{out}"],
                      "enc.pth"),
    "finetune-resume": (["finetune", "--data", "{data}", "--resume", "--out", "{out}"],
                        "checkpoints/last.ckpt"),
    "pretrain-resume": (["pretrain", "--method", "simclr", "--data", "{hm}", "--resume", "--out",
                         "{out}"], "checkpoints/last.ckpt"),
    "train-resume": (["train", "finetune", "--set", "data.root={data}", "--resume", "--out",
                      "{out}"], "checkpoints/last.ckpt"),
    "mine-model": (["mine", "--crops", "{hm}", "--detector", "model", "--model", "{file}",
                    "--out", "{out}/m.json"], "det.pt"),
}


def _fill(template, **places):
    return [str(a).format(**places) for a in template]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_bad_checkpoint_is_refused_without_running_it(consumer, kind, freihand_base,
                                                      hand100m_base, tmp_path, canary, capsys):
    template, name = CONSUMERS[consumer]
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier run's output\n")
    path = out / name if name.startswith("checkpoints/") else tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    _bad_file(kind, path, canary)
    before = tree_hash(freihand_base, hand100m_base, out, path)
    argv = _fill(template, file=path, data=freihand_base, hm=hand100m_base, out=out,
                 img=freihand_base / "training/rgb/00000000.jpg")
    assert_error(run(argv, capsys), path)
    after = tree_hash(freihand_base, hand100m_base, out, path)
    assert {p: after.get(p) for p in before} == before


def test_yaml_python_tag_is_refused(tmp_path, canary, capsys):
    config = write_evil_yaml(tmp_path / "evil.yaml", canary)
    assert_error(run(["train", "finetune", "--config", config, "--out", tmp_path / "run"],
                      capsys), config)


def _partial_meta(pool: Path) -> dict:
    """The resume state mining keeps beside its output for this pool (labels as keypoints)."""
    import hashlib

    from handkit.data.formats.hand100m import read_annotations

    (path,) = pool.glob("annotations/*/*.json")
    ann = read_annotations(path)
    return {"source": "labels", "input": str(ann.path.resolve()),
            "hands": hashlib.sha1("\n".join(ann.hand_ids).encode()).hexdigest()}


PARTIAL = {
    # name: (write the <out>.partial/ folder, expected): a damaged piece is redone, a damaged
    # state file is refused naming it; nothing in it is ever unpickled
    "meta_garbage": (lambda d, pool, canary: (d / "det_meta.json").write_bytes(b"\x80\x04garbage"),
                     "error"),
    "meta_foreign": (lambda d, pool, canary: (d / "det_meta.json").write_text('{"source": "x"}'),
                     "error"),
    "piece_evil_pickle": (lambda d, pool, canary: (
        (d / "det_meta.json").write_text(json.dumps(_partial_meta(pool))),
        (d / "det_0000000000.npz").write_bytes(pickle_bytes(canary))), "ok"),
    "piece_garbage": (lambda d, pool, canary: (
        (d / "det_meta.json").write_text(json.dumps(_partial_meta(pool))),
        (d / "det_0000000000.npz").write_bytes(b"PK\x03\x04garbage")), "ok"),
    "piece_wrong_keys": (lambda d, pool, canary: (
        (d / "det_meta.json").write_text(json.dumps(_partial_meta(pool))),
        np.savez(d / "det_0000000000.npz", other=np.zeros(3))), "ok"),
}


@pytest.mark.parametrize("case", sorted(PARTIAL))
def test_minings_resume_folder_damaged(case, hand100m_base, tmp_path, canary, capsys):
    write, expected = PARTIAL[case]
    out = tmp_path / "m.json"
    partial = tmp_path / "m.json.partial"
    partial.mkdir()
    write(partial, hand100m_base, canary)
    before = tree_hash(hand100m_base)
    outcome = run(["mine", "--crops", hand100m_base, "--out", out, "--k", "1", "--pca-dim", "0"],
                  capsys)
    if expected == "error":
        assert_error(outcome, partial)
        assert not out.exists()
    else:
        assert "for 6/6 hands" in assert_ok(outcome)
    assert tree_hash(hand100m_base) == before


def pickle_bytes(canary: Path) -> bytes:
    import pickle

    return pickle.dumps(Evil(canary))


# ---------------------------------------------------------------------------------------------
# outputs that cannot be written: a folder given as a file, a file given as a folder, a path
# under a file (root may write anywhere, so "unwritable" is a path no one can create)

OUTPUTS = {
    "evaluate-out-is-file": (["evaluate", "--data", "{data}", "--split", "train", "--quiet",
                              "--out", "{file}"], "{file}"),
    "evaluate-out-under-file": (["evaluate", "--data", "{data}", "--split", "train", "--quiet",
                                 "--out", "{file}/sub"], "{file}"),
    "predict-out-is-file": (["predict", "{img}", "--detector", "centre", "--quiet", "--out",
                             "{file}"], "{file}"),
    "predict-out-under-file": (["predict", "{img}", "--detector", "centre", "--quiet", "--out",
                                "{file}/sub"], "{file}"),
    "pack-out-is-file": (["pack", "--data", "{data}", "--format", "freihand", "--out",
                          "{file}"], "{file}"),
    "pack-out-under-file": (["pack", "--data", "{data}", "--format", "freihand", "--out",
                             "{file}/sub"], "{file}"),
    "synth-out-is-file": (["synth", "freihand", "--n", "1", "--size", "32", "--quiet", "--out",
                           "{file}"], "{file}"),
    "synth-preview-is-folder": (["synth", "freihand", "--n", "1", "--size", "32", "--quiet",
                                 "--out", "{dir}/new", "--preview", "{dir}"], "{dir}"),
    "mine-out-is-folder": (["mine", "--crops", "{hm}", "--k", "1", "--pca-dim", "0", "--out",
                            "{dir}"], "{dir}"),
    "mine-out-under-file": (["mine", "--crops", "{hm}", "--k", "1", "--pca-dim", "0", "--out",
                             "{file}/m.json"], "{file}"),
    "export-pack-is-folder": (["export", "--ckpt", "{ckpt}", "--pack", "{dir}"], "{dir}"),
    "export-onnx-is-folder": (["export", "--onnx", "{dir}"], "{dir}"),
    "export-onnx-under-file": (["export", "--onnx", "{file}/m.onnx"], "{file}"),
    "export-encoder-out-is-folder": (["export-encoder", "--ckpt", "{pre}", "--out", "{dir}"],
                                     "{dir}"),
    "export-encoder-out-under-file": (["export-encoder", "--ckpt", "{pre}", "--out",
                                       "{file}/e.pth"], "{file}"),
    "finetune-out-is-file": (["finetune", "--data", "{data}", "--out", "{file}"], "{file}"),
    "pretrain-out-is-file": (["pretrain", "--method", "simclr", "--data", "{hm}", "--out",
                              "{file}"], "{file}"),
}


@pytest.fixture(scope="module")
def pretrain_ckpt(tmp_path_factory) -> Path:
    """A minimal `handkit pretrain` checkpoint: the default config and an encoder's weights."""
    from handkit.models.backbones import create_backbone
    from handkit.tasks.pretrain import PretrainConfig

    config = dataclasses.asdict(PretrainConfig())
    config["encoder"] = "resnet18"
    encoder = create_backbone("resnet18")
    path = tmp_path_factory.mktemp("pretrain") / "last.ckpt"
    torch.save({"state_dict": {f"encoder.{k}": v for k, v in encoder.state_dict().items()},
                "hyper_parameters": {"config": config}}, path)
    return path


@pytest.fixture(scope="module")
def packed_ckpt(tmp_path_factory) -> Path:
    """The shipped checkpoint's file (what --ckpt takes)."""
    from handkit.models.checkpoint import shipped_checkpoint

    return Path(shipped_checkpoint())


@pytest.mark.parametrize("case", sorted(OUTPUTS))
def test_unwritable_output_is_a_one_line_error(case, freihand_base, hand100m_base,
                                               pretrain_ckpt, packed_ckpt, tmp_path, capsys):
    template, name = OUTPUTS[case]
    (tmp_path / "a_file").write_text("the user's file\n")
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_dir" / "theirs.txt").write_text("the user's file\n")
    places = dict(data=freihand_base, hm=hand100m_base, file=tmp_path / "a_file",
                  dir=tmp_path / "a_dir", pre=pretrain_ckpt, ckpt=packed_ckpt,
                  img=freihand_base / "training/rgb/00000000.jpg")
    before = tree_hash(tmp_path, freihand_base, hand100m_base)
    assert_error(run(_fill(template, **places), capsys), name.format(**places))
    assert tree_hash(tmp_path, freihand_base, hand100m_base) == before  # no temp files left


# ---------------------------------------------------------------------------------------------
# mining pools: malformed Hand100M JSON

_A = "annotations"
POOL_MUTATIONS = {
    # name: (edit of the document, "error" | "ok"); bad labels are errors, not skips: they are
    # the pool's own labels, not a detector's miss
    "no_images_key": (lambda d: {_A: d[_A]}, "error"),
    "no_annotations_key": (lambda d: {"images": d["images"]}, "error"),
    "top_level_list": (lambda d: d[_A], "error"),
    "empty_annotations": (lambda d: {**d, _A: []}, "error"),
    "keypoints_missing": (lambda d: (d[_A][0].pop("keypoint_25d"), d)[1], "error"),
    "keypoints_short": (lambda d: set_at(d, (_A, 0, "keypoint_25d"),
                                         d[_A][0]["keypoint_25d"][:60]), "error"),
    "keypoints_string": (lambda d: set_at(d, (_A, 0, "keypoint_25d", 4), "x"), "error"),
    "keypoints_nan": (lambda d: set_at(d, (_A, 0, "keypoint_25d", 4), float("nan")), "error"),
    "keypoints_inf": (lambda d: set_at(d, (_A, 0, "keypoint_25d", 7), float("inf")), "error"),
    "left_right_bogus": (lambda d: set_at(d, (_A, 0, "left_right"), "Up"), "error"),
    "image_id_dangling": (lambda d: set_at(d, (_A, 0, "image_id"), 999), "error"),
    "hand_id_duplicate": (lambda d: set_at(d, (_A, 1, "hand_id"), d[_A][0]["hand_id"]),
                          "error"),
    # video_id is optional (a hand without one is a video of its own): mined as usual
    "video_id_missing": (lambda d: (d["images"][0].pop("video_id"), d)[1], "ok"),
    "images_not_list": (lambda d: {**d, "images": {"0": d["images"][0]}}, "error"),
}


@pytest.mark.parametrize("mutation", sorted(POOL_MUTATIONS))
def test_malformed_pool(mutation, hand100m_base, tmp_path, capsys):
    edit, expected = POOL_MUTATIONS[mutation]
    pool = copy_tree(hand100m_base, tmp_path / "pool")
    (path,) = pool.glob("annotations/*/*.json")
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    out = tmp_path / "mined.json"
    out.write_text('{"images": [], "annotations": []}\n')  # an earlier mining's output
    before = tree_hash(pool, out)
    outcome = run(["mine", "--crops", pool, "--out", out, "--k", "1", "--pca-dim", "0",
                   "--no-resume"], capsys)
    if expected == "error":
        assert_error(outcome, path.name)
        assert tree_hash(pool, out) == before
    else:
        text = assert_ok(outcome)
        assert "for 6/6 hands" in text, text
        assert tree_hash(pool) == {p: h for p, h in before.items() if p != str(out)}


# ---------------------------------------------------------------------------------------------
# predict on a folder with one bad photo: the others predicted, the bad one counted and named


@pytest.mark.parametrize("mutation", sorted(m for m in IMAGE_MUTATIONS if m != "missing"))
def test_predict_folder_with_a_bad_photo(mutation, freihand_base, tmp_path, capsys):
    mutate, expected = IMAGE_MUTATIONS[mutation]
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (photos / name).write_bytes((freihand_base / "training/rgb/00000000.jpg").read_bytes())
    mutate(photos / "a.jpg")
    before = tree_hash(photos)
    out = tmp_path / "out"
    text = assert_ok(run(["predict", photos, "--detector", "centre", "--quiet", "--out", out],
                         capsys))
    if expected == "ok" or mutation == "1x1":  # a 1x1 photo is still a photo
        assert "skipped 0 image(s)" in text, text
    else:
        assert "skipped 1 image(s)" in text and "a.jpg" in text, text
    assert (out / "b_jpg.json").is_file()
    assert tree_hash(photos) == before


def test_predict_names_differing_in_case_keep_both_outputs(freihand_base, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("x.jpg", "x.JPG"):
        (photos / name).write_bytes((freihand_base / "training/rgb/00000000.jpg").read_bytes())
    out = tmp_path / "out"
    outcome = run(["predict", photos, "--detector", "centre", "--quiet", "--out", out], capsys)
    jsons = sorted(p.name for p in out.glob("*.json")) if out.is_dir() else []
    # Either both get outputs of their own, or the clash is refused naming both.
    if outcome.code == 0:
        assert len(jsons) == 2, jsons
    else:
        assert_error(outcome, "x.jpg")


# ---------------------------------------------------------------------------------------------
# synth writes only into its own folders


def test_synth_refuses_a_freihand_folder_it_did_not_write(freihand_base, tmp_path, capsys):
    theirs = copy_tree(freihand_base, tmp_path / "theirs")
    (theirs / "meta.json").unlink()
    for work in theirs.glob(".synth*"):
        for f in sorted(work.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        work.rmdir()
    before = tree_hash(theirs)
    assert_error(run(["synth", "freihand", "--out", theirs, "--n", "3", "--size", "32",
                      "--quiet"], capsys), theirs)
    assert tree_hash(theirs) == before


def test_synth_refuses_a_folder_of_user_files(tmp_path, capsys):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "training_xyz.json").write_text("[]")
    (theirs / "notes.txt").write_text("mine\n")
    before = tree_hash(theirs)
    assert_error(run(["synth", "freihand", "--out", theirs, "--n", "1", "--size", "32",
                      "--quiet"], capsys), theirs)
    assert tree_hash(theirs) == before


def test_synth_other_layout_into_own_folder_is_refused(freihand_base, tmp_path, capsys):
    ours = copy_tree(freihand_base, tmp_path / "ours")
    before = tree_hash(ours)
    outcome = run(["synth", "interhand", "--out", ours, "--n", "1", "--size", "128", "--quiet"],
                  capsys)
    assert_error(outcome, ours)
    assert tree_hash(ours) == before


# ---------------------------------------------------------------------------------------------
# writers replace only their own kind of output


def test_mine_refuses_to_replace_a_user_file(hand100m_base, tmp_path, capsys):
    out = tmp_path / "notes.json"
    out.write_text('{"my": "notes"}\n')
    before = tree_hash(out)
    assert_error(run(["mine", "--crops", hand100m_base, "--out", out, "--k", "1", "--pca-dim",
                      "0"], capsys), out)
    assert tree_hash(out) == before


def test_mine_replaces_its_own_earlier_output(hand100m_base, tmp_path, capsys):
    out = tmp_path / "mined.json"
    argv = ["mine", "--crops", hand100m_base, "--out", out, "--k", "1", "--pca-dim", "0"]
    assert_ok(run(argv, capsys))
    first = tree_hash(out)
    assert_ok(run(argv, capsys))
    assert tree_hash(out) == first  # the same mining, rewritten


def test_pack_refuses_a_folder_with_a_foreign_index(freihand_base, tmp_path, capsys):
    out = tmp_path / "shards"
    out.mkdir()
    (out / "index.json").write_text('{"my": "index"}\n')
    before = tree_hash(out)
    assert_error(run(["pack", "--data", freihand_base, "--format", "freihand", "--out", out],
                     capsys), out / "index.json")
    assert tree_hash(out) == before
