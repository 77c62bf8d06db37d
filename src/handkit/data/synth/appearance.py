"""Random appearance: skin tones and texture, lights, backgrounds, occluders, camera artefacts.

Every sampler takes an explicit `numpy.random.Generator` and returns plain arrays; nothing is
stored between calls except a per-process cache of the bundled scikit-image photographs.
Images are float32 RGB in [0, 1] until `finish_image` turns them into uint8.

One appearance config, `Domain`, holds every range; the transfer options (forearm, skin
detail, camera effects, real-photo-like backgrounds, held objects; docs/synth.md) are fields of
it that are off in ``default``. A look is named ``BASE[+OPTION...]``: a `DOMAINS` entry with `OPTIONS`
switched on, e.g. ``default+forearm+camera`` (`domain`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from handkit.utils.check import check_choice

__all__ = ["Domain", "DOMAINS", "OPTIONS", "domain", "Look", "sample_look", "vertex_colors",
           "look_rng", "sample_background", "sample_occluder", "finish_image", "PHOTO_NAMES",
           "HAND_FREE_PHOTOS", "HELD_OUT_PHOTOS", "preload_photos", "skin_tone", "jpeg_roundtrip"]

# Skin tones from very light to very dark (linear-ish RGB), interpolated; covers the human range.
_SKIN = np.array([[0.98, 0.84, 0.74], [0.93, 0.74, 0.61], [0.82, 0.60, 0.46],
                  [0.66, 0.45, 0.32], [0.48, 0.31, 0.21], [0.30, 0.19, 0.13]], dtype=np.float32)
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "page",
               "text", "hubble_deep_field", "immunohistochemistry", "colorwheel", "retina",
               "grass", "gravel", "brick", "cell", "clock")
"""Photographs bundled with scikit-image (no download) used as background crops."""
HAND_FREE_PHOTOS = ("coffee", "chelsea", "rocket", "coins", "moon", "page", "text",
                    "hubble_deep_field", "immunohistochemistry", "colorwheel", "retina", "grass",
                    "gravel", "brick", "cell", "clock", "stereo_motorcycle")
"""The bundled photographs that show no hand (not `camera`, whose man holds his camera, nor
`astronaut`, whose glove shows); the ``backgrounds`` option uses them less `HELD_OUT_PHOTOS`,
so that a hand in the image is always a labelled one."""
HELD_OUT_PHOTOS = ("chelsea", "coffee", "rocket")
"""The photographs the "no hand" tests show the hand finders (tests/infer/test_finders.py): no
transfer option trains on them, so a detector trained on a transfer look meets them unseen
(the ``default`` world's backgrounds, fixed since before, still include them)."""


@dataclass(frozen=True)
class Domain:
    """An appearance distribution: the ranges every appearance sampler draws from.

    Attributes:
        skin: range of the skin-tone position along the light→dark palette `_SKIN` (0 .. 5).
        light: range of the light's intensity. tint: (std, max deviation) of its colour tint.
        ambient: range of the ambient light term.
        photo_prob: probability that a background is a photograph (else a procedural texture).
        occluder_scale: multiplies each scene's occluder probability.
        blur_prob: probability of a Gaussian blur. noise: maximum sensor-noise std.

        The transfer options (0 = off, the ``default`` world):

        forearm: probability that a hand has a forearm attached at its wrist (`forearm.py`).
        sleeve: probability that a forearm wears a sleeve.
        skin_detail: strength (0..1) of per-pixel skin detail in the hand's rest coordinates
            (joint creases, palm lines, mottling, redder tips and knuckles, lighter palms,
            varied nails) and of the softer skin shading (wrap-around diffuse with a reddish
            terminator, a sky/ground fill light).
        white_balance: std of the per-channel white-balance gain (also an exposure gain).
        motion_blur: probability of a linear motion blur (3-9 px at 224 px).
        jpeg: probability of an in-camera JPEG pass at quality 20-75 (before the writers' own
            JPEG at 70-95).
        shot_noise: maximum std of signal-dependent colour noise (Poisson-like: ∝ √intensity).
        photos: names of the bundled photographs backgrounds are cut from.
        clutter: probability of procedural clutter over the background (objects, a table edge).
        distractors: probability of 1-3 hand-like distractors behind the hand (skin-coloured
            fingers, an arm, a face-like ellipse).
        defocus: probability that the background is blurred (depth of field; hand sharp).
        held_object: probability that a hand holds an object in a grip (`objects.py`).
    """

    skin: tuple[float, float]
    light: tuple[float, float]
    tint: tuple[float, float]
    ambient: tuple[float, float]
    photo_prob: float
    occluder_scale: float
    blur_prob: float
    noise: float
    forearm: float = 0.0
    sleeve: float = 0.0
    skin_detail: float = 0.0
    white_balance: float = 0.0
    motion_blur: float = 0.0
    jpeg: float = 0.0
    shot_noise: float = 0.0
    photos: tuple[str, ...] = PHOTO_NAMES
    clutter: float = 0.0
    distractors: float = 0.0
    defocus: float = 0.0
    held_object: float = 0.0


DOMAINS: dict[str, Domain] = {
    # every range of the synthetic world (the draws the writers have always made)
    "default": Domain(skin=(0.0, 5.0), light=(0.55, 1.0), tint=(0.08, 0.25), ambient=(0.25, 0.55),
                      photo_prob=0.5, occluder_scale=1.0, blur_prob=0.5, noise=0.03),
    # a held-out look: darker skin only, dimmer and more coloured light, photographs only,
    # 1.5x the occluders, blurrier and noisier (a test set unlike the training distribution)
    "shifted": Domain(skin=(3.0, 5.0), light=(0.35, 0.75), tint=(0.2, 0.45), ambient=(0.15, 0.4),
                      photo_prob=1.0, occluder_scale=1.5, blur_prob=0.8, noise=0.05),
}
"""Named appearance distributions (`handkit synth --appearance NAME`); docs/synth.md."""

OPTIONS: dict[str, dict] = {
    "forearm": {"forearm": 0.95, "sleeve": 0.5},
    "skin": {"skin_detail": 1.0},
    "camera": {"white_balance": 0.08, "motion_blur": 0.25, "jpeg": 0.4, "shot_noise": 0.04},
    "backgrounds": {"photos": tuple(p for p in HAND_FREE_PHOTOS if p not in HELD_OUT_PHOTOS),
                    "photo_prob": 0.7, "clutter": 0.6,
                    "distractors": 0.5, "defocus": 0.3},
    "objects": {"held_object": 0.4},
}
"""The transfer options of the synthetic world, each a set of `Domain` fields switched on; a
look ``BASE+OPTION+...`` is `DOMAINS[BASE]` with them (docs/synth.md has the ablation)."""

DOMAINS["transfer"] = dataclasses.replace(
    DOMAINS["default"], **{k: v for opt in OPTIONS.values() for k, v in opt.items()})


def domain(name: str) -> Domain:
    """The look `name`: a `DOMAINS` entry, optionally followed by ``+OPTION`` names of
    `OPTIONS` (``default+forearm+camera``). ValueError listing the choices otherwise."""
    base, *options = str(name).split("+")
    check_choice(base, DOMAINS, name="appearance")
    fields: dict = {}
    for option in options:
        check_choice(option, OPTIONS, name=f"appearance {name!r}: option")
        fields.update(OPTIONS[option])
    return dataclasses.replace(DOMAINS[base], **fields) if fields else DOMAINS[base]


@dataclass(frozen=True)
class Look:
    """Appearance of one hand under one light (all sampled once per hand/video)."""

    skin: np.ndarray  # (3,) albedo in [0, 1]
    texture: np.ndarray  # (4, 5) low-frequency texture: 4 waves × (kx, ky, kz, phase, amp)
    nail: np.ndarray  # (3,) nail albedo
    light_dir: np.ndarray  # (3,) unit, towards the light, camera frame
    light_rgb: np.ndarray  # (3,) color × intensity
    ambient: float
    specular: float
    shininess: float


def sample_look(rng: np.random.Generator, dom: Domain = DOMAINS["default"]) -> Look:
    """Random skin tone, texture, nail color and light from the ranges of `dom`."""
    t = rng.uniform(*dom.skin)
    i = min(int(t), len(_SKIN) - 2)
    skin = _SKIN[i] * (1 - (t - i)) + _SKIN[i + 1] * (t - i)
    skin = np.clip(skin * rng.uniform(0.9, 1.1, 3) * rng.uniform(0.85, 1.1), 0, 1)
    waves = np.concatenate([rng.normal(0, 1, (4, 3)) * rng.uniform(60, 250, (4, 1)),
                            rng.uniform(0, 2 * np.pi, (4, 1)), rng.uniform(0.01, 0.06, (4, 1))], 1)
    nail = np.clip(skin * 0.55 + np.array([0.45, 0.38, 0.38]) * rng.uniform(0.8, 1.1), 0, 1)
    light = rng.normal(0, 1, 3)
    light[2] = -abs(light[2]) - 0.3  # mostly from the camera's side
    tint = np.clip(1 + rng.normal(0, dom.tint[0], 3), 1 - dom.tint[1], 1 + dom.tint[1])
    return Look(skin=skin.astype(np.float32), texture=waves, nail=nail.astype(np.float32),
                light_dir=light / np.linalg.norm(light), light_rgb=tint * rng.uniform(*dom.light),
                ambient=float(rng.uniform(*dom.ambient)), specular=float(rng.uniform(0.02, 0.18)),
                shininess=float(rng.uniform(8, 40)))


def look_rng(look: Look, *keys: int) -> np.random.Generator:
    """A generator seeded by the look's own random values and `keys`: the draws of an option
    (a hand's forearm, its skin detail) are then a pure function of the hand's look, fixed for
    a video (one look per video), and the scene's main random stream is not touched, so an
    option never changes the pose, camera, background or occluders it is added to."""
    words = np.frombuffer(np.ascontiguousarray(look.texture, np.float64).tobytes(), np.uint32)
    return np.random.default_rng([*words[::3].tolist(), *map(int, keys)])


def skin_tone(position: float) -> np.ndarray:
    """(3,) albedo at `position` (0 lightest .. 5 darkest) along the skin palette."""
    i = min(int(position), len(_SKIN) - 2)
    t = position - i
    return (_SKIN[i] * (1 - t) + _SKIN[i + 1] * t).astype(np.float32)


def vertex_colors(look: Look, rest_vertices: np.ndarray, nail: np.ndarray) -> np.ndarray:
    """Per-vertex albedo: skin × low-frequency texture (in rest coordinates), nails blended in.

    Args:
        rest_vertices: (V, 3) meters, the model's rest frame (so texture sticks to the skin).
        nail: (V,) in [0, 1], the model's nail region.

    Returns:
        (V, 3) float32 albedo in [0, 1].
    """
    k, phase, amp = look.texture[:, :3], look.texture[:, 3], look.texture[:, 4]
    mod = 1 + (np.sin(rest_vertices @ k.T + phase) * amp).sum(1)
    color = look.skin[None] * mod[:, None]
    color = color * (1 - nail[:, None]) + look.nail[None] * nail[:, None]
    return np.clip(color, 0, 1).astype(np.float32)


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo pairs: the left view
        img = img[0]
    scale = 512 / max(img.shape[:2])
    if scale < 1:  # keep crops cheap to resize
        img = cv2.resize(img, (round(img.shape[1] * scale), round(img.shape[0] * scale)),
                         interpolation=cv2.INTER_AREA)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy.flags.writeable = xx.flags.writeable = False
    return yy, xx


def preload_photos() -> None:
    """Load every bundled photograph into this process's cache (before forking workers)."""
    for name in PHOTO_NAMES:
        _photo(name)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, channels: int) -> np.ndarray:
    small = rng.uniform(0, 1, (cells, cells, channels)).astype(np.float32)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return out.reshape(h, w, channels)


def sample_background(rng: np.random.Generator, height: int, width: int,
                      dom: Domain = DOMAINS["default"]) -> np.ndarray:
    """A background image (H, W, 3) float32 in [0, 1]: a random crop of a bundled photograph
    (with probability ``dom.photo_prob``, from ``dom.photos``) or a procedural texture
    (gradient + smooth noise + stripes); then, at the rates of `dom`, procedural clutter,
    hand-like distractors and a defocus blur."""
    img = _base_background(rng, height, width, dom)
    if dom.clutter > 0 and rng.uniform() < dom.clutter:
        img = _clutter(rng, img)
    if dom.distractors > 0 and rng.uniform() < dom.distractors:
        img = _distractors(rng, img)
    if dom.defocus > 0 and rng.uniform() < dom.defocus:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.8, 3.0)) * min(height, width) / 224)
    return img


def _base_background(rng: np.random.Generator, height: int, width: int, dom: Domain) -> np.ndarray:
    if rng.uniform() < dom.photo_prob:
        photo = _photo(dom.photos[rng.integers(len(dom.photos))])
        ph, pw = photo.shape[:2]
        side = int(rng.uniform(0.3, 1.0) * min(ph, pw))
        y0, x0 = rng.integers(0, ph - side + 1), rng.integers(0, pw - side + 1)
        crop = photo[y0:y0 + side, x0:x0 + side]
        if rng.uniform() < 0.5:
            crop = crop[:, ::-1]
        img = cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=cv2.INTER_LINEAR)
        img = img.astype(np.float32) / 255.0
        return np.clip(img * rng.uniform(0.6, 1.2) + rng.uniform(-0.1, 0.1, 3), 0, 1).astype(np.float32)
    # procedural textures are smooth: draw them at half resolution and upsample (4x cheaper)
    h, w = (height + 1) // 2, (width + 1) // 2
    base = rng.uniform(0, 1, 3).astype(np.float32)
    yy, xx = _grid(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)[..., None]
    img = base + ramp * rng.uniform(-0.4, 0.4, 3).astype(np.float32)
    img = img + (_smooth_noise(rng, h, w, int(rng.integers(3, 12)), 3) - 0.5) * 0.5
    if rng.uniform() < 0.4:
        freq = rng.uniform(0.1, 0.8)  # radians per half-resolution pixel
        stripes = np.sin((xx * np.cos(angle + 1) + yy * np.sin(angle + 1)) * freq)[..., None]
        img = img + stripes * rng.uniform(0.05, 0.2, 3).astype(np.float32)
    img = cv2.resize(np.clip(img, 0, 1), (width, height), interpolation=cv2.INTER_LINEAR)
    return img.astype(np.float32, copy=False)


def _alpha(height: int, width: int, draw) -> np.ndarray:
    """(H, W, 1) float32 coverage of what `draw(mask, shift)` paints (anti-aliased, 1/16 px)."""
    mask = np.zeros((height, width), np.uint8)
    draw(mask, 4)
    return (mask.astype(np.float32) / 255.0)[..., None]


def _shaded(rng: np.random.Generator, height: int, width: int, color: np.ndarray,
            contrast: float) -> np.ndarray:
    """(H, W, 3) `color` under a random linear light gradient (± `contrast`)."""
    yy, xx = _grid(height, width)
    a = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(a) * (xx / width - 0.5) + np.sin(a) * (yy / height - 0.5))[..., None]
    return np.clip(color * (1 + contrast * 2 * ramp), 0, 1).astype(np.float32)


def _muted(rng: np.random.Generator) -> np.ndarray:
    """A random colour, mostly desaturated (as most things in rooms are)."""
    c = rng.uniform(0.05, 0.95, 3)
    grey = rng.uniform(0.1, 0.9)
    return np.clip(grey + (c - grey) * rng.uniform(0.1, 1.0), 0, 1).astype(np.float32)


def _clutter(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Procedural clutter over a background: sometimes a table or wall edge (a half-plane of
    another colour), then 2-7 shaded objects (rotated boxes, ellipses, thick bars)."""
    h, w = img.shape[:2]
    img = img.copy()
    if rng.uniform() < 0.4:
        a = rng.uniform(0, 2 * np.pi)
        n = np.array([np.cos(a), np.sin(a)])
        c = rng.uniform(0.2, 0.8, 2) * (w, h)
        far = 2 * (w + h)
        t = np.array([-n[1], n[0]])
        pts = np.array([c + t * far, c + t * far + n * far, c - t * far + n * far, c - t * far])
        alpha = _alpha(h, w, lambda m, sh: cv2.fillPoly(m, [(pts * 16).astype(np.int32)], 255,
                                                         cv2.LINE_AA, sh))
        fill = _shaded(rng, h, w, _muted(rng), 0.3)
        fill = fill + (_smooth_noise(rng, h, w, int(rng.integers(8, 40)), 1) - 0.5) * 0.15
        img = img * (1 - alpha) + np.clip(fill, 0, 1) * alpha
    for _ in range(int(rng.integers(2, 8))):
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        sx, sy = rng.uniform(0.05, 0.35, 2) * min(h, w)
        ang = float(rng.uniform(0, 180))
        kind = rng.integers(3)
        if kind == 0:
            box = cv2.boxPoints(((cx, cy), (2 * sx, 2 * sy), ang))
            draw = lambda m, sh: cv2.fillPoly(m, [(box * 16).astype(np.int32)], 255,  # noqa: E731
                                              cv2.LINE_AA, sh)
        elif kind == 1:
            draw = lambda m, sh: cv2.ellipse(m, (int(cx * 16), int(cy * 16)),  # noqa: E731
                                             (int(sx * 16), int(sy * 16)), ang, 0, 360, 255, -1,
                                             cv2.LINE_AA, sh)
        else:
            dx, dy = np.cos(np.radians(ang)) * sx * 2, np.sin(np.radians(ang)) * sx * 2
            th = max(int(sy * 0.3), 1)
            draw = lambda m, sh: cv2.line(m, (int((cx - dx) * 16), int((cy - dy) * 16)),  # noqa: E731
                                          (int((cx + dx) * 16), int((cy + dy) * 16)), 255, th,
                                          cv2.LINE_AA, sh)
        alpha = _alpha(h, w, draw)
        fill = _shaded(rng, h, w, _muted(rng), 0.4)
        img = img * (1 - alpha) + fill * alpha
    return np.clip(img, 0, 1).astype(np.float32)


def _distractors(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """1-3 skin-coloured hand-like shapes behind the hand (never labelled): a row of 2-5
    finger-like capsules, an arm-like band from the border, or a face-like ellipse; shaded
    with a light gradient and mottled."""
    h, w = img.shape[:2]
    side = min(h, w)
    img = img.copy()
    for _ in range(int(rng.integers(1, 4))):
        color = skin_tone(rng.uniform(0, 5)) * rng.uniform(0.8, 1.1, 3).astype(np.float32)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        ang = rng.uniform(0, 2 * np.pi)
        d = np.array([np.cos(ang), np.sin(ang)])
        kind = rng.integers(3)
        if kind == 0:  # fingers
            count, length = int(rng.integers(2, 6)), rng.uniform(0.15, 0.4) * side
            width = rng.uniform(0.03, 0.07) * side
            segs = [(np.array([cx, cy]) + np.array([-d[1], d[0]]) * width * 1.1 * k,
                     length * rng.uniform(0.75, 1.0)) for k in range(count)]
            draw = lambda m, sh: [cv2.line(m, tuple((p * 16).astype(int)),  # noqa: E731
                                           tuple(((p + d * L) * 16).astype(int)), 255,
                                           max(int(width), 1), cv2.LINE_AA, sh)
                                  for p, L in segs]
        elif kind == 1:  # an arm from the border
            edge = np.array([cx, cy]) - d * 2 * side
            thick = max(int(rng.uniform(0.1, 0.22) * side), 1)
            draw = lambda m, sh: cv2.line(m, tuple((edge * 16).astype(int)),  # noqa: E731
                                          (int(cx * 16), int(cy * 16)), 255, thick,
                                          cv2.LINE_AA, sh)
        else:  # a face-like ellipse
            ax = rng.uniform(0.1, 0.25) * side
            draw = lambda m, sh: cv2.ellipse(m, (int(cx * 16), int(cy * 16)),  # noqa: E731
                                             (int(ax * 16), int(ax * rng.uniform(1.15, 1.4) * 16)),
                                             float(np.degrees(ang)), 0, 360, 255, -1,
                                             cv2.LINE_AA, sh)
        alpha = _alpha(h, w, draw)
        fill = _shaded(rng, h, w, color, rng.uniform(0.2, 0.5))
        fill = fill * (1 + (_smooth_noise(rng, h, w, int(rng.integers(10, 30)), 1) - 0.5) * 0.12)
        img = img * (1 - alpha) + np.clip(fill, 0, 1) * alpha
    return np.clip(img, 0, 1).astype(np.float32)


def sample_occluder(rng: np.random.Generator, height: int, width: int,
                    box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random object in front of the hand: an ellipse or polygon overlapping `box`.

    Args:
        box: (4,) [x1, y1, x2, y2] pixels, the hand's box (the occluder overlaps its border).

    Returns:
        mask (H, W) bool, colors (H, W, 3) float32 (valid where `mask`).
    """
    x1, y1, x2, y2 = box
    bw, bh = max(x2 - x1, 4.0), max(y2 - y1, 4.0)
    cx = rng.uniform(x1, x2) + rng.choice([-1, 1]) * bw * rng.uniform(0.3, 0.7)
    cy = rng.uniform(y1, y2) + rng.choice([-1, 1]) * bh * rng.uniform(0.3, 0.7)
    mask = np.zeros((height, width), np.uint8)
    shift = 4  # sub-pixel precision of cv2 drawing
    if rng.uniform() < 0.5:
        axes = (int(bw * rng.uniform(0.15, 0.4) * 16), int(bh * rng.uniform(0.15, 0.4) * 16))
        cv2.ellipse(mask, (int(cx * 16), int(cy * 16)), axes, float(rng.uniform(0, 180)), 0, 360,
                    1, -1, cv2.LINE_8, shift)
    else:
        n = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.15, 0.45, n) * max(bw, bh)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1) * 16
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1, cv2.LINE_8, shift)
    color = rng.uniform(0, 1, 3).astype(np.float32)
    shading = _smooth_noise(rng, height, width, 4, 1) * 0.4 + 0.8
    return mask.astype(bool), np.clip(color * shading, 0, 1).astype(np.float32)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode (H, W, 3) uint8 RGB as JPEG at `quality` and decode it (deterministic)."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("jpeg_roundtrip: OpenCV could not encode the image.")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def _motion_kernel(rng: np.random.Generator, length: float) -> np.ndarray:
    k = int(np.ceil(length)) | 1
    kernel = np.zeros((k, k), np.uint8)
    a = rng.uniform(0, np.pi)
    c, d = (k - 1) / 2, (length - 1) / 2
    cv2.line(kernel, (round((c - d * np.cos(a)) * 16), round((c - d * np.sin(a)) * 16)),
             (round((c + d * np.cos(a)) * 16), round((c + d * np.sin(a)) * 16)), 255, 1,
             cv2.LINE_AA, 4)
    kernel = kernel.astype(np.float32)
    return kernel / max(kernel.sum(), 1e-6)


def finish_image(rng: np.random.Generator, img: np.ndarray,
                 dom: Domain = DOMAINS["default"]) -> np.ndarray:
    """Camera effects on a float [0, 1] (H, W, 3) image → uint8, at the rates of `dom`: white
    balance and exposure gains, Gaussian blur, motion blur, luminance noise, signal-dependent
    colour noise, an in-camera JPEG pass. The writers' own JPEG encoding (random quality per
    image) comes after. Geometry is untouched: labels never depend on these effects."""
    size = min(img.shape[:2]) / 224
    if dom.white_balance > 0:
        gain = np.clip(rng.normal(1, dom.white_balance, 3), 0.7, 1.3) * rng.uniform(0.75, 1.25)
        img = img * gain.astype(np.float32)
    if rng.uniform() < dom.blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.2)))
    if dom.motion_blur > 0 and rng.uniform() < dom.motion_blur:
        img = cv2.filter2D(img, -1, _motion_kernel(rng, rng.uniform(3, 9) * size),
                           borderType=cv2.BORDER_REFLECT)
    sigma = rng.uniform(0.0, dom.noise)  # luminance noise (one draw per pixel, shared by channels)
    noise = rng.standard_normal((*img.shape[:2], 1), dtype=np.float32) * np.float32(sigma)
    img = img + noise
    if dom.shot_noise > 0:
        s = np.float32(rng.uniform(0, dom.shot_noise))
        img = img + rng.standard_normal(img.shape, dtype=np.float32) * s * \
            np.sqrt(np.clip(img, 0, 1))
    out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if dom.jpeg > 0 and rng.uniform() < dom.jpeg:
        out = jpeg_roundtrip(out, int(rng.integers(20, 76)))
    return out
