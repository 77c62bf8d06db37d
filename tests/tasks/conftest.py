import lightning as L
import pytest
import torch


def _pair_batch(pairs: int = 8, size: int = 96, seed: int = 0) -> dict:
    """A pre-training batch of random uint8 images (pairs, 3, size, size) with keypoints in
    the middle half; view 2 is view 1 in reverse order."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (pairs, 3, size, size), generator=g, dtype=torch.uint8)
    kp = size / 2 + (torch.rand(pairs, 21, 2, generator=g) - 0.5) * size / 2
    return {"image1": images, "keypoints1": kp, "image2": images.flip(0), "keypoints2": kp.flip(0)}


@pytest.fixture
def pair_batch():
    """`pair_batch(pairs=8, size=96, seed=0)` builds a random pre-training batch."""
    return _pair_batch


class _StopAfterFirstEpoch(L.Callback):
    """Simulates a kill at the end of epoch 0 (its checkpoint is written first)."""

    def on_train_epoch_end(self, trainer, module):
        trainer.should_stop = True


@pytest.fixture
def stop_after_first_epoch():
    """A Lightning callback that ends the run after epoch 0, as a kill would."""
    return _StopAfterFirstEpoch()
