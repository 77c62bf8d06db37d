"""The per-window soft-rasterisation kernel with a hand-written backward (private).

Plain autograd over the (N, k, k) window tensors spends most of its time in broadcast
reductions and saved temporaries; the gradient w.r.t. the N faces' 9 screen coordinates has a
short closed form instead, evaluated with in-place ops and batched matrix products:

* distance: d² = |p − c|², c = Σ_j M_j v_j the closest boundary point (M holds 1 − t, t on
  the nearest edge's two corners), so ∂d²/∂v_j = −2 M_j (p − c) (t is optimal or clamped);
* barycentrics: w_i(p) with p = Σ_j w_j v_j fixed gives ∂w_i/∂v_j = −w_j ∇_p w_i;
* the corner depths z_j enter only the interpolation weights.

Layout is planar, (N, 3, k, k) for per-corner values, so no op reduces over a size-3 last dim.
`tests/render/test_raster.py` checks this backward against float64 finite differences.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from handkit.render.screen import face_screen_params, interpolation_weights, window_barycentrics

__all__ = ["soft_window_kernel"]


def _nearest_edge(tri: Tensor, px: Tensor, py: Tensor):
    """Squared distance to the nearest edge segment and where on it the closest point lies.

    Returns d2 (N, k, k), edge (N, k, k) uint8 (edge i runs from corner i to i + 1), t (N, k, k)
    in [0, 1] along that edge, and rx, ry = p − closest point (N, k, k).
    """
    x, y = tri[:, :, 0, None, None], tri[:, :, 1, None, None]  # (N, 3, 1, 1)
    best = edge = best_t = best_rx = best_ry = None
    for i in range(3):
        j = (i + 1) % 3
        dx, dy = px - x[:, i], py - y[:, i]  # (N, 1, k), (N, k, 1)
        ex, ey = x[:, j] - x[:, i], y[:, j] - y[:, i]  # (N, 1, 1)
        length2 = ex * ex + ey * ey
        inv = 1.0 / torch.where(length2 > 0, length2, torch.ones_like(length2))
        t = (dx * (ex * inv) + dy * (ey * inv)).clamp_(0.0, 1.0)  # zero-length edge: t = 0
        rx = torch.addcmul(dx, t, ex, value=-1.0)
        ry = torch.addcmul(dy, t, ey, value=-1.0)
        d2 = (rx * rx).addcmul_(ry, ry)
        if best is None:
            best, best_t, best_rx, best_ry = d2, t, rx, ry
            edge = torch.zeros(d2.shape, dtype=torch.uint8, device=d2.device)
            continue
        closer = d2 < best
        for dst, src in ((best, d2), (best_t, t), (best_rx, rx), (best_ry, ry)):
            torch.where(closer, src, dst, out=dst)
        edge.masked_fill_(closer, i)
    return best, edge, best_t, best_rx, best_ry


class _SoftWindows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tri: Tensor, px: Tensor, py: Tensor, sigma: float, eps: float,
                attributes: bool, perspective_correct: bool):
        coef = face_screen_params(tri)[0]  # (N, 3, 3)
        w = window_barycentrics(coef, px, py)  # (N, 3, k, k)
        d2, edge, t, rx, ry = _nearest_edge(tri, px, py)
        inside = torch.minimum(torch.minimum(w[:, 0], w[:, 1]), w[:, 2]) >= 0
        logit = d2.mul_(torch.where(inside, 1.0 / sigma, -1.0 / sigma))  # ±d²/σ
        soft = torch.sigmoid(logit)
        coverage = (soft - eps).mul_(1.0 / (1.0 - eps)).clamp_(min=0.0)
        # log(1 − D') = log(1 − D) − log(1 − ε), with log(1 − D) = logsigmoid(−logit)
        log_uncovered = torch.nn.functional.logsigmoid(logit.neg_())
        log_uncovered.sub_(math.log1p(-eps)).clamp_(max=0.0)
        ctx.sigma, ctx.eps, ctx.perspective_correct = sigma, eps, perspective_correct
        ctx.attributes = attributes
        ctx.set_materialize_grads(False)
        saved = [tri, coef, px, py, w, edge, t, rx, ry, soft, inside]
        bary = depth = None
        if attributes:
            bary, depth = interpolation_weights(w.clamp(min=0.0), tri[:, :, 2, None, None],
                                                perspective_correct)
            saved += [bary, depth]
        ctx.save_for_backward(*saved)
        return coverage, log_uncovered, bary, depth

    @staticmethod
    @once_differentiable
    def backward(ctx, g_cov, g_lu, g_bary, g_depth):
        tri, coef, px, py, w, edge, t, rx, ry, soft, inside = ctx.saved_tensors[:11]
        n, k = px.shape[0], px.shape[-1]
        eps, sigma = ctx.eps, ctx.sigma
        g_xy = torch.zeros_like(tri[..., :2])
        g_z = torch.zeros_like(tri[..., 2])
        if g_cov is not None or g_lu is not None:
            # dD'/dlogit = D(1 − D)/(1 − ε), dlog(1 − D')/dlogit = −D; both 0 where D ≤ ε
            g = torch.zeros_like(soft)
            if g_cov is not None:
                g.addcmul_(g_cov, soft * (1.0 - soft), value=1.0 / (1.0 - eps))
            if g_lu is not None:
                g.addcmul_(g_lu, soft, value=-1.0)
            g.mul_(torch.where(inside, 1.0 / sigma, -1.0 / sigma)).masked_fill_(soft <= eps, 0.0)
            # corner weights of the closest point: 1 − t on the edge's start, t on its end
            closest = torch.zeros_like(w)
            e64 = edge.to(torch.int64)[:, None]
            closest.scatter_(1, e64, (1.0 - t)[:, None])
            closest.scatter_add_(1, (e64 + 1) % 3, t[:, None])
            h = torch.stack([g * rx, g * ry], dim=1).reshape(n, 2, k * k)  # g · (p − c)
            g_xy -= 2.0 * torch.bmm(closest.reshape(n, 3, k * k), h.transpose(1, 2))
        if ctx.attributes and (g_bary is not None or g_depth is not None):
            bary, depth = ctx.saved_tensors[11:]
            g_w, g_zc = _attribute_grads(tri, w, bary, depth, g_bary, g_depth,
                                         ctx.perspective_correct)
            # G = Σ_i g_wi ∇_p w_i, then ∂/∂v_j = −Σ_p w_j G
            big_g = torch.bmm(coef[:, :, :2].transpose(1, 2), g_w.reshape(n, 3, k * k))
            g_xy -= torch.bmm(w.reshape(n, 3, k * k), big_g.transpose(1, 2))
            g_z += g_zc
        return torch.cat([g_xy, g_z[..., None]], dim=-1), None, None, None, None, None, None


def _attribute_grads(tri: Tensor, w: Tensor, bary: Tensor, depth: Tensor, g_bary: Tensor | None,
                     g_depth: Tensor | None, perspective_correct: bool) -> tuple[Tensor, Tensor]:
    """Gradients of (bary, depth) w.r.t. the screen barycentrics W (N, 3, k, k) and the corner
    depths (N, 3), through the clipping at 0 and `interpolation_weights`."""
    z = tri[:, :, 2, None, None]  # (N, 3, 1, 1)
    inv_z = 1.0 / z
    wc = w.clamp(min=0.0)
    g_b = g_bary if g_bary is not None else torch.zeros_like(w)
    if perspective_correct:
        # bary = u / s, u = wc / z, s = Σ u; depth = Σ wc / s
        inv_s = 1.0 / (wc * inv_z).sum(1, keepdim=True)  # (N, 1, k, k)
        g_u = (g_b - (g_b * bary).sum(1, keepdim=True)).mul_(inv_s)
        g_wc = g_u * inv_z
        back = -g_u  # ∂/∂z_j = (bary_j / z_j) · (depth g_d − s g_u_j)
        back.mul_(1.0 / inv_s)
        if g_depth is not None:
            g_d = g_depth[:, None]
            g_wc.addcmul_(g_d * inv_s, 1.0 - depth[:, None] * inv_z)
            back.add_(g_d * depth[:, None])
        g_z = (back.mul_(bary)).sum(dim=(2, 3)) * inv_z[:, :, 0, 0]
    else:
        # bary = wc / Σ wc, depth = Σ bary z
        if g_depth is not None:
            g_b = g_b + g_depth[:, None] * z
        inv_t = 1.0 / wc.sum(1, keepdim=True)
        g_wc = (g_b - (g_b * bary).sum(1, keepdim=True)).mul_(inv_t)
        g_z = ((g_depth[:, None] * bary).sum(dim=(2, 3)) if g_depth is not None
               else torch.zeros_like(z[:, :, 0, 0]))
    return g_wc.masked_fill_(w <= 0, 0.0), g_z


def soft_window_kernel(tri: Tensor, px: Tensor, py: Tensor, sigma: float, eps: float,
                       attributes: bool, perspective_correct: bool):
    """Soft coverage (and attributes) of N faces on their k x k windows.

    Args:
        tri: (N, 3, 3) float screen triangles (u px, v px, z m), differentiable.
        px: (N, 1, k) float pixel-centre x of each window column; py: (N, k, 1) rows.
        sigma, eps, attributes, perspective_correct: as in `rasterize`.

    Returns:
        coverage (N, k, k), log_uncovered (N, k, k), and when ``attributes`` bary (N, 3, k, k)
        and depth (N, k, k) meters (else None, None).
    """
    return _SoftWindows.apply(tri, px, py, sigma, eps, attributes, perspective_correct)
