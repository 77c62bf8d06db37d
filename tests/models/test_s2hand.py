"""S2HAND's network (models/s2hand.py, models/s2hand_nets.py) at CPU sizes."""

import math
import sys
from pathlib import Path

import pytest
import torch

from handkit.geometry.camera import project
from handkit.hand.model import aa_to_rotmat
from handkit.hand.openhand import OpenHand
from handkit.models.checkpoint import model_config
from handkit.models.prediction import Prediction
from handkit.models.registry import ModelConfig, build_model, create_model, list_models
from handkit.models.s2hand import LOSS_NAMES, S2Hand, S2HandHand, openhand_pca
from handkit.models.s2hand_nets import StackedHourglass, TextureLightHead, integral_uv

sys.path.insert(0, str(Path(__file__).parents[1] / "hand"))  # the fabricated MANO files
from _mano_fixture import mano_arrays, write_mano_pickle  # noqa: E402

SMALL = dict(backbone="mobilenetv3_small_050", image_size=64, hm_feats=16, hm_modules=1)
ALL = dict.fromkeys([n for n in LOSS_NAMES if n != "sil"], 1.0)


def _batch(b=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(b, 3, size, size, generator=g)
    K = torch.tensor([[110.0, 0, size / 2], [0, 110.0, size / 2], [0, 0, 1]]).repeat(b, 1, 1)
    return image, K


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return create_model("s2hand", **SMALL).eval()


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mano")
    write_mano_pickle(root / "MANO_RIGHT.pkl", mano_arrays(0))
    return root


def test_registered_with_its_options_and_contract_attributes(net):
    assert "s2hand" in list_models()
    assert isinstance(net, S2Hand) and net.frame == "camera" and net.unit == "m" and net.uses_K
    assert net.cfg.name == "s2hand" and net.cfg.options["num_pose"] == 30
    assert net.cfg.options["use_mean_shape"] is True and net.cfg.options["mano_dir"] is None
    with pytest.raises(ValueError, match="unknown option"):
        create_model("s2hand", backbone="mobilenetv3_small_050", root="palm")
    with pytest.raises(ValueError, match="backbone"):
        create_model("s2hand", backbone="no_such_timm_net")
    # a checkpoint's plain-data config rebuilds the same model
    cfg = model_config({"name": "s2hand", "backbone": SMALL["backbone"], "image_size": 64,
                        "options": dict(net.cfg.options)})
    assert isinstance(cfg, ModelConfig) and cfg.options == net.cfg.options


def test_shapes_of_every_part(net):
    image, K = _batch()
    with torch.no_grad():
        out = net.run(image, K)
    f = net.hand.num_faces
    assert [tuple(h.shape) for h in out.heatmaps] == [(2, 21, 16, 16)] * 2
    assert [tuple(u.shape) for u in out.hm_uv] == [(2, 21, 2)] * 2
    assert out.pose.shape == (2, 30) and out.shape.shape == (2, 10) and out.shape.eq(0).all()
    assert out.scale.shape == (2, 1) and out.trans.shape == (2, 3) and out.rot.shape == (2, 3)
    assert out.vertices.shape == (2, net.hand.model.num_vertices, 3)
    assert out.joints.shape == (2, 21, 3) and out.j2d.shape == (2, 21, 2)
    assert out.prior_pose.shape == (2, 16, 3)
    assert out.textures.shape == (2, f, 3) and out.lights.shape == (2, 11)
    assert out.rgb.shape == (2, 64, 64, 3) and out.depth.shape == (2, 64, 64)
    assert out.silhouette.shape == (2, 64, 64)
    # the official initialisation: |s| ≈ 0.95, t ≈ (0, 0, 0.65) m, lights' last layer ≈ mean 1
    assert out.scale.abs().sub(0.95).abs().max() < 0.01
    assert out.trans[:, 2].sub(0.65).abs().max() < 0.01


def test_camera_is_full_perspective_with_K_and_the_render_agrees(net):
    image, K = _batch()
    K[1, 0, 0], K[1, 0, 2] = 150.0, 30.0  # per-image intrinsics are honoured
    with torch.no_grad():
        out = net.run(image, K)
        geo = net.hand(out.pose, out.shape, out.rot)
    cam = out.trans[:, None] + out.scale.abs()[:, :, None] * geo.joints  # X_cam = t + |s| X
    assert torch.allclose(out.joints, cam, atol=1e-6)
    assert torch.allclose(out.j2d, project(out.joints, K), atol=1e-4)
    # every projected vertex that lands inside the image lies on the rendered silhouette
    uv = project(out.vertices, K)
    for b in range(2):
        inside = ((uv[b] > 0.5) & (uv[b] < 63.5)).all(-1)
        cols, rows = uv[b, inside].floor().long().unbind(-1)
        assert inside.sum() > 50 and (out.silhouette[b, rows, cols] > 0).all()
    # depth is the camera z where covered, 0 (neural_renderer's zeroed far value) elsewhere
    covered = out.silhouette > 0.99
    assert out.depth[covered].min() > 0.3 and out.depth[out.silhouette == 0].abs().max() == 0


def test_integral_keypoints_are_the_expected_pixel_centres():
    hm = torch.full((1, 2, 8, 8), -50.0)
    hm[0, 0, 3, 5] = 50.0  # a peak at row 3, column 5: centre (5.5, 3.5) in handkit pixels
    hm[0, 1] = 0.0  # flat: the mean index 3.5 → 4.0, the image centre
    uv = integral_uv(hm, 8)
    assert uv[0, 0].tolist() == pytest.approx([5.5, 3.5], abs=1e-6)
    assert uv[0, 1].tolist() == pytest.approx([4.0, 4.0], abs=1e-6)
    # upsampled with align_corners=True: cell (3, 5) of 8 sits at index 5·(15/7) of 16
    up = integral_uv(hm[:, :1], 16)
    assert up[0, 0, 0] == pytest.approx(5 * 15 / 7 + 0.5, abs=0.3)


def test_hourglass_input_is_padded_right_bottom_to_a_multiple_of_64():
    hg = StackedHourglass(21, 2, 1, 16)
    with pytest.raises(ValueError, match="multiples of 64"):
        hg(torch.zeros(1, 3, 96, 96))
    net = create_model("s2hand", **{**SMALL, "image_size": 96})
    heatmaps, uv = net.run_heatmaps(torch.rand(1, 3, 96, 96))
    assert heatmaps[0].shape == (1, 21, 32, 32) and uv[0].shape == (1, 21, 2)


def test_texture_head_layout_and_initialisation():
    head = TextureLightHead(32, 1538)
    tex, light = head(torch.rand(3, 32, 56, 56))
    assert tex.shape == (3, 1538, 3) and light.shape == (3, 11)
    # offsets start within ~1e-3 of the mean colour (200, 150, 150) / 256
    assert (tex - torch.tensor([200, 150, 150]) / 256).abs().max() < 0.01
    assert head.base(torch.zeros(1, 32, 56, 56)).flatten(1).shape == (1, 256)


def test_gradients_reach_every_head():
    torch.manual_seed(1)
    net = create_model("s2hand", **SMALL, use_mean_shape=False).train()
    image, K = _batch(seed=2)
    with torch.no_grad():
        det = net.run(image, K, heatmaps=False, texture=False, rendering=False).j2d + 4.0
    out = net.loss(image, uv=det, K=K, valid=torch.ones(2, 21), weights=ALL)
    assert out["loss"] is not None and torch.isfinite(out["loss"])
    out["loss"].backward()
    for name, module in [("hourglass.stem", net.hourglass.stem), ("encoder", net.encoder),
                         ("pose", net.decoder.pose), ("shape", net.decoder.shape),
                         ("scale", net.decoder.scale), ("trans", net.decoder.trans),
                         ("rot", net.decoder.rot), ("texture", net.texture_light.texture),
                         ("light", net.texture_light.light)]:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0, name


def test_stage_parts_run_only_what_the_listed_losses_need(net):
    image, K = _batch()
    det = torch.full((2, 21, 2), 32.0)
    kp = net.loss(image, uv=det, K=K, valid=torch.ones(2, 21), weights={"hm_integral": 1e-3})
    assert set(kp) == {"loss", "skipped_samples", "hm_integral"}
    # SSL-shape's terms need no heat-maps and no rendering: a stand-in hourglass that fails
    # proves it is never called
    class Boom(torch.nn.Module):
        multiple = 64

        def forward(self, x):
            raise AssertionError("hourglass ran")
    saved = net.hourglass
    net.hourglass = Boom()
    try:
        shape = net.loss(image, uv=det, K=K, valid=torch.ones(2, 21),
                         weights={"open_2dj": 1e-3, "mscale": 0.1, "tsa_poses": 0.1,
                                  "open_bone_direc": 0.1})
    finally:
        net.hourglass = saved
    assert "open_2dj" in shape and shape["loss"] is not None
    with pytest.raises(ValueError, match="unknown term"):
        net.loss(image, uv=det, K=K, valid=torch.ones(2, 21), weights={"open2dj": 1.0})


def test_missing_detections_are_masked_and_empty_samples_skipped(net):
    image, K = _batch()
    det = torch.full((2, 21, 2), 30.0)
    det[0, :5] = float("nan")
    det[1] = float("nan")
    conf = torch.ones(2, 21)
    out = net.loss(image, uv=det, K=K, valid=conf, weights={"open_2dj": 1e-3, "hm_integral": 1e-3})
    assert int(out["skipped_samples"]) == 1 and torch.isfinite(out["loss"])
    none = net.loss(image, uv=torch.full_like(det, float("nan")), K=K, valid=conf,
                    weights={"open_2dj": 1e-3})
    assert none["loss"] is None and int(none["skipped_samples"]) == 2


def test_predict_returns_the_mesh_in_meters_camera_frame(net):
    image, K = _batch()
    pred = net.predict(image, K)
    assert isinstance(pred, Prediction) and len(pred) == 2 and pred.faces is net.faces
    hand = pred.hands[0][0]
    assert hand.unit == "m" and hand.frame == "camera" and hand.is_right
    assert hand.vertices.shape == (net.hand.model.num_vertices, 3)
    assert hand.extras["hm_uv"].shape == (21, 2) and hand.extras["pose"].shape == (30,)
    uv, xyz = net(image, K)
    assert torch.allclose(uv[0], hand.uv) and torch.allclose(xyz[0], hand.xyz)


def test_state_dict_round_trip_through_the_config(net):
    again = build_model(net.cfg)
    again.load_state_dict(net.state_dict())
    image, K = _batch()
    a, b = net(image, K), again.eval()(image, K)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not any("hand.model" in k for k in net.state_dict())  # hand models are not saved


def test_openhand_follows_s2hands_root_convention():
    hand = S2HandHand(None, 30)
    g = torch.Generator().manual_seed(3)
    pose = torch.randn(2, 30, generator=g) * 0.5
    rot = torch.randn(2, 3, generator=g)
    geo = hand(pose, torch.zeros(2, 10), rot)
    base = hand(pose, torch.zeros(2, 10), torch.zeros(2, 3))
    R = aa_to_rotmat(rot)
    assert torch.allclose(geo.joints, base.joints @ R.transpose(1, 2), atol=1e-5)
    mean, comps = openhand_pca()
    finger = (mean.float() + pose @ comps[:30].float()).reshape(2, 15, 3)
    ref = OpenHand()(torch.tensor([[math.pi, 0.0, 0.0]] * 2), finger)
    assert torch.allclose(base.vertices, ref.vertices, atol=1e-5)
    assert torch.allclose(geo.prior_pose[:, 0], torch.tensor([math.pi, 0.0, 0.0]).expand(2, 3))
    assert hand.bone_m == pytest.approx(0.045, abs=1e-4)
    # the PCA basis: orthogonal rows, scaled by decreasing standard deviations
    gram = comps @ comps.T
    assert torch.allclose(gram, torch.diag(torch.diag(gram)), atol=1e-8)
    assert (torch.diag(gram)[:-1] >= torch.diag(gram)[1:] - 1e-12).all()


def test_mano_from_the_environment_and_a_checkpoint_from_another_machine(mano_dir, tmp_path,
                                                                         monkeypatch):
    from handkit.hand.mano_file import MANO_ENV, ManoFileError
    from handkit.models.checkpoint import load_model

    monkeypatch.delenv(MANO_ENV, raising=False)
    with pytest.raises(ManoFileError, match=MANO_ENV):  # MANO asked for, no folder anywhere
        create_model("s2hand", **SMALL, hand_model="mano")
    with pytest.raises(ValueError, match="hand_model"):
        create_model("s2hand", **SMALL, hand_model="openhand", mano_dir=str(mano_dir))
    monkeypatch.setenv(MANO_ENV, str(mano_dir))
    assert create_model("s2hand", **SMALL).hand.kind == "openhand"  # the default stays
    net = create_model("s2hand", **SMALL, hand_model="mano").eval()  # from HANDKIT_MANO_DIR
    assert net.hand.kind == "mano" and net.hand.num_faces == 1538
    # a checkpoint that recorded a folder of another machine loads with the variable's folder
    options = {**net.cfg.options, "mano_dir": "/nowhere/mano_v1_2"}
    ckpt = tmp_path / "s2hand.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "hyper_parameters": {"config": {"model": {
                    "name": "s2hand", "backbone": net.cfg.backbone,
                    "image_size": net.cfg.image_size, "options": options}}}}, ckpt)
    with pytest.warns(UserWarning, match=r"/nowhere/mano_v1_2 .*not a folder here; using "
                                         + MANO_ENV):
        loaded = load_model(ckpt)[0]
    image, K = _batch()
    with torch.no_grad():
        assert torch.equal(loaded.run(image, K, rendering=False).vertices,
                           net.run(image, K, rendering=False).vertices)
    monkeypatch.delenv(MANO_ENV)
    with pytest.raises(ManoFileError, match=r"/nowhere/mano_v1_2 .*not a folder on this "
                                            rf"machine and {MANO_ENV} is not set"):
        load_model(ckpt)


def test_mano_drops_in_with_the_same_code(mano_dir):
    net = create_model("s2hand", **SMALL, mano_dir=str(mano_dir))
    assert net.hand.kind == "mano" and net.hand.num_faces == 1538
    assert net.hand.bone_m == 0.0282
    image, K = _batch()
    with torch.no_grad():
        out = net.run(image, K)
    assert out.vertices.shape == (2, 778, 3) and out.textures.shape == (2, 1538, 3)
    # S2HAND's tsa_poses input: the full skinning pose, root (π, 0, 0) first
    assert torch.allclose(out.prior_pose[:, 0], torch.tensor([math.pi, 0.0, 0.0]).expand(2, 3))
    geo = net.hand(out.pose, out.shape, out.rot)
    direct = net.hand.model.forward_mano(out.rot, finger_pca=out.pose, shape=out.shape)
    assert torch.allclose(geo.joints, direct.joints)
    res = net.loss(image, uv=out.j2d + 3, K=K, valid=torch.ones(2, 21), weights=ALL)
    assert torch.isfinite(res["loss"])
