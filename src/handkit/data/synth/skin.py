"""Skin detail and skin shading of the synthetic world's ``skin`` option (`Domain.skin_detail`).

Per pixel, in the hand's **rest coordinates** (OpenHand's template at the mean shape: wrist at
the origin, fingers along +x, thumb towards +z, palm facing +y; meters), so every mark sticks
to the skin whatever the pose: flexion creases at the finger joints (deep on the palm side,
fine wrinkles over the knuckles), three palm lines, fine mottling, redder fingertips, a palm
side lighter than the back (most so on dark skin), and nails of varied colour with a whiter
free edge (sometimes polished). Shading: wrap-around diffuse whose extra light is reddish (a
cheap stand-in for light scattered under the skin) and a sky/ground fill light.

Every draw comes from `appearance.look_rng` of the hand's look, so the option never changes
the scene's main random stream (pose, camera, background, occluders stay the same).
"""

from __future__ import annotations

import numpy as np

from handkit.data.synth import appearance as app

__all__ = ["shading", "detail"]

_SHADE_KEY, _DETAIL_KEY = 102, 103
_TIPS = (4, 8, 12, 16, 20)
# palm lines in the rest (x, z) plane, meters: distal transverse ("heart"), proximal
# transverse ("head") and thenar ("life") crease, each a polyline
_PALM_LINES = (np.array([[0.062, -0.042], [0.068, -0.02], [0.074, 0.0], [0.08, 0.016]]),
               np.array([[0.036, -0.04], [0.044, -0.01], [0.052, 0.012], [0.056, 0.03]]),
               np.array([[0.056, 0.03], [0.04, 0.022], [0.022, 0.016], [0.004, 0.012]]))


def shading(look: app.Look, strength: float) -> dict:
    """Keyword arguments of `renderer.shade` for softer skin shading (wrap, reddish scatter,
    sky/ground fill), drawn from the look; `strength` in (0, 1] scales them."""
    rng = app.look_rng(look, _SHADE_KEY)
    sky = np.array([0.85, 0.92, 1.0]) * rng.uniform(0.05, 0.25) * strength
    ground = np.array([1.0, 0.9, 0.8]) * rng.uniform(0.02, 0.12) * strength
    return {"wrap": float(rng.uniform(0.2, 0.5) * strength),
            "scatter_rgb": np.array([1.0, 0.55, 0.45]) * rng.uniform(0.6, 1.0),
            "sky_rgb": sky, "ground_rgb": ground}


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points p (M, 2): distance to segment a-b and the clipped parameter t."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1), t


def detail(rgb: np.ndarray, face_vertices: np.ndarray, weights: np.ndarray, n_v: int,
           hands: list, albedo: np.ndarray, rest: np.ndarray, rest_joints: np.ndarray,
           nail: np.ndarray, parts: np.ndarray, strength: float) -> np.ndarray:
    """Shaded hand pixels with skin detail.

    Args:
        rgb: (M, 3) float32 shaded colour of M hand pixels.
        face_vertices: (M, 3) int, the vertices (numbered over all hands, `n_v` per hand) of
            the triangle each pixel shows. weights: (M, 3) its barycentric weights.
        hands: the scene's `HandState`s (their looks seed the detail).
        albedo: (n_hands · n_v, 3) the hands' vertex albedo.
        rest: (n_v, 3) template vertices, meters. rest_joints: (21, 3) template joints.
        nail: (n_v,) nail weight. parts: (n_v,) part ids (`PART_NAMES`).
        strength: 0..1.

    Returns:
        (M, 3) float32: `rgb` × (detailed albedo / plain albedo), so shading is kept.
    """
    if len(rgb) == 0:
        return rgb
    local = face_vertices % n_v
    owner = face_vertices[:, 0] // n_v
    w = weights.astype(np.float64)
    p = (rest[local] * w[..., None]).sum(1)  # (M, 3) rest position of each pixel
    nail_w = (nail[local] * w).sum(1)
    plain = (albedo[face_vertices] * w[..., None]).sum(1)
    part = parts[local[np.arange(len(local)), np.argmax(w, 1)]]
    out = plain.copy()
    for k, hand in enumerate(hands):
        sel = owner == k
        if not sel.any():
            continue
        out[sel] = _detail_one(app.look_rng(hand.look, _DETAIL_KEY, k), p[sel], part[sel],
                               nail_w[sel], plain[sel], hand.look.skin, rest_joints, strength)
    ratio = out / np.maximum(plain, 1e-3)
    return np.clip(rgb * ratio, 0, 1).astype(np.float32)


def _detail_one(rng: np.random.Generator, p: np.ndarray, part: np.ndarray, nail_w: np.ndarray,
                color: np.ndarray, skin: np.ndarray, J: np.ndarray, strength: float) -> np.ndarray:
    m = len(p)
    shade = np.ones(m)
    # mottling: fine waves in rest coordinates (a few mm)
    k = rng.normal(0, 1, (6, 3)) * rng.uniform(400, 1500, (6, 1))
    amp = rng.uniform(0.01, 0.03, 6) * strength
    shade *= 1 + (np.sin(p @ k.T + rng.uniform(0, 2 * np.pi, 6)) * amp).sum(1)
    # flexion creases and knuckle wrinkles at the finger joints
    palmar, dorsal = rng.uniform(0.2, 0.38) * strength, rng.uniform(0.06, 0.16) * strength
    side = np.zeros(m)  # > 0 on the palm side of the pixel's bone
    for q in range(1, 16):
        sel = part == q
        if not sel.any():
            continue
        f, s = divmod(q - 1, 3)
        a, b = J[1 + 4 * f + s], J[2 + 4 * f + s]
        bone = (b - a) / np.linalg.norm(b - a)
        d_prox = (p[sel] - a) @ bone
        d_dist = (b - p[sel]) @ bone
        centre = a + np.clip(d_prox, 0, None)[:, None] * bone
        y = p[sel, 1] - centre[:, 1]
        side[sel] = y
        palm_side = 1 / (1 + np.exp(-y / 0.002))
        crease = np.exp(-(d_dist / 0.0016) ** 2)
        if s > 0 or f > 0:  # no crease at the thumb's CMC
            crease = crease + np.exp(-(d_prox / 0.0016) ** 2)
        wrinkle = 0.5 * (1 + np.cos(2 * np.pi * d_dist / 0.0025)) * np.exp(-(d_dist / 0.004) ** 2)
        shade[sel] *= 1 - np.clip(crease * palmar * palm_side
                                  + wrinkle * dorsal * (1 - palm_side), 0, 0.6)
    # palm lines on the palm side of the palm
    sel = (part == 0) & (p[:, 1] > 0.004)
    if sel.any():
        xz = p[sel][:, [0, 2]]
        line = np.zeros(len(xz))
        for poly in _PALM_LINES:
            poly = poly + rng.normal(0, 0.003, poly.shape)
            dist = np.min([_segment_distance(xz, poly[i], poly[i + 1])[0]
                           for i in range(len(poly) - 1)], axis=0)
            line = np.maximum(line, np.exp(-(dist / 0.0013) ** 2))
        shade[sel] *= 1 - line * rng.uniform(0.15, 0.3) * strength
        side[sel] = p[sel, 1]
    out = color * shade[:, None]
    # redder fingertips
    tip = np.min(np.linalg.norm(p[:, None] - J[list(_TIPS)][None], axis=2), axis=1)
    red = np.exp(-(tip / 0.012) ** 2) * rng.uniform(0.04, 0.12) * strength
    out *= (1 + red[:, None] * np.array([0.6, -0.5, -0.5]))
    # palm side lighter (most on dark skin) and a little pinker
    dark = float(np.clip(1 - skin.mean() / 0.8, 0, 1))
    lighter = 1 / (1 + np.exp(-side / 0.002)) * (0.1 + 0.45 * dark) * strength
    out = out + (np.array([1.0, 0.82, 0.75]) * 0.85 - out) * lighter[:, None] * 0.6
    # nails: pink to white, a whiter free edge, sometimes polish
    polish = rng.uniform() < 0.12
    if polish:
        nail_rgb = rng.uniform(0, 1, 3) * rng.uniform(0.3, 0.9)
    else:
        nail_rgb = np.clip(np.array([0.93, 0.75, 0.72]) * rng.uniform(0.8, 1.05)
                           + rng.normal(0, 0.03, 3), 0, 1)
    edge = np.exp(-(tip / 0.003) ** 2) * (0 if polish else rng.uniform(0.2, 0.6))
    nail_rgb = nail_rgb[None] * (1 - edge[:, None]) + np.array([0.97, 0.95, 0.92]) * edge[:, None]
    nw = np.clip(nail_w, 0, 1)[:, None] * strength
    out = out * (1 - nw) + nail_rgb * nw
    return np.clip(out, 0, 1)
