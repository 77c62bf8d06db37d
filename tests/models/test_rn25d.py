"""RN_25D_wMLPref: official keys, official forward maths, hand-computed 2.5D → 3D."""

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from handkit.geometry.pose25d import from_25d, root_depth
from handkit.losses.keypoints import l1_25d_loss, l1_3d_loss
from handkit.models.rn25d import K_DEFAULT, RN25D

# FreiHAND (= handkit) index of AIT joint i, specs/pretrain.md §4.3 (written out, not imported).
_FH_OF_AIT = [0, 1, 5, 9, 13, 17, 2, 6, 10, 14, 18, 3, 7, 11, 15, 19, 4, 8, 12, 16, 20]


class _Official(nn.Module):
    """The official module layout (dahiyaaneesh/peclr src/models/rn_25D_wMLPref.py), ResNet-18."""

    def __init__(self):
        super().__init__()
        self.backend_model = torchvision.models.resnet18(weights=None)
        self.backend_model.fc = nn.Linear(512, 64)
        self.zroot_ref = nn.Module()
        self.zroot_ref.zroot_ref = nn.Sequential(
            nn.Linear(64, 128), nn.BatchNorm1d(128), nn.LeakyReLU(),
            nn.Linear(128, 128), nn.BatchNorm1d(128), nn.LeakyReLU(), nn.Linear(128, 1))

    def head(self, out, K):
        """The official forward after the backbone, transcribed from the spec/source."""
        kp25d = out[:, :-1].reshape(-1, 21, 3).clone()
        kp25d[:, 0, 2] = 0
        kp2d, zrel = kp25d[..., :2], kp25d[..., 2:3]
        kp2d_h = torch.cat((kp2d, torch.ones(kp2d.shape[0], 21, 1)), dim=2)
        ray = torch.matmul(kp2d_h, K.inverse().transpose(1, 2))
        m, n, eps = 3, 8, torch.tensor(1e-8)
        Xm, Ym, Xn, Yn = ray[:, m:m + 1, 0:1], ray[:, m:m + 1, 1:2], ray[:, n:n + 1, 0:1], ray[:, n:n + 1, 1:2]
        zm, zn = zrel[:, m:m + 1], zrel[:, n:n + 1]
        a = (Xn - Xm) ** 2 + (Yn - Ym) ** 2
        b = 2 * (zn * (Xn**2 + Yn**2 - Xn * Xm - Yn * Ym) + zm * (Xm**2 + Ym**2 - Xn * Xm - Yn * Ym))
        c = (Xn * zn - Xm * zm) ** 2 + (Yn * zn - Ym * zm) ** 2 + (zn - zm) ** 2 - 1
        d = torch.max(eps, b**2 - 4 * a * c)
        zroot = ((-b + torch.sqrt(d)) / (2 * torch.max(eps, a))).detach().clamp(4.0, 50.0)
        mlp_in = torch.cat((zrel.reshape(-1, 21), ray[..., :2].reshape(-1, 42), zroot.reshape(-1, 1)), 1)
        zroot = zroot + self.zroot_ref.zroot_ref(mlp_in).reshape(zroot.shape)
        return ray * (zrel + zroot), zroot.reshape(-1)


def _hand_m():
    """A right hand in handkit order, meters, camera frame, ~0.5 m away (hand-made)."""
    wrist = np.array([0.01, 0.03, 0.50])
    bases = [(-0.03, -0.02, 0.005), (-0.02, -0.07, 0.0), (0.0, -0.075, 0.004),
             (0.018, -0.07, 0.008), (0.033, -0.06, 0.012)]
    pts = [wrist]
    for f, base in enumerate(bases):
        direction = np.array([base[0] * 0.3, -0.028 + 0.002 * f, -0.004 * (f - 2)])
        for k in range(4):
            pts.append(wrist + np.array(base) + k * direction)
    return np.stack(pts)


def _hand_25d(xyz):
    """uv, z_rel by hand (palm at slot 0, bone middle MCP (9) - PIP (10)), K_DEFAULT."""
    K = np.array(K_DEFAULT)
    pts = xyz.copy()
    pts[0] = 0.5 * (xyz[0] + xyz[9])
    scale = np.linalg.norm(xyz[10] - xyz[9])
    uv = np.stack([K[0, 0] * pts[:, 0] / pts[:, 2] + K[0, 2],
                   K[1, 1] * pts[:, 1] / pts[:, 2] + K[1, 2]], 1)
    z_rel = (pts[:, 2] - pts[0, 2]) / scale
    return uv, z_rel, scale, pts[0, 2]


def _raw(uv, z_rel):
    ait = np.concatenate([uv, z_rel[:, None]], 1)[_FH_OF_AIT]
    return torch.tensor(np.append(ait.reshape(-1), 0.0), dtype=torch.float32)[None]


def test_state_dict_keys_match_the_official_model():
    ours = RN25D("resnet18").state_dict()
    official = _Official().state_dict()
    assert set(ours) == set(official)
    assert all(ours[k].shape == official[k].shape for k in ours)
    rn50 = RN25D("resnet50")
    assert set(rn50.state_dict()) >= {"backend_model.fc.weight", "zroot_ref.zroot_ref.6.bias"}
    assert rn50.backend_model.fc.weight.shape == (64, 2048)


def test_forward_equals_the_official_maths_and_loads_its_checkpoint(tmp_path):
    torch.manual_seed(0)
    official = _Official().eval()
    with torch.no_grad():  # make BN stats non-trivial
        for m in official.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    torch.save({"state_dict": official.state_dict(), "epoch": 3}, tmp_path / "rn18_ft.pth")
    model = RN25D("resnet18").eval()
    model.load_checkpoint(tmp_path / "rn18_ft.pth")
    uv, z_rel, _, _ = _hand_25d(_hand_m())
    raw = _raw(uv, z_rel) + 0.5 * torch.randn(1, 64)
    raw = torch.cat([raw, raw + torch.randn(1, 64)], 0)
    K = torch.tensor(K_DEFAULT)
    kp3d_ait, zroot = official.head(raw, K[None])
    out = model.decode(raw, K)
    expected = kp3d_ait[:, np.argsort(_FH_OF_AIT)]  # AIT → handkit
    expected[:, 0] = 2 * expected[:, 0] - expected[:, 9]  # palm → wrist (middle MCP)
    torch.testing.assert_close(out.xyz, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.z_root, zroot)
    # whole network: same image in, same 3D out
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        kp_ref, _ = official.head(official.backend_model(img), K[None])
        kp_ref = kp_ref[:, np.argsort(_FH_OF_AIT)]
        kp_ref[:, 0] = 2 * kp_ref[:, 0] - kp_ref[:, 9]
        torch.testing.assert_close(model(img).xyz, kp_ref, rtol=1e-4, atol=1e-4)


def test_hand_computed_reconstruction_in_bone_units():
    xyz = _hand_m()
    uv, z_rel, scale, z_palm = _hand_25d(xyz)
    model = RN25D("resnet18").eval()
    with torch.no_grad():
        model.zroot_ref.zroot_ref[6].weight.zero_()
        model.zroot_ref.zroot_ref[6].bias.zero_()
    out = model.decode(_raw(uv, z_rel))  # K defaults to K_DEFAULT
    assert 4 < z_palm / scale < 50
    torch.testing.assert_close(out.z_root_analytic, torch.tensor([z_palm / scale], dtype=torch.float32),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.xyz[0] * scale, torch.tensor(xyz, dtype=torch.float32),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.uv[0], torch.tensor(uv, dtype=torch.float32))
    assert out.z_rel[0, 0] == 0 and out.kp25d_ait[0, 0, 2] == 0


def test_reconstruction_agrees_with_geometry_pose25d():
    torch.manual_seed(1)
    uv, z_rel, _, _ = _hand_25d(_hand_m())
    raw = _raw(uv, z_rel).repeat(3, 1) + 0.3 * torch.randn(3, 64)
    model = RN25D("resnet18").eval()
    K = torch.tensor(K_DEFAULT).expand(3, 3, 3) * torch.tensor([1.0, 1.1, 0.9])[:, None, None]
    K = K.clone()
    K[:, 2, 2] = 1
    out = model.decode(raw, K)
    torch.testing.assert_close(out.z_root_analytic, root_depth(out.uv, out.z_rel, K, convention="rn25d"))
    torch.testing.assert_close(out.xyz, from_25d(out.uv, out.z_rel, K, root_depth=out.z_root,
                                                 convention="rn25d"))


def test_encoder_init_from_a_torchvision_release_file(tmp_path):
    tv = torchvision.models.resnet18(weights=None)
    torch.save({"state_dict": tv.state_dict()}, tmp_path / "peclr_rn18.pth")
    model = RN25D("resnet18")
    fc_before = model.backend_model.fc.weight.clone()
    report = model.load_encoder(tmp_path / "peclr_rn18.pth")
    assert report.loaded == len(tv.state_dict()) - 2
    assert torch.equal(model.backend_model.layer4[1].conv2.weight, tv.layer4[1].conv2.weight)
    assert torch.equal(model.backend_model.fc.weight, fc_before)


def test_bad_inputs_are_named():
    model = RN25D("resnet18")
    with pytest.raises(ValueError, match="backbone: unknown value 'vgg16'"):
        RN25D("vgg16")
    with pytest.raises(ValueError, match=r"img: expected \(B, 3, H, W\)"):
        model(torch.zeros(1, 64, 64))
    with pytest.raises(ValueError, match=r"raw: expected \(B, 64\)"):
        model.decode(torch.zeros(2, 63))


@pytest.mark.parametrize("term", ["uv", "z", "xyz"])
def test_each_loss_term_trains_every_part(term, monkeypatch, assert_descends):
    """Each term's gradient reaches the network and a small step along it lowers that term.

    What is guaranteed (unlike "a few Adam steps lower the loss", which depends on the BLAS
    path): for a step -eps * g / |g| the loss changes by -eps * |g| + O(eps^2). In float64 with
    a parameter step of norm 1e-7 the second-order term is negligible, so the decrease must be
    close to the first-order prediction. The analytic root depth is detached by design (as the
    official code), so the xyz term's gradient is that of the loss with the analytic Z_root held
    at its value: the step is checked on that function.
    """
    torch.manual_seed(0)
    model = RN25D("resnet18").double().eval()  # eval: BatchNorm is a fixed affine map
    img = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    K = torch.tensor([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]], dtype=torch.float64)
    xyz = torch.tensor(_hand_m(), dtype=torch.float64)
    scale = float((xyz[10] - xyz[9]).norm())
    pts = xyz.clone()
    pts[0] = 0.5 * (xyz[0] + xyz[9])
    uv_gt = ((pts @ K.T)[:, :2] / pts[:, 2:]).expand(2, 21, 2)
    z_gt = ((pts[:, 2] - pts[0, 2]) / scale).expand(2, 21)
    xyz_gt = (xyz / scale).expand(2, 21, 3)

    def loss():
        out = model(img, K)
        terms = l1_25d_loss(out.uv, out.z_rel, uv_gt, z_gt)
        return {"uv": terms.uv, "z": terms.z, "xyz": l1_3d_loss(out.xyz, xyz_gt)}[term]

    if term == "xyz":
        frozen = model(img, K).z_root_analytic.detach()
        before = float(loss())
        monkeypatch.setattr("handkit.models.rn25d.root_depth", lambda *a, **k: frozen)
        assert float(loss()) == before  # the patch changes nothing at this point
    assert_descends(loss, model.parameters())
