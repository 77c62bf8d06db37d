"""`handkit demo`: the whole story on the synthetic world, ending in a report.

synthesize (labeled, test and an unlabeled pool of "videos") → mine similar hands → pre-train
SiMHand-w → fine-tune RN_25D_wMLPref from that encoder → evaluate on the held-out test set →
predict on a few images → `report.md` / `report.html` with the table, PCK curve and overlays.
Every stage resumes from its output, so re-running after an interruption continues.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from handkit.data.synth.runner import is_complete
from handkit.eval.plots import plot_pck
from handkit.eval.report import EvalReport
from handkit.experiments.pipeline import (FinetuneSpec, PretrainSpec, WorldSpec, finetune_variant,
                                          finished_epochs, make_world, mine_pool,
                                          pretrain_variant)
from handkit.experiments.probe import load_hands, mean_pose_report
from handkit.experiments.report import Report
from handkit.infer.evaluate import evaluate
from handkit.infer.predict import predict

__all__ = ["DemoSpec", "run_demo"]

WORLD_SETS = ("labeled", "test", "pool")


@dataclass
class DemoSpec:
    world: WorldSpec
    pretrain: PretrainSpec
    finetune: FinetuneSpec
    predict_images: int = 4


SPECS = {
    "full": DemoSpec(WorldSpec(labeled=800, test=200, pool=1200, k=5),
                     PretrainSpec(steps=120, epochs=2, batch_size=32),
                     FinetuneSpec(epochs=6)),
    "quick": DemoSpec(WorldSpec(labeled=160, test=64, pool=320, k=3),
                      PretrainSpec(steps=20, epochs=1, batch_size=16),
                      FinetuneSpec(epochs=2), predict_images=2),
}


def run_demo(out_dir: str | Path = "runs/demo", *, quick: bool = False,
             progress: bool = True) -> Path:
    """Run every stage into `out_dir`; returns the path of `report.md`."""
    spec = SPECS["quick" if quick else "full"]
    out = Path(out_dir)
    timings: list[list[object]] = []

    def stage(name: str, fn, reused: Callable[[], Path | None] = lambda: None):
        """Run `fn`; `reused()` names the finished output it will reuse, if there is one."""
        print(f"\n== demo: {name} ==", flush=True)
        found = reused()
        t0 = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - t0
        timings.append([name, seconds, "ran"] if found is None
                       else [name, "–", f"reused {found.relative_to(out)}"])
        return result

    data = out / "data"
    world = stage("synthesize the world", lambda: make_world(spec.world, data, progress=progress),
                  lambda: data if all(is_complete(data / s) for s in WORLD_SETS) else None)
    mined_file = world.pool_json.with_name("mined.json")
    mined = stage("mine similar hands", lambda: mine_pool(world, spec.world.k, progress=progress),
                  lambda: mined_file if mined_file.is_file() else None)
    encoder_file = out / "pretrain" / "encoder_torchvision.pth"
    encoder = stage("pre-train SiMHand-w", lambda: pretrain_variant(
        "simhand_w", world, mined, out / "pretrain", spec.pretrain, progress=progress),
        lambda: encoder_file if encoder_file.is_file() else None)
    ckpt = stage("fine-tune RN_25D_wMLPref", lambda: finetune_variant(
        world, encoder, out / "finetune", spec.finetune, progress=progress),
        lambda: (out / "finetune" / "checkpoints" / "last.ckpt"
                 if finished_epochs(out / "finetune") >= spec.finetune.epochs else None))
    report = stage("evaluate", lambda: evaluate(ckpt, world.test, split="training",
                                                out_dir=out / "eval", progress=progress))
    shipped = stage("reference: the shipped checkpoint", lambda: evaluate(
        None, world.test, split="training", out_dir=out / "eval_shipped", progress=progress))
    mean_pose = stage("reference: mean labelled pose", lambda: mean_pose_report(
        load_hands(world.labeled, "training"), load_hands(world.test, "training")))
    samples = out / "predict_inputs"
    samples.mkdir(parents=True, exist_ok=True)
    for image in sorted((world.test / "training" / "rgb").glob("*.jpg"))[:spec.predict_images]:
        shutil.copy(image, samples / image.name)
    # The test images are FreiHAND-layout crops with the hand in the middle: the centred box
    # (the official first pass) is what they are made for, whatever a finder would score.
    predicted = {name: stage(f"predict ({name})", lambda c=c, name=name: predict(
        samples, ckpt=c, out_dir=out / f"predict_{name}", detector="centre", progress=progress))
        for name, c in (("demo", ckpt), ("shipped", None))}

    n_test = report.meta["num_samples"]
    test_set = f"the held-out synthetic test set ({n_test} images, seed {spec.world.seed + 1000})"
    doc = Report("handkit demo: SiMHand-w pre-training on the synthetic world")
    doc.text(f"Labeled set {spec.world.labeled} images, held-out test set {n_test} "
             f"images (another seed), unlabeled pool {spec.world.pool} crops from synthetic "
             f"videos, top-{spec.world.k} similar hands mined from other videos. Pre-training: "
             f"{spec.pretrain.encoder}, {spec.pretrain.steps} steps of {spec.pretrain.batch_size} "
             f"pairs at {spec.pretrain.view_size} px; fine-tuning: RN_25D_wMLPref, "
             f"{spec.finetune.epochs} epochs.")
    doc.heading(f"Evaluation on {test_set}")
    models = {"this demo's model": report, "shipped checkpoint (reference)": shipped,
              "mean pose (reference)": mean_pose}
    doc.table(["metric", *models], [
        [key, *(_metric(r, key, aligned_only=r is mean_pose) for r in models.values())]
        for key in report.metrics])
    demo_mm, mean_mm = report.metrics["pa_mpjpe_mm"], mean_pose.metrics["pa_mpjpe_mm"]
    shipped_mm = shipped.metrics["pa_mpjpe_mm"]
    doc.text(f"The mean pose is the labelled set's generalised Procrustes mean pose given to "
             f"every test hand, whatever the image: what a model that ignores the image scores. "
             f"It has no position, rotation or scale, so only the Procrustes-aligned metrics "
             f"apply to it. "
             f"PA-MPJPE: this demo's model {demo_mm:.1f} mm, which "
             f"{'beats' if demo_mm < mean_mm else 'does not beat'} the mean pose "
             f"({mean_mm:.1f} mm); the shipped checkpoint (the same model fine-tuned for two hours "
             f"on 2 x 26,250 synthetic images; docs/finetune.md) {shipped_mm:.1f} mm, "
             f"which {'beats' if shipped_mm < mean_mm else 'does not beat'} it. A "
             f"{spec.finetune.epochs}-epoch CPU fine-tune is a smoke test of the pipeline, not a "
             f"trained model; docs/experiments.md measures how much compute the methods need.")
    doc.definitions(_definitions(report))
    curves = {f"{name.split(' (')[0]}": r.curves["pa_pck"] for name, r in models.items()}
    pck = plot_pck(curves, out / "pa_pck.png", title=f"Procrustes-aligned PCK on {test_set}")
    doc.figure(pck, f"Procrustes-aligned PCK on {test_set}: this demo's model and the two "
                    "references")
    doc.figures([(out / "eval" / "gallery.png", "this demo's model (red) vs truth (green)"),
                 (out / "eval_shipped" / "gallery.png",
                  "shipped checkpoint (red) vs truth (green)")])
    doc.heading("Predictions on images")
    for demo_result, shipped_result in zip(predicted["demo"].results,
                                           predicted["shipped"].results):
        name = Path(demo_result.path).name
        doc.figures([(demo_result.outputs[1], f"{name}: this demo's model"),
                     (shipped_result.outputs[1], f"{name}: shipped checkpoint")])
    for name, result in predicted.items():
        if result.skipped:
            doc.text(f"skipped ({name}): {result.skipped}")
    doc.heading("Time per stage")
    doc.table(["stage", "seconds", "output"], timings)
    md, page = doc.write(out)
    print(f"\ndemo: report at {md} (and {page})")
    return md


def _metric(report: EvalReport, key: str, *, aligned_only: bool) -> object:
    value = report.metrics.get(key)
    if value is None or (aligned_only and not key.startswith("pa_")):
        return "–"
    return value


def _definitions(report: EvalReport) -> dict[str, str]:
    defs = {k: v for k, v in report.meta["definitions"].items() if k in report.metrics}
    pck = report.meta["pck"]
    defs["PCK/AUC thresholds"] = f"{pck['thresholds']} ({pck['comparison']}), preset {pck['preset']}"
    defs["crop"] = f"{report.meta['crop']}; skipped samples: {report.meta['skipped']}"
    return defs
