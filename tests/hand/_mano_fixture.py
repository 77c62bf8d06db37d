"""Fabricated MANO pickles with the structure of the real v1.2 files (specs/mesh.md §5).

No MANO data is in here: every number is random or made up. What is copied is the *structure*
users have on disk: field names and shapes, ``shapedirs`` as a ``chumpy.reordering.Select`` of a
``chumpy.ch.Ch`` (written by stand-in classes registered under chumpy's module names while
pickling, chumpy is not installed), ``J_regressor`` as a scipy ``csc_matrix``, ``kintree_table``
with the uint32 −1 root, uint32 faces, protocol 2 and the module names numpy 1.x / Python 2 /
old scipy wrote (``numpy.core.multiarray``, ``scipy.sparse.csc``).

The mesh is a genuine surface with MANO's counts: a Delaunay disk of 16 boundary + 762 inner
points has exactly 1538 triangles, lifted to 3-D. Joints are means of 4 vertices placed like a
right hand in MANO's frame (wrist at +x, fingers towards −x, thumb below the palm), so the
chirality check sees a right hand; `mirror_arrays` makes the exact mirror-image left hand.
"""

from __future__ import annotations

import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.sparse
from scipy.spatial import Delaunay

PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
# made-up right-hand joint positions (x, z) in MANO's frame; y comes from the surface height
_JOINTS_XZ = np.array([
    [0.090, 0.005],                                   # wrist
    [0.005, 0.025], [-0.025, 0.028], [-0.047, 0.029],   # index
    [0.000, 0.003], [-0.030, -0.002], [-0.053, -0.006],  # middle
    [0.025, -0.038], [0.008, -0.050], [-0.007, -0.060],  # pinky
    [0.012, -0.020], [-0.015, -0.026], [-0.038, -0.033],  # ring
    [0.070, 0.032], [0.050, 0.055], [0.030, 0.070],     # thumb
])


def _height(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Surface height y (m): gently curved, with the thumb region below the palm plane."""
    thumb = np.exp(-((x - 0.06) ** 2 + (z - 0.05) ** 2) / 0.035 ** 2)
    return 0.003 * np.sin(30 * x) * np.cos(20 * z) - 0.02 * thumb


def _disk(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """778 points (16 on the circle, 762 strictly inside the 16-gon) and their 1538 triangles."""
    angles = np.arange(16) * (2 * np.pi / 16)
    boundary = np.stack([np.cos(angles), np.sin(angles)], 1)
    inner = []
    apothem = np.cos(np.pi / 16)
    while len(inner) < 762:
        p = rng.uniform(-1, 1, 2)
        if np.linalg.norm(p) < 0.97 * apothem:
            inner.append(p)
    points = np.concatenate([boundary, np.array(inner)])
    faces = Delaunay(points).simplices
    assert faces.shape == (1538, 3), faces.shape
    return points, faces


def mano_arrays(seed: int = 0, *, weights: str = "local", posedirs: str = "random") -> dict:
    """The fields of a right-hand MANO pickle as numpy arrays (dense ``J_regressor``).

    Args:
        weights: ``"local"`` (each vertex on its nearest joint and that joint's parent),
            ``"onehot"`` (nearest joint only; rigid parts) or ``"dirichlet"`` (dense random).
        posedirs: ``"random"`` (N(0, 1e-3²)) or ``"zero"``.
    """
    rng = np.random.default_rng(seed)
    disk, faces = _disk(rng)
    x, z = 0.02 + 0.1 * disk[:, 0], 0.005 + 0.1 * disk[:, 1]
    v_template = np.stack([x, _height(x, z), z], 1)
    regressor = np.zeros((16, 778))
    taken: set[int] = set()
    for j, (jx, jz) in enumerate(_JOINTS_XZ):
        order = np.argsort((x - jx) ** 2 + (z - jz) ** 2)
        ids = [int(i) for i in order if int(i) not in taken][:4]
        taken.update(ids)
        regressor[j, ids] = 0.25
    joints = regressor @ v_template
    nearest = np.argmin(((v_template[:, None] - joints[None]) ** 2).sum(-1), axis=1)
    w = np.zeros((778, 16))
    if weights == "onehot":
        w[np.arange(778), nearest] = 1.0
    elif weights == "local":
        share = rng.uniform(0.5, 1.0, 778)
        parent = np.array([max(PARENTS[j], 0) for j in nearest])
        w[np.arange(778), nearest] += share
        w[np.arange(778), parent] += 1 - share
    else:
        w = rng.dirichlet(np.ones(16), 778)
    q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    return {
        "v_template": v_template, "f": faces.astype(np.uint32),
        "shapedirs": rng.normal(0, 1e-3, (778, 3, 10)),
        "posedirs": rng.normal(0, 1e-3, (778, 3, 135)) if posedirs == "random"
        else np.zeros((778, 3, 135)),
        "J_regressor": regressor, "J": joints, "weights": w,
        "kintree_table": np.array([[4294967295, *PARENTS[1:]], list(range(16))], np.int64),
        "hands_components": q * np.linspace(1.3, 0.04, 45)[:, None],
        "hands_mean": rng.normal(0, 0.15, 45), "hands_coeffs": rng.normal(0, 1, (20, 45)),
        "bs_style": "lbs", "bs_type": "lrotmin",
    }


def mirror_arrays(arrays: dict, *, shapedirs_bug: bool = False) -> dict:
    """The exact mirror image (x → −x) of `arrays`: a left hand (specs/mesh.md §5 item 11).

    ``shapedirs_bug=True`` leaves ``shapedirs[:, 0]`` equal to the right's, as MANO v1.2's
    left file does (smplx #48).
    """
    m = np.array([-1.0, 1.0, 1.0])
    out = dict(arrays)
    out["v_template"] = arrays["v_template"] * m
    out["J"] = arrays["J"] * m
    out["shapedirs"] = arrays["shapedirs"] * (1 if shapedirs_bug else m[:, None])
    # each joint's 9 columns hold vec(R - I) row-major; mirroring maps entry (i, j) by m_i m_j
    d = np.tile(np.outer(m, m).ravel(), 15)
    out["posedirs"] = arrays["posedirs"] * m[:, None] * d
    aa_mirror = np.tile([1.0, -1.0, -1.0], 15)
    out["hands_components"] = arrays["hands_components"] * aa_mirror
    out["hands_mean"] = arrays["hands_mean"] * aa_mirror
    out["f"] = arrays["f"][:, ::-1].copy()
    return out


@contextmanager
def fake_chumpy():
    """Register stand-ins for ``chumpy.ch.Ch`` and ``chumpy.reordering.Select`` (pickling only)."""
    modules = {name: types.ModuleType(name) for name in ("chumpy", "chumpy.ch", "chumpy.reordering",
                                                          "chumpy.ch_ops")}
    classes = {}
    for module, name in (("chumpy.ch", "Ch"), ("chumpy.reordering", "Select"),
                         ("chumpy.ch_ops", "add")):
        cls = type(name, (), {"__module__": module})
        setattr(modules[module], name, cls)
        classes[name] = cls
    saved = {k: sys.modules.get(k) for k in modules}
    sys.modules.update(modules)
    try:
        yield classes
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _chumpy_state(**fields) -> dict:
    # what chumpy's Ch.__getstate__ leaves besides the terms (the weak dicts are dropped)
    return {"_dirty_vars": set(), "_itr": None, "_depends_on_deps": {}, "_make_dense": False,
            "_make_sparse": False, **fields}


def write_mano_pickle(path: Path, arrays: dict, *, shapedirs_as: str = "select",
                      j_regressor: str = "csc", protocol: int = 2, root_parent: int = 4294967295,
                      drop: tuple[str, ...] = (), extra=None,
                      chumpy_keys: tuple[str, ...] = ()) -> Path:
    """Pickle `arrays` as a MANO v1.2 file is laid out.

    Args:
        shapedirs_as: ``"select"`` (the real layout), ``"ch"`` or ``"plain"``.
        j_regressor: ``"csc"`` (the real layout), ``"csr"`` or ``"dense"``.
        root_parent: kintree root (4294967295 as in the file, or -1).
        drop: keys to leave out.
        extra: more entries (a dict, or a function of the stand-in classes returning one, for
            objects of the fake chumpy classes such as ``cls["add"]()``).
        chumpy_keys: other keys to wrap in a ``chumpy.ch.Ch``.
    """
    rng = np.random.default_rng(1)
    with fake_chumpy() as cls:
        def ch(x):
            obj = cls["Ch"]()
            obj.__dict__.update(_chumpy_state(x=x))
            return obj

        value = {k: v for k, v in arrays.items() if k not in drop}
        value["kintree_table"] = value["kintree_table"].copy()
        value["kintree_table"][0, 0] = root_parent
        if "shapedirs" in value and shapedirs_as != "plain":
            sd = value["shapedirs"]
            if shapedirs_as == "ch":
                value["shapedirs"] = ch(sd)
            else:  # Select: a.x.ravel()[idxs].reshape(preferred_shape), a bigger shuffled array
                big = rng.normal(size=sd.size + 37)
                idxs = rng.permutation(big.size)[: sd.size]
                big[idxs] = sd.ravel()
                sel = cls["Select"]()
                sel.__dict__.update(_chumpy_state(a=ch(big.reshape(-1, 1)), idxs=idxs,
                                                  preferred_shape=sd.shape))
                value["shapedirs"] = sel
        for key in chumpy_keys:
            value[key] = ch(value[key])
        if "J_regressor" in value and j_regressor != "dense":
            make = scipy.sparse.csc_matrix if j_regressor == "csc" else scipy.sparse.csr_matrix
            value["J_regressor"] = make(value["J_regressor"])
        value.update((extra(cls) if callable(extra) else extra) or {})
        data = pickle.dumps(value, protocol=protocol)
    for new, old in ((b"numpy._core", b"numpy.core"), (b"scipy.sparse._csc", b"scipy.sparse.csc"),
                     (b"scipy.sparse._csr", b"scipy.sparse.csr")):
        data = data.replace(new, old)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
