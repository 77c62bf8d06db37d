"""Fidelity fixes of the pre-training task against hand-derived cases (specs/pretrain.md)."""

import torch

from handkit.data.augment import AugmentConfig
from handkit.tasks.pretrain import LossConfig, PretrainConfig, build_task


def _task(**loss):
    cfg = PretrainConfig(method="simhand", encoder="resnet18", channels_last=False,
                         loss=LossConfig(weighting="linear", **loss),
                         augment=AugmentConfig(output_size=(64, 64)))
    torch.manual_seed(0)
    return build_task(cfg)


def _joints_seen(task, batch):
    seen = []
    criterion = task.criterion.forward

    def record(z1, z2, joints1, joints2):
        seen.append((joints1, joints2))
        return criterion(z1, z2, joints1, joints2)

    task.criterion.forward = record
    task.training_step(batch, 0)
    return seen


def test_fixed_original_joints_are_the_unaugmented_keypoints_rescaled_to_the_view(pair_batch):
    """96-px loader images, 64-px views: the weights see keypoints · 64/96, not augmented."""
    batch = pair_batch()
    seen = _joints_seen(_task(joints_type="original", fix_joints_type=True), batch)
    (j1, j2), = seen
    assert torch.allclose(j1, batch["keypoints1"] * (64 / 96), atol=1e-5)
    assert torch.allclose(j2, batch["keypoints2"] * (64 / 96), atol=1e-5)


def test_official_original_joints_type_stays_dead(pair_batch):
    """Without the fix, "original" gives the augmented keypoints (official `is` bug, §1.6.3)."""
    batch = pair_batch()
    (official, _), = _joints_seen(_task(joints_type="original"), batch)
    (augmented, _), = _joints_seen(_task(joints_type="augmented"), batch)
    assert torch.equal(official, augmented)
    assert not torch.allclose(official, batch["keypoints1"] * (64 / 96), atol=1.0)


def test_chunks_go_through_the_network_and_the_loss_separately(pair_batch):
    """8 pairs in chunks of 3: the network sees both views of 3, 3 and 2 pairs (BN statistics
    per chunk) and the loss is the equal-weight mean of the three chunk losses."""
    task = _task(loss_chunk_size=3)
    sizes, losses = [], []
    network, criterion = task._network, task.criterion.forward

    def network_spy(images):
        sizes.append(images.shape[0])
        return network(images)

    def criterion_spy(*args):
        losses.append(criterion(*args))
        return losses[-1]

    task._network, task.criterion.forward = network_spy, criterion_spy
    loss = task.training_step(pair_batch(), 0)
    assert sizes == [6, 6, 4]
    assert torch.allclose(loss, sum(losses) / 3, rtol=1e-6)
