"""Mine similar-hand pairs for a Hand100M annotation file; judge pairs by their true 3D poses.

`mine_annotations` = detect 2D keypoints (chunked, checkpointed) -> embed (+ PCA) -> kNN among
other videos (`knn.search_other_videos`, checkpointed) -> the same file with `positive_sample`
(ranked hand_ids) and `distance` (aligned, Euclidean in the embedding) filled, written
atomically. Hands without a detection are reported and left out of the output. A killed run
resumes from `<out>.partial/` and gives the same file as an uninterrupted one.

`pair_quality` is the check of docs/mining.md: PA-MPJPE between the true 3D poses of mined
pairs vs random pairs from different videos.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from handkit.data.formats.hand100m import (
    CROP_SIZE, Hand100MAnnotations, Hand100MDataset, read_annotations, write_annotations)
from handkit.eval.metrics import pa_mpjpe
from handkit.mining.detect2d import Detections, KeypointSource, LabelKeypoints
from handkit.mining.embed import embed_poses, fit_pca
from handkit.mining.knn import search_other_videos
from handkit.utils.check import check_shape
from handkit.utils.files import read_resumable, write_json, write_npz

__all__ = ["MiningReport", "detect_pool", "video_groups", "mine_annotations", "pair_quality",
           "annotations_from_folder"]

_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class MiningReport:
    """What a mining run did. `skipped`: (hand_id, reason) of hands left out."""

    out: Path
    num_hands: int
    num_mined: int
    k: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    num_fallback: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        t = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        return (f"mined top-{self.k} positives for {self.num_mined}/{self.num_hands} hands -> "
                f"{self.out} ({len(self.skipped)} without a detectable hand left out; "
                f"{self.num_fallback} queries used the exact fallback; {t})")


def video_groups(ann: Hand100MAnnotations) -> tuple[np.ndarray, np.ndarray]:
    """(M,) int64 video codes and (M,) frame ids. A hand whose image has no `video_id` is its
    own video (only the hand itself is then excluded)."""
    vids = ann.video_ids()
    codes: dict[str, int] = {}
    groups = np.empty(len(vids), np.int64)
    for i, v in enumerate(vids):
        groups[i] = codes.setdefault(v if v else f"\0{i}", len(codes))
    return groups, ann.frame_ids()


def _labels_of(ann: Hand100MAnnotations) -> LabelKeypoints:
    return LabelKeypoints(ann.keypoints[..., :2] * CROP_SIZE)


def detect_pool(source: KeypointSource, dataset: Hand100MDataset | None, num: int, *,
                batch_size: int = 256, checkpoint: Path | None = None,
                progress: bool = True) -> tuple[Detections, list[str]]:
    """Run `source` over all `num` hands in batches; crops come from `dataset` (unflipped).

    Returns the stacked detections and the reasons of unreadable crops by row ("" if fine).
    """
    kp = np.full((num, 21, 2), np.nan, np.float32)
    conf = np.zeros(num, np.float32)
    reasons = [""] * num
    for start in tqdm(range(0, num, batch_size), desc=f"2D {source.name}", unit="batch",
                      disable=not progress or not source.needs_images):
        rows = np.arange(start, min(num, start + batch_size))
        file = checkpoint / f"det_{start:010d}.npz" if checkpoint is not None else None
        saved = read_resumable(file, ("keypoints", "confidence", "reasons"))
        if saved is not None:
            kp[rows], conf[rows] = saved["keypoints"], saved["confidence"]
            for r, why in zip(rows, saved["reasons"].tolist()):
                reasons[r] = why
            continue
        images, ok = None, rows
        if source.needs_images:
            crops = []
            for r in rows:
                try:
                    crops.append(dataset[int(r)].image)
                except ValueError as err:
                    reasons[r] = f"unreadable crop: {err}"
            ok = np.array([r for r in rows if not reasons[r]], np.int64)
            images = np.stack(crops) if crops else None
        if len(ok):
            det = source.detect(ok, images)
            kp[ok], conf[ok] = det.keypoints, det.confidence
        if file is not None:
            write_npz(file, keypoints=kp[rows], confidence=conf[rows],
                      reasons=np.array([reasons[r] for r in rows]))
    return Detections(keypoints=kp, confidence=conf, found=np.isfinite(kp).all((1, 2))), reasons


def _checkpoint_dir(out: Path, ann: Hand100MAnnotations, source: KeypointSource,
                    resume: bool) -> Path:
    ckpt = out.with_name(out.name + ".partial")
    meta = {"source": source.name, "input": str(ann.path.resolve()),
            "hands": hashlib.sha1("\n".join(ann.hand_ids).encode()).hexdigest()}
    if ckpt.exists() and not resume:
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True, exist_ok=True)
    file = ckpt / "det_meta.json"
    try:
        old = json.loads(file.read_text()) if file.exists() else meta
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{file}: unreadable resume state ({err}); delete {ckpt} or pass "
                         "--no-resume.") from None
    if old != meta:
        raise ValueError(f"{ckpt}: holds a checkpoint of another input or detector; delete it "
                         "or pass --no-resume.")
    write_json(file, meta)
    return ckpt


def mine_annotations(
    annotations: str | Path, out: str | Path, *, source: KeypointSource | None = None,
    root: str | Path | None = None, k: int = 10, scale_by: Literal["rms", "bbox", "bone"] = "rms",
    rotation: Literal["keep", "align"] = "keep", pca_dim: int | None = 14,
    window: int | None = None, index: Literal["auto", "flat", "ivf"] = "auto",
    batch_size: int = 256, chunk_size: int = 65_536, resume: bool = True, progress: bool = True,
) -> MiningReport:
    """Fill `positive_sample`/`distance` of a Hand100M file and write it to `out`.

    Args:
        annotations: the input Hand100M JSON (its `left_right` gives handedness; its images'
            `video_id`/`frame_id` give the videos).
        out: output JSON (may equal `annotations`; written atomically).
        source: 2D keypoints (default: the file's own `keypoint_25d`, `LabelKeypoints`). With
            another source the detected keypoints replace `keypoint_25d` (normalised to the
            crop, 3rd value 0) and `keypoint_score` holds the confidence.
        root: dataset root for reading crops (see `Hand100MDataset`).
        k: positives per hand; scale_by, rotation: `embed.embed_poses`; pca_dim: PCA size or
            None (skipped for pools of fewer than 2 * pca_dim hands); window, index,
            chunk_size: `knn.search_other_videos`.
        resume: continue from `<out>.partial/` if present (it is removed on success).

    Raises:
        ValueError: a bad file, too few videos for k, or a foreign checkpoint.
    """
    t0 = time.perf_counter()
    ann = read_annotations(annotations)
    if len(ann) == 0:
        raise ValueError(f"{annotations}: annotations: no hands to mine (an empty list).")
    out = Path(out)
    source = source or _labels_of(ann)
    ckpt = _checkpoint_dir(out, ann, source, resume)
    dataset = Hand100MDataset(annotations, root, flip_left=False) if source.needs_images \
        else None
    det, reasons = detect_pool(source, dataset, len(ann), batch_size=batch_size,
                               checkpoint=ckpt, progress=progress)
    t1 = time.perf_counter()
    keep = np.flatnonzero(det.found)
    skipped = [(ann.hand_ids[i], reasons[i] or "no hand detected")
               for i in np.flatnonzero(~det.found)]
    x = embed_poses(det.keypoints[keep], ann.is_right[keep], scale_by=scale_by,
                    rotation=rotation)
    if pca_dim is not None and 2 * pca_dim <= len(x) and pca_dim < x.shape[1]:
        x = fit_pca(x, pca_dim).apply(x)
    groups, frames = video_groups(ann)
    t2 = time.perf_counter()
    res = search_other_videos(x, groups[keep], k=k, frames=frames[keep], window=window,
                              kind=index, chunk_size=chunk_size, checkpoint=ckpt,
                              progress=progress)
    t3 = time.perf_counter()
    records = []
    for row, i in enumerate(keep):
        rec = dict(ann.records[i])
        valid = res.indices[row] >= 0
        rec["positive_sample"] = [ann.hand_ids[keep[j]] for j in res.indices[row][valid]]
        rec["distance"] = [round(float(d), 6) for d in res.distances[row][valid]]
        if source.name != "labels":
            kp = np.zeros((21, 3))
            kp[:, :2] = np.round(det.keypoints[i] / CROP_SIZE, 6)
            rec["keypoint_25d"] = kp.reshape(-1).tolist()
            rec["keypoint_score"] = float(det.confidence[i])
        records.append(rec)
    used = {ann.image_ids[i] for i in keep}
    images = [img for iid, img in ann.images.items() if iid in used]
    write_annotations(out, images, records, validate=False)  # records of a validated file
    shutil.rmtree(ckpt, ignore_errors=True)
    t4 = time.perf_counter()
    return MiningReport(out=out, num_hands=len(ann), num_mined=len(keep), k=k, skipped=skipped,
                        num_fallback=res.num_fallback,
                        seconds={"detect": t1 - t0, "embed": t2 - t1, "knn": t3 - t2,
                                 "write": t4 - t3})


def annotations_from_folder(folder: str | Path, out: str | Path, *,
                            left_right: Literal["Left", "Right"] = "Right") -> Path:
    """Describe a folder of hand crops as a Hand100M file to mine (no keypoints yet).

    Layout: `<folder>/<video>/<frame>.jpg` (Hand100M's frame extraction layout; any depth). The
    video is the crop's parent folder relative to `folder` (crops directly in `folder` are each
    their own video); the frame is the last integer in the file name (-1 if none). Each image is
    one crop: box = the whole image, so the official 1.3x crop is the image itself (clamped).
    Keypoints are zeros until a detector fills them; every crop gets `left_right`.

    Raises:
        FileNotFoundError: no image under `folder`.
    """
    import re

    from PIL import Image

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_EXTS)
    if not files:
        raise FileNotFoundError(f"--crops: no images ({sorted(_IMAGE_EXTS)}) under {folder}.")
    images, anns = [], []
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                w, h = im.size
        except OSError:
            w = h = 1  # unreadable: reported by the detection stage
        rel = f.relative_to(folder)
        digits = re.findall(r"\d+", f.stem)
        images.append({"id": i, "file_name": rel.as_posix(), "width": w, "height": h,
                       "video_id": rel.parent.as_posix() if rel.parent != Path(".") else "",
                       "frame_id": int(digits[-1]) if digits else -1})
        anns.append({"hand_id": str(i), "image_id": i, "boxes": [0, 0, w, h],
                     "keypoint_25d": [0.0] * 63, "left_right": left_right})
    return write_annotations(out, images, anns)


def pair_quality(joints_3d: np.ndarray, is_right: np.ndarray, groups: np.ndarray,
                 positives: np.ndarray, *, num_random: int | None = None,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PA-MPJPE (meters) of mined pairs and of random cross-video pairs, from true 3D poses.

    Args:
        joints_3d: (M, 21, 3) float, meters, camera frame; left hands are mirrored (x -> -x)
            before comparison, as the embedding compares them.
        is_right: (M,) bool. groups: (M,) int video codes.
        positives: (M,) int, the mined top-1 partner of each hand (-1: none, ignored).
        num_random: random pairs drawn (default M), each from two different videos.

    Returns:
        (mined (P,), random (R,)) float64 per-pair PA-MPJPE in meters.
    """
    m = check_shape(joints_3d, "M 21 3", name="joints_3d")["M"]
    for name, arr in (("is_right", is_right), ("groups", groups), ("positives", positives)):
        check_shape(arr, f"{m}", name=name)
    j = np.asarray(joints_3d, np.float64).copy()
    j[~np.asarray(is_right, bool), :, 0] *= -1.0
    a = np.flatnonzero(np.asarray(positives) >= 0)
    rng = np.random.default_rng(seed)
    n = num_random or m
    ra, rb = rng.integers(0, m, n), rng.integers(0, m, n)
    cross = groups[ra] != groups[rb]
    ra, rb = ra[cross], rb[cross]

    def _err(p, q):
        out = [pa_mpjpe(j[p[s:s + 65536]], j[q[s:s + 65536]], reduction="none").mean(1)
               for s in range(0, len(p), 65536)]
        return np.concatenate([o.numpy() for o in out]) if out else np.zeros(0)

    return _err(a, np.asarray(positives)[a]), _err(ra, rb)
