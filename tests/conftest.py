import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Two pytest-xdist workers on two cores: one torch thread each, or they fight for the cores.
torch.set_num_threads(1)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)
