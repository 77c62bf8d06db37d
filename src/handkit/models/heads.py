"""MLP heads: one generic `MLPHead` and presets that only set its sizes (STYLE.md R8).

`MLPHead` is an ``nn.Sequential`` laid out exactly like the official heads, so its state-dict
keys (``0.weight``, ``1.running_mean``, ``3.weight``, …) equal theirs:

    Linear → [BatchNorm1d] → activation → … → Linear

Presets:

- `SimCLRHead`: the SimCLR projection head g(·) as SimCLR, PeCLR and SiMHand implement it
  (specs/pretrain.md §1.2), keys ``projection_head.{0,1,3}.*`` in their checkpoints.
- `ZRootRefinementHead`: RN_25D_wMLPref's root-depth refinement MLP (specs/pretrain.md §3.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import nn

from handkit.utils.check import check_choice

__all__ = ["MLPHead", "SimCLRHead", "ZRootRefinementHead", "ACTIVATIONS", "NORMS"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,  # negative_slope 0.01, torch's (and RN_25D_wMLPref's) default
    "gelu": nn.GELU,
}
NORMS: dict[str, type[nn.Module]] = {"bn": nn.BatchNorm1d}


class MLPHead(nn.Sequential):
    """A multilayer perceptron ``Linear → [norm] → activation → … → Linear``.

    Args:
        dims: layer widths ``(in, hidden…, out)``, at least two entries.
        norm: ``"bn"`` (BatchNorm1d after every hidden Linear) or None.
        activation: ``"relu"``, ``"leaky_relu"`` or ``"gelu"``, after every hidden layer.
        hidden_bias: bias in the hidden Linears.
        last_bias: bias in the output Linear.

    Shape: (B, dims[0]) float → (B, dims[-1]) float.
    """

    def __init__(
        self,
        dims: Sequence[int],
        *,
        norm: Literal["bn"] | None = "bn",
        activation: Literal["relu", "leaky_relu", "gelu"] = "relu",
        hidden_bias: bool = True,
        last_bias: bool = True,
    ):
        dims = [int(d) for d in dims]
        if len(dims) < 2 or any(d < 1 for d in dims):
            raise ValueError(f"dims: expected at least two positive widths (in, ..., out), "
                             f"got {dims}.")
        if norm is not None:
            check_choice(norm, NORMS, name="norm")
        check_choice(activation, ACTIVATIONS, name="activation")
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-2], dims[1:-1]):
            layers.append(nn.Linear(d_in, d_out, bias=hidden_bias))
            if norm is not None:
                layers.append(NORMS[norm](d_out))
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(dims[-2], dims[-1], bias=last_bias))
        super().__init__(*layers)
        self.dims = tuple(dims)


class SimCLRHead(MLPHead):
    """SimCLR projection head g(·), as used by SimCLR, PeCLR and SiMHand.

    "We use a MLP with one hidden layer to obtain z_i = g(h_i) = W(2) σ(W(1) h_i) where σ is a
    ReLU non-linearity" (Chen et al., "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020, arXiv:2002.05709, §2.1). The official PeCLR/SiMHand code
    (``get_projection_head``, specs/pretrain.md §1.2) adds BatchNorm1d after the hidden layer and
    drops the output bias: ``Linear(2048→512, bias) → BN1d(512) → ReLU → Linear(512→128, no
    bias)``. PeCLR (Spurr et al., ICCV 2021) and SiMHand (Lin et al., ICLR 2025) read the 128-d
    output as 64 2-D points.

    Args:
        input_dim: encoder feature size; 2048 for ResNet-50/101/152 (official), 512 for 18/34.
        hidden_dim: 512 (official ``projection_head_hidden_dim``).
        output_dim: 128 (official ``output_dim``).
    """

    def __init__(self, input_dim: int = 2048, hidden_dim: int = 512, output_dim: int = 128):
        super().__init__((input_dim, hidden_dim, output_dim), norm="bn", activation="relu",
                         hidden_bias=True, last_bias=False)


class ZRootRefinementHead(MLPHead):
    """RN_25D_wMLPref's root-depth refinement MLP (``ZrootMLP_ref.zroot_ref``).

    ``Linear(64,128) → BN1d → LeakyReLU → Linear(128,128) → BN1d → LeakyReLU → Linear(128,1)``
    (specs/pretrain.md §3.1), after Spurr et al., "Weakly supervised 3D hand pose estimation
    via biomechanical constraints" (ECCV 2020, arXiv:2003.09282):
    Z_root ← Z_root + MLP([z_rel (21), rays_xy (42), Z_root (1)]).
    """

    def __init__(self) -> None:
        super().__init__((64, 128, 128, 1), norm="bn", activation="leaky_relu")
