"""handkit's hand detector: targets, decoding, loss, the finder's letterbox mapping, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handkit.infer.finders import DetectorFinder, load_detector, make_finder
from handkit.models.hand_detector import HandDetector, detector_targets


def _keypoints(x0, y0, x1, y1) -> torch.Tensor:
    """(21, 2) keypoints spanning the box exactly (corners among them)."""
    uv = torch.empty(21, 2).uniform_(0, 1, generator=torch.Generator().manual_seed(0))
    uv = uv * torch.tensor([x1 - x0, y1 - y0]) + torch.tensor([x0, y0])
    uv[0], uv[1] = torch.tensor([x0, y0]), torch.tensor([x1, y1])
    return uv


def test_targets_match_a_hand_derived_box():
    w = 8  # map width (64 px at stride 8)
    uv = torch.stack([_keypoints(16, 24, 48, 40), _keypoints(19, 22, 51, 38)])[None]
    valid = torch.ones(1, 2, 21, dtype=torch.bool)
    valid[0, 1, 5] = False
    uv[0, 1, 5] = torch.tensor([500.0, -300.0])  # an invalid joint far away must not count
    # centres: (32, 32) px → cell (4, 4); (35, 30) px → (4.375, 3.75) → cell (4, 3)
    ind = torch.tensor([[4 * w + 4, 3 * w + 4]])
    size, offset = detector_targets(uv, valid, ind, w)
    assert torch.allclose(size[0, 0], torch.tensor([math.log(4.0), math.log(2.0)]))
    assert torch.allclose(size[0, 1], torch.tensor([math.log(4.0), math.log(2.0)]))
    assert torch.allclose(offset[0, 0], torch.zeros(2), atol=1e-6)
    assert torch.allclose(offset[0, 1], torch.tensor([0.375, 0.75]), atol=1e-6)


def _net(size=64, **kw) -> HandDetector:
    torch.manual_seed(0)
    return HandDetector("resnet18", size, channels=16, **kw).eval()


def _maps_with_hand(net, cell, offset, size_cells, side_logit=3.0):
    """Raw maps: one confident peak at `cell` (x, y) with the given offset and size."""
    h = w = net.image_size // net.stride
    maps = {"hm": torch.full((1, 1, h, w), -8.0), "size": torch.zeros(1, 2, h, w),
            "offset": torch.zeros(1, 2, h, w), "side": torch.full((1, 1, h, w), -1.0)}
    x, y = cell
    maps["hm"][0, 0, y, x] = 6.0
    maps["offset"][0, :, y, x] = torch.tensor(offset)
    maps["size"][0, :, y, x] = torch.tensor(size_cells).log()
    maps["side"][0, 0, y, x] = side_logit
    return maps


def test_decoding_inverts_the_targets():
    net = _net()
    uv = _keypoints(19, 22, 51, 38)[None, None]
    valid = torch.ones(1, 1, 21, dtype=torch.bool)
    size, offset = detector_targets(uv, valid, torch.tensor([[3 * 8 + 4]]), 8)
    maps = _maps_with_hand(net, (4, 3), offset[0, 0].tolist(), size[0, 0].exp().tolist())
    out = net.decode(maps, max_hands=2, threshold=0.5)
    assert out["keep"].tolist() == [[True, False]]
    assert torch.allclose(out["boxes"][0, 0], torch.tensor([19.0, 22, 51, 38]), atol=1e-4)
    assert out["right"][0, 0] == pytest.approx(torch.sigmoid(torch.tensor(3.0)).item())


def test_loss_terms_vanish_at_the_targets_and_side_is_bce():
    net = _net()
    uv = _keypoints(19, 22, 51, 38)[None, None]
    valid = torch.ones(1, 1, 21, dtype=torch.bool)
    ind = torch.tensor([[3 * 8 + 4]])
    size, offset = detector_targets(uv, valid, ind, 8)
    maps = _maps_with_hand(net, (4, 3), offset[0, 0].tolist(), size[0, 0].exp().tolist(),
                           side_logit=0.0)
    hm = torch.zeros(1, 1, 8, 8)
    hm[0, 0, 3, 4] = 1.0
    net.forward = lambda images: maps  # the terms given known maps
    terms = net.loss(torch.zeros(1, 3, 64, 64), hm=hm, ind=ind, slot=torch.tensor([[True]]),
                     uv=uv, valid=valid, is_right=torch.tensor([[True]]))
    assert terms["size"].item() == pytest.approx(0, abs=1e-6)
    assert terms["offset"].item() == pytest.approx(0, abs=1e-6)
    assert terms["side"].item() == pytest.approx(math.log(2), rel=1e-6)  # logit 0 → BCE ln 2
    # an empty slot contributes nothing, whatever its labels
    terms2 = net.loss(torch.zeros(1, 3, 64, 64), hm=hm, ind=torch.tensor([[3 * 8 + 4, 0]]),
                      slot=torch.tensor([[True, False]]), uv=uv.expand(1, 2, 21, 2) * 3,
                      valid=valid.expand(1, 2, 21), is_right=torch.tensor([[True, False]]))
    assert terms2["side"].item() == pytest.approx(math.log(2), rel=1e-6)


class _FixedDetector(HandDetector):
    """Returns fixed boxes in input pixels: tests the finder's mapping alone."""

    def __init__(self, boxes, scores, right):
        super().__init__("resnet18", 256, channels=8)
        self.fixed = {"boxes": torch.tensor([boxes], dtype=torch.float32),
                      "scores": torch.tensor([scores]), "right": torch.tensor([right]),
                      "keep": torch.tensor([scores]) >= self.threshold}

    def detect(self, images, **kw):
        assert images.shape == (1, 3, 256, 256) and images.dtype == torch.uint8
        return self.fixed


def test_finder_maps_letterboxed_boxes_back_to_the_image(blocky_image):
    # a 200×400 image letterboxes into 256: scale 0.64, 64 px of padding above and below
    net = _FixedDetector([[64, 96, 128, 160], [0, 64, 32, 96]], [0.9, 0.1], [0.8, 0.2])
    image = blocky_image(200, 400)
    boxes = DetectorFinder(net, max_hands=2).find_hands(image)
    assert len(boxes) == 1  # the second scores below the threshold
    assert boxes[0].xyxy == pytest.approx([100, 50, 200, 150])
    assert boxes[0].is_right is True and boxes[0].source == "trained"
    assert DetectorFinder(net).find_hands(np.full((200, 400, 3), 90, np.uint8)) == []


def test_trained_finder_needs_a_checkpoint_and_refuses_other_models(tmp_path):
    with pytest.raises(ValueError, match="detector-ckpt"):
        make_finder("trained")
    from tests.infer._infer_ckpt import tiny_checkpoint  # a fine-tuning checkpoint

    ckpt = tiny_checkpoint(tmp_path / "rn25d.ckpt")
    with pytest.raises(ValueError, match="not a hand detector"):
        load_detector(ckpt)


def test_train_detector_writes_a_checkpoint_the_finder_loads(tmp_path, blocky_image):
    from handkit.data.synth.runner import synthesize
    from handkit.tasks.hand_detector import DetectorConfig, train_detector
    from handkit.utils.config import config_path, load_config

    root = synthesize("multihand", tmp_path / "mh", 4, seed=1, size=128, progress=False)
    cfg = load_config(DetectorConfig, config_path("detector/cpu_synth"), values={
        "model.image_size": 64, "model.options.channels": 8, "data.root": str(root),
        "data.batch_size": 2, "data.num_workers": 0, "trainer.max_epochs": 1,
        "trainer.progress_bar": False})
    ckpt = train_detector(cfg, tmp_path / "run")
    net = load_detector(ckpt)
    assert isinstance(net, HandDetector) and net.image_size == 64
    image = blocky_image(96, 128)
    boxes = make_finder("trained", detector_ckpt=ckpt, threshold=0.0, max_hands=3).find_hands(image)
    assert len(boxes) == 3 and all(b.score is not None for b in boxes)
    assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)
    # predict with the detector and the shipped pose network, both in onnxruntime
    import json

    from PIL import Image

    from handkit.infer.predict import predict

    Image.fromarray(image).save(tmp_path / "photo.png")
    run = predict(tmp_path / "photo.png", out_dir=tmp_path / "pred", detector="trained",
                  detector_ckpt=ckpt, threshold=0.0, runtime="onnx", progress=False)
    assert len(run.results) == 1
    record = json.loads((tmp_path / "pred" / "photo_png.json").read_text())
    assert record["finder"]["name"] == "trained" and record["model"]["runtime"] == "onnx"
    assert record["finder"]["score"] == pytest.approx(boxes[0].score, abs=1e-4)


def test_onnx_detector_gives_torchs_maps_and_runs_in_the_finder(tmp_path, blocky_image):
    from handkit.infer.export import DETECTOR_MAPS, OnnxDetector, export_detector_onnx, onnx_session

    net = _net()
    path = export_detector_onnx(net, tmp_path / "det.onnx")
    session = onnx_session(path)
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = net(x)
    got = session.run(list(DETECTOR_MAPS), {"image": x.numpy()})  # batch 3: the batch is dynamic
    for name, value in zip(DETECTOR_MAPS, got):
        scale = ref[name].abs().max().item()
        assert np.abs(value - ref[name].numpy()).max() <= 1e-4 * max(scale, 1.0), name
    image = blocky_image(80, 64)
    boxes = DetectorFinder(OnnxDetector(net, session), threshold=0.0, max_hands=2).find_hands(image)
    assert len(boxes) == 2 and all(b.source == "trained" for b in boxes)


def test_a_backbone_without_resnet_stages_is_refused():
    with pytest.raises(ValueError, match="the hand detector needs a ResNet"):
        HandDetector("stem4", 64)
