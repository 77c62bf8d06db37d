"""Speed options of the pre-training task leave the loss unchanged (channels_last, bf16, compile)."""

import pytest
import torch

from handkit.data.augment import AugmentConfig
from handkit.tasks.pretrain import LossConfig, PretrainConfig, build_task


def _task(**overrides):
    cfg = PretrainConfig(**{"method": "peclr", "encoder": "resnet18", "channels_last": False,
                            "loss": LossConfig(weighting="linear"),
                            "augment": AugmentConfig(output_size=(64, 64)), **overrides})
    torch.manual_seed(0)
    return build_task(cfg)


def _loss_and_grads(task, batch, bf16=False):
    task.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = task.training_step(batch, 0)
    loss.backward()
    return loss.detach(), torch.cat([p.grad.flatten() for p in task.parameters()
                                     if p.grad is not None])


def test_augmentation_and_loss_stay_fp32_under_bf16_autocast(monkeypatch, pair_batch):
    """With a network free of autocast ops, bf16-mixed must give bit-identical loss: the
    augmentation and the loss maths (normalise, PeCLR rotation matmul, similarity matmul) run
    with autocast off. Fails if any of them runs in bf16."""
    task = _task()
    weights = torch.randn(1024, 128, generator=torch.Generator().manual_seed(1))

    def network(images):  # elementwise only: autocast leaves it fp32
        return (images.flatten(1)[:, :1024, None] * weights).sum(1) / 100

    monkeypatch.setattr(task, "_network", network)
    batch = pair_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = task.training_step(batch, 0)
    plain = task.training_step(batch, 0)
    assert mixed.dtype == torch.float32
    assert torch.equal(mixed, plain)


def test_bf16_network_keeps_loss_and_gradient_close_to_fp32(pair_batch):
    """Loss within 2e-3 relative; the gradient only within cos > 0.8: at random init the
    contrastive gradient is so sensitive that 1e-3 noise on the fp32 input already moves it by
    ~25% (benchmarks/pretrain_speed.py prints that floor), and bf16 rounds at 4e-3."""
    batch = pair_batch()
    ref_loss, ref_grad = _loss_and_grads(_task(), batch)
    loss, grad = _loss_and_grads(_task(), batch, bf16=True)
    assert abs(float(loss - ref_loss)) <= 2e-3 * abs(float(ref_loss))
    assert float(torch.nn.functional.cosine_similarity(grad, ref_grad, dim=0)) > 0.8
    assert not torch.equal(grad, ref_grad)  # bf16 did run


def test_channels_last_gives_the_fp32_loss_and_gradient(pair_batch):
    batch = pair_batch()
    ref_loss, ref_grad = _loss_and_grads(_task(), batch)
    loss, grad = _loss_and_grads(_task(channels_last=True), batch)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=0)
    assert float((grad - ref_grad).norm() / ref_grad.norm()) < 1e-2  # see the bf16 test


@pytest.mark.slow
def test_compile_gives_the_eager_loss_and_keeps_state_dict_keys(pair_batch):
    batch = pair_batch()
    eager = _task()
    ref_loss, ref_grad = _loss_and_grads(eager, batch)
    compiled = _task(compile=True)
    loss, grad = _loss_and_grads(compiled, batch)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=0)
    assert float((grad - ref_grad).norm() / ref_grad.norm()) < 1e-2  # see the bf16 test
    assert "_compiled" in compiled.__dict__  # the compiled path was taken
    assert list(compiled.state_dict()) == list(eager.state_dict())
