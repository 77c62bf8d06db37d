"""Optimisation of the contrastive pre-training (specs/pretrain.md §1.7).

The official recipe is Adam wrapped in pl_bolts' `LARSWrapper` (η = 0.02, clip), with weight
decay 1e-6 on every parameter whose *official* name lacks "bias" and "bn", a base LR of
`lr · sqrt(lr_batch · accumulate)` and `LinearWarmupCosineAnnealingLR` stepped per optimiser step.
pl_bolts is not a dependency (it pins an old Lightning), so the two pieces are re-written here
from their closed forms and tested against them.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch import nn

__all__ = ["LARS", "official_pretrain_name", "weight_decay_groups", "warmup_cosine_factor", "scaled_base_lr"]


def official_pretrain_name(name: str) -> str:
    """A pre-training task's parameter name as the official code spells it (spec §1.1, §1.2).

    The official encoder re-wraps torchvision's ResNet as `features = Sequential(conv1, bn1,
    relu, maxpool, layer1..layer4, avgpool)` and the task calls its head `projection_head`:
    `encoder.conv1.` → `encoder.features.0.`, `encoder.bn1.` → `encoder.features.1.`,
    `encoder.layerK.` → `encoder.features.{K+3}.`, `head.` → `projection_head.`; every other
    name is returned unchanged (the official code has no other encoders).
    """
    for prefix, official in _OFFICIAL_PREFIXES:
        if name.startswith(prefix):
            return official + name[len(prefix):]
    return name


_OFFICIAL_PREFIXES = (("encoder.conv1.", "encoder.features.0."),
                      ("encoder.bn1.", "encoder.features.1."),
                      *((f"encoder.layer{k}.", f"encoder.features.{k + 3}.") for k in range(1, 5)),
                      ("head.", "projection_head."))


def weight_decay_groups(model: nn.Module, weight_decay: float, *,
                        rename: Callable[[str], str] = official_pretrain_name) -> list[dict]:
    """Two parameter groups: decayed, and exempt (`rename(name)` contains "bias" or "bn").

    Convention: the official `exclude_from_wt_decay` matches substrings of the names of ITS
    modules (spec §1.7), so `rename` first maps handkit's names to those. The result, for a
    torchvision ResNet + SimCLR head: every bias and the BNs inside residual blocks
    (`layerK.B.bnI`) are exempt; the stem BN (`bn1` = `features.1`), the downsample BNs
    (`downsample.1`) and the head BN (`head.1`) have no "bn" in their official names, so their
    scales ARE decayed, as the papers trained. `rename=lambda n: n` applies the rule to
    handkit's own names.
    """
    decay, exempt = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        official = rename(name)
        (exempt if ("bias" in official or "bn" in official) else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": exempt, "weight_decay": 0.0}]


def scaled_base_lr(lr: float, lr_batch: int, accumulate: int = 1) -> float:
    """`lr · sqrt(lr_batch · accumulate)`: PeCLR passes its batch size as `lr_batch`, SiMHand a
    hard-coded 1024 (specs/pretrain.md §1.7)."""
    if lr <= 0 or lr_batch <= 0 or accumulate <= 0:
        raise ValueError(f"lr, lr_batch, accumulate must be > 0, got {lr}, {lr_batch}, {accumulate}.")
    return lr * math.sqrt(lr_batch * accumulate)


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier of pl_bolts `LinearWarmupCosineAnnealingLR(warmup_start_lr=0, eta_min=0)`.

    `step / (warmup_steps − 1)` while `step < warmup_steps` (it reaches 1 one step early: the
    library's quirk), then `½ (1 + cos(π (step − warmup) / (total − warmup)))`; past `total` the
    cosine rises again, as in the library. With `warmup_steps ≤ 1` there is no warm-up.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be > 0, got {total_steps}.")
    if step < warmup_steps and warmup_steps > 1:
        return step / (warmup_steps - 1)
    span = max(total_steps - max(warmup_steps, 0), 1)
    return 0.5 * (1.0 + math.cos(math.pi * (step - max(warmup_steps, 0)) / span))


class LARS(torch.optim.Optimizer):
    """pl_bolts `LARSWrapper` around any optimiser (η‖p‖ / (‖g‖ + wd‖p‖ + eps), clipped).

    Before each inner step, for every parameter with ‖p‖ ≠ 0 and ‖g‖ ≠ 0:
    `r = η‖p‖ / (‖g‖ + wd‖p‖ + eps)`, `r ← min(r / lr, 1)` if `clip`, `g ← (g + wd·p) · r`;
    the inner optimiser then runs with its own weight decay set to 0 (restored afterwards).

    Args:
        optimizer: the wrapped optimiser (official: Adam); its param groups are shared.
        eta: trust coefficient, 0.02 officially.
        clip: clip the adaptive rate at the group LR (official: True).
        eps: 1e-8 officially.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, eta: float = 0.02, clip: bool = True,
                 eps: float = 1e-8):
        if eta <= 0:
            raise ValueError(f"eta must be > 0, got {eta}.")
        self.optimizer = optimizer
        self.eta, self.clip, self.eps = eta, clip, eps
        self.defaults = optimizer.defaults
        self._optimizer_step_pre_hooks = {}
        self._optimizer_step_post_hooks = {}

    # Properties, not copies: `load_state_dict` replaces the inner optimiser's group objects, and
    # an LR scheduler writing to a stale copy would silently stop reaching it after a resume.
    @property
    def param_groups(self) -> list[dict]:
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    def __getstate__(self):
        return self.__dict__

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict):
        self.optimizer.load_state_dict(state_dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        saved = []
        for group in self.param_groups:
            weight_decay = group.get("weight_decay", 0.0)
            saved.append(weight_decay)
            group["weight_decay"] = 0.0
            for p in _with_grad(group["params"]):
                p_norm, g_norm = p.norm(), p.grad.norm()
                if p_norm == 0 or g_norm == 0:
                    continue
                rate = self.eta * p_norm / (g_norm + weight_decay * p_norm + self.eps)
                if self.clip:
                    rate = torch.clamp(rate / group["lr"], max=1.0)
                p.grad.add_(p, alpha=weight_decay).mul_(rate)
        self.optimizer.step()
        for group, weight_decay in zip(self.param_groups, saved):
            group["weight_decay"] = weight_decay
        return loss


def _with_grad(params: Iterable[torch.Tensor]) -> Iterable[torch.Tensor]:
    return (p for p in params if p.grad is not None)
