import pytest
import torch

from handkit.data.sampling import BalancedResampler


def test_same_epoch_same_draw_and_new_epoch_new_draw():
    a, b = BalancedResampler([10, 30], seed=1), BalancedResampler([10, 30], seed=1)
    assert list(a) == list(b) and len(list(a)) == 40
    a.set_epoch(1)
    assert list(a) != list(b)


def test_sources_are_balanced_not_proportional():
    sampler = BalancedResampler([100, 900], num_samples=20000, seed=0)
    draws = torch.tensor(list(sampler))
    share_small = (draws < 100).float().mean().item()
    assert share_small == pytest.approx(0.5, abs=0.02)  # 0.1 if it were proportional


def test_ranks_partition_one_global_draw():
    full = list(BalancedResampler([7, 5], num_samples=25, seed=3))
    parts = [list(BalancedResampler([7, 5], num_samples=25, seed=3, rank=r, world_size=2))
             for r in range(2)]
    assert parts[0] == full[0::2] and parts[1] == full[1::2]
    assert len(parts[0]) + len(parts[1]) == 25


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="source_sizes"):
        BalancedResampler([3, 0])
    with pytest.raises(ValueError, match="rank 2"):
        BalancedResampler([3], rank=2, world_size=2)

