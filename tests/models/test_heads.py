import pytest
import torch
from torch import nn

from handkit.models.heads import MLPHead, SimCLRHead, ZRootRefinementHead


def test_simclr_head_matches_the_official_layout():
    head = SimCLRHead()
    kinds = [type(m) for m in head]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert (head[0].in_features, head[0].out_features) == (2048, 512)
    assert head[0].bias is not None and head[3].bias is None
    assert (head[3].in_features, head[3].out_features) == (512, 128)
    # official checkpoint keys: projection_head.{0,1,3}.*
    assert set(head.state_dict()) == {
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked", "3.weight"}
    assert head(torch.randn(4, 2048)).shape == (4, 128)


def test_zroot_head_keys_match_rn25d_checkpoints():
    head = ZRootRefinementHead()
    assert [type(m) for m in head] == [nn.Linear, nn.BatchNorm1d, nn.LeakyReLU] * 2 + [nn.Linear]
    params = {k for k in head.state_dict() if not k.endswith(("running_mean", "running_var",
                                                               "num_batches_tracked"))}
    assert params == {f"{i}.{p}" for i in (0, 1, 3, 4, 6) for p in ("weight", "bias")}
    assert head[2].negative_slope == 0.01


def test_mlp_head_without_norm_is_a_plain_mlp():
    torch.manual_seed(0)
    head = MLPHead((3, 5, 2), norm=None, activation="relu")
    x = torch.randn(7, 3)
    expected = head[2](torch.relu(head[0](x)))
    torch.testing.assert_close(head(x), expected)
    assert len(head) == 3


def test_mlp_head_rejects_bad_options():
    with pytest.raises(ValueError, match=r"activation: unknown value 'tanh'.*'gelu'"):
        MLPHead((3, 2), activation="tanh")
    with pytest.raises(ValueError, match=r"norm: unknown value 'ln'"):
        MLPHead((3, 2), norm="ln")
    with pytest.raises(ValueError, match="dims"):
        MLPHead((3,))
