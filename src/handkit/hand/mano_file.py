"""Reading the user's own MANO pickle (v1.2) without chumpy, checking it, caching it as .npz.

handkit never ships or downloads MANO (MPI licence): the user downloads ``MANO_RIGHT.pkl`` /
``MANO_LEFT.pkl`` from https://mano.is.tue.mpg.de and points handkit at the folder with
``--mano DIR`` or ``HANDKIT_MANO_DIR`` (`find_mano_dir`). A model option ``mano_dir`` (from a
config or a checkpoint) is resolved by `resolve_mano_dir`: empty means ``HANDKIT_MANO_DIR``; a
folder that does not exist on this machine (a checkpoint trained elsewhere) falls back to
``HANDKIT_MANO_DIR`` with a warning naming both, so checkpoints stay portable.

The released pickles hold chumpy objects (``shapedirs`` is a ``chumpy.reordering.Select`` of a
``chumpy.ch.Ch``) and a scipy ``csc_matrix`` ``J_regressor`` (specs/mesh.md §1.1). They are read
with `handkit.utils.safe_pickle.load_pickle` and an allow-list that maps exactly those classes
to stand-ins turned into numpy arrays: chumpy and scipy are never imported, and any other
global (``os.system``, another chumpy class) is refused with its name, before anything runs.

The arrays are cached beside the pickle as ``<stem>.handkit.npz`` (or in ``cache_dir``), with
the SHA-256 of the pickle inside: a stale cache is rebuilt, a file of that name that handkit did
not write is never overwritten, and writes are atomic.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from handkit.utils.safe_pickle import ARRAY_GLOBALS, load_pickle
from handkit.utils.files import write_npz

__all__ = ["MANO_FILES", "MANO_ENV", "MANO_URL", "MANO_PARENTS", "ManoData", "ManoFileError",
           "find_mano_dir", "resolve_mano_dir", "mano_file", "read_mano", "rest_chirality",
           "has_left_shapedirs_bug"]

MANO_FILES = {"right": "MANO_RIGHT.pkl", "left": "MANO_LEFT.pkl"}
MANO_ENV = "HANDKIT_MANO_DIR"
MANO_URL = "https://mano.is.tue.mpg.de"
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
"""Parent of each of MANO's 16 joints (wrist, index×3, middle×3, pinky×3, ring×3, thumb×3)."""
_GET_IT = f"download MANO v1.2 from {MANO_URL}; handkit never ships or downloads it"
_CACHE_FORMAT = "handkit-mano-cache-1"


class ManoFileError(ValueError):
    """A MANO file that cannot be used: "<file>: <key>: <what is wrong>. <likely fix>"."""


def find_mano_dir(arg: str | Path | None) -> Path:
    """The MANO folder: `arg` (the ``--mano DIR`` flag) if given, else ``$HANDKIT_MANO_DIR``.

    Raises:
        ManoFileError: neither is set, or the path is not a folder.
    """
    source = "--mano" if arg else MANO_ENV
    value = arg or os.environ.get(MANO_ENV)
    if not value:
        raise ManoFileError(f"no MANO folder: pass --mano DIR or set {MANO_ENV}=DIR, DIR holding "
                            f"MANO_RIGHT.pkl ({_GET_IT}).")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ManoFileError(f"{source}={value}: not a folder; point it at the folder holding "
                            f"MANO_RIGHT.pkl ({_GET_IT}).")
    return path


def resolve_mano_dir(recorded: str | Path | None) -> Path:
    """The MANO folder of a model built from options (a config, or a checkpoint's config).

    - `recorded` None or "": ``$HANDKIT_MANO_DIR`` (`find_mano_dir`).
    - `recorded` a folder on this machine: it.
    - otherwise (the folder the model was trained with, on another machine): the folder in
      ``$HANDKIT_MANO_DIR``, with a warning naming both (MANO v1.2 is one file, the same
      everywhere; the joints and mesh then come from your copy of it).

    Raises:
        ManoFileError: nothing usable; the message names the recorded folder and the variable.
    """
    if not recorded:
        return find_mano_dir(None)
    path = Path(recorded).expanduser()
    if path.is_dir():
        return path
    env = os.environ.get(MANO_ENV)
    if env and Path(env).expanduser().is_dir():
        warnings.warn(f"mano_dir {recorded} (recorded in the config or checkpoint) is not a "
                      f"folder here; using {MANO_ENV}={env}.", stacklevel=2)
        return Path(env).expanduser()
    raise ManoFileError(f"mano_dir {recorded} (recorded in the config or checkpoint) is not a "
                        f"folder on this machine and {MANO_ENV} is " + (
                            f"{env!r}, not a folder" if env else "not set") +
                        f"; set {MANO_ENV}=DIR to your MANO folder ({_GET_IT}).")


def mano_file(directory: str | Path, side: Literal["right", "left"]) -> Path:
    """``DIR/MANO_RIGHT.pkl`` (or ``DIR/models/...``, the layout of MPI's zip) for `side`."""
    name = MANO_FILES[side]
    for candidate in (Path(directory) / name, Path(directory) / "models" / name):
        if candidate.is_file():
            return candidate
    raise ManoFileError(f"{directory}: {name} not found (nor in models/); {_GET_IT}.")


@dataclass(frozen=True)
class ManoData:
    """The arrays handkit uses from one MANO pickle (specs/mesh.md §1.1), float64 unless said."""

    v_template: np.ndarray  # (778, 3) rest mesh, meters
    shapedirs: np.ndarray  # (778, 3, 10) shape blend shapes, meters per unit coefficient
    posedirs: np.ndarray  # (778, 3, 135) pose blend shapes (per entry of R_k - I, k = 1..15)
    J_regressor: np.ndarray  # (16, 778) dense; rows sum to 1
    weights: np.ndarray  # (778, 16) skinning weights; rows sum to 1
    hands_components: np.ndarray  # (45, 45) finger-pose PCA basis, one component per row
    hands_mean: np.ndarray  # (45,) mean finger pose, axis-angle, radians
    faces: np.ndarray  # (1538, 3) int64 vertex ids


# ---- the chumpy / scipy stand-ins -------------------------------------------------------------
class _StandIn:
    """Receives the pickled state of a chumpy or scipy object; `array()` turns it into numpy."""

    kind = ""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise TypeError(f"{self.kind}: expected a state dict, got {type(state).__name__}")
        self.state = state

    def field(self, name: str) -> Any:
        if name not in getattr(self, "state", {}):
            raise KeyError(f"{self.kind} object without {name!r}")
        return self.state[name]


class _Ch(_StandIn):
    kind = "chumpy.ch.Ch"  # a plain chumpy array: the values are its `x`

    def array(self) -> np.ndarray:
        return _as_array(self.field("x"))


class _Select(_StandIn):
    kind = "chumpy.reordering.Select"  # a.ravel()[idxs].reshape(preferred_shape)

    def array(self) -> np.ndarray:
        flat = _as_array(self.field("a")).ravel()
        return flat[np.asarray(self.field("idxs"), np.int64)].reshape(self.field("preferred_shape"))


class _Sparse(_StandIn):
    kind = "scipy.sparse matrix"
    compressed_axis = 1  # csc: indptr runs over columns

    def array(self) -> np.ndarray:
        shape = tuple(int(n) for n in self.state.get("_shape", self.state.get("shape", ())))
        data, indices = np.asarray(self.field("data")), np.asarray(self.field("indices"), np.int64)
        indptr = np.asarray(self.field("indptr"), np.int64)
        if len(shape) != 2 or len(indptr) != shape[self.compressed_axis] + 1 \
                or len(data) != len(indices) or indptr[-1] != len(data):
            raise ValueError(f"{self.kind}: inconsistent shape/indptr/indices/data")
        dense = np.zeros(shape, np.float64)
        outer = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        rows, cols = (indices, outer) if self.compressed_axis == 1 else (outer, indices)
        np.add.at(dense, (rows, cols), data)
        return dense


class _SparseCSR(_Sparse):
    compressed_axis = 0


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """copyreg._reconstructor (protocol 0/1 pickles), for the stand-ins only."""
    if not (isinstance(cls, type) and issubclass(cls, _StandIn)) or base is not object:
        raise TypeError(f"copyreg._reconstructor: refusing to build {cls!r} from {base!r}")
    return object.__new__(cls)


def _as_array(value: Any) -> np.ndarray:
    return value.array() if isinstance(value, _StandIn) else np.asarray(value)


_MANO_GLOBALS = {**ARRAY_GLOBALS,
                 ("chumpy.ch", "Ch"): _Ch, ("chumpy.reordering", "Select"): _Select,
                 ("copyreg", "_reconstructor"): _reconstructor, ("builtins", "object"): object}
for _module in ("scipy.sparse.csc", "scipy.sparse._csc"):
    _MANO_GLOBALS[(_module, "csc_matrix")] = _Sparse
for _module in ("scipy.sparse.csr", "scipy.sparse._csr"):
    _MANO_GLOBALS[(_module, "csr_matrix")] = _SparseCSR


# ---- checking --------------------------------------------------------------------------------
_SHAPES = {"v_template": (778, 3), "shapedirs": (778, 3, 10), "posedirs": (778, 3, 135),
           "J_regressor": (16, 778), "weights": (778, 16), "hands_components": (45, 45),
           "hands_mean": (45,)}


def _fail(path: Path, key: str, problem: str) -> ManoFileError:
    return ManoFileError(f"{path}: {key}: {problem}. Is this MANO v1.2's {path.name}? "
                         f"If not, {_GET_IT}.")


def _check(raw: Any, path: Path) -> dict[str, np.ndarray]:
    """Validate the pickle's dict and return float64 arrays (+ int64 faces, parents)."""
    if not isinstance(raw, dict):
        raise _fail(path, "(top level)", f"expected a dict, got {type(raw).__name__}")
    out: dict[str, np.ndarray] = {}
    for key in (*_SHAPES, "kintree_table", "f"):
        if key not in raw:
            raise _fail(path, key, "missing key")
        try:
            out[key] = _as_array(raw[key])
        except (KeyError, ValueError, TypeError, IndexError) as err:
            raise _fail(path, key, f"cannot be read as an array ({err})") from None
    for key, shape in _SHAPES.items():
        if out[key].shape != shape:
            raise _fail(path, key, f"expected shape {shape}, got {out[key].shape}")
        if out[key].dtype.kind not in "fiu" or not np.isfinite(out[key]).all():
            raise _fail(path, key, "not a finite numeric array")
        out[key] = out[key].astype(np.float64)
    for key in ("J_regressor", "weights"):
        if np.abs(out[key].sum(1) - 1).max() > 1e-4:
            raise _fail(path, key, "rows must sum to 1")
    kintree = out.pop("kintree_table")
    parents = kintree[0].astype(np.int64) if kintree.ndim == 2 and kintree.shape[1] == 16 else None
    if parents is None or parents[0] not in (-1, 4294967295) \
            or tuple(parents[1:]) != MANO_PARENTS[1:]:
        raise _fail(path, "kintree_table", f"row 0 must hold MANO's parents {list(MANO_PARENTS)} "
                                           f"(root -1 or 4294967295), got {kintree.tolist()}")
    faces = out.pop("f")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu" \
            or faces.min() < 0 or faces.max() >= 778:
        raise _fail(path, "f", f"expected (F, 3) vertex ids in [0, 778), got {faces.dtype} "
                               f"{faces.shape}")
    out["faces"] = faces.astype(np.int64)
    return out


def rest_chirality(v_template: np.ndarray, J_regressor: np.ndarray) -> float:
    """+1-ish for a right hand, −1-ish for a left one (cosine, rest joints J = 𝒥·T̄).

    The palm normal (wrist→index MCP × wrist→pinky MCP) against the wrist→thumb-CMC direction:
    the thumb sits on the palm side, so mirroring (a left hand) flips the sign. About +0.29 for
    MANO's right hand (its published rest joints) and −0.29 for the left.
    """
    J = J_regressor @ v_template
    a, b, c = J[1] - J[0], J[7] - J[0], J[13] - J[0]
    return float(np.cross(a, b) @ c / (np.linalg.norm(a) * np.linalg.norm(b) * np.linalg.norm(c)))


def _check_side(arrays: dict[str, np.ndarray], path: Path, side: str) -> None:
    chirality = rest_chirality(arrays["v_template"], arrays["J_regressor"])
    actual = "right" if chirality > 0 else "left"
    if abs(chirality) > 0.1 and actual != side:
        raise ManoFileError(f"{path}: v_template: this is a {actual}-hand model (thumb on the "
                            f"{actual}-hand side of the palm) loaded as side={side!r}; pass "
                            f"side={actual!r} or use {MANO_FILES[side]}.")


# ---- cache -----------------------------------------------------------------------------------
def _cache_path(path: Path, sha: str, cache_dir: Path | None) -> Path:
    if cache_dir is None:
        return path.with_name(f"{path.stem}.handkit.npz")
    return Path(cache_dir) / f"{path.stem}-{sha[:16]}.handkit.npz"


def _read_cache(cache: Path, sha: str) -> dict[str, np.ndarray] | None | Literal[False]:
    """The cached arrays; None if absent or stale (rewrite it); False if not handkit's file."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as npz:
            if "handkit_format" not in npz.files or str(npz["handkit_format"]) != _CACHE_FORMAT:
                return False
            if str(npz["source_sha256"]) != sha:
                return None
            return {k: npz[k] for k in npz.files if k not in ("handkit_format", "source_sha256")}
    except (OSError, ValueError, KeyError):
        return False  # unreadable: maybe not ours, leave it alone


def _write_cache(cache: Path, arrays: dict[str, np.ndarray], sha: str) -> None:
    write_npz(cache, handkit_format=np.array(_CACHE_FORMAT), source_sha256=np.array(sha),
              **arrays)


def read_mano(path: str | Path, *, side: Literal["right", "left"], cache: bool = True,
              cache_dir: str | Path | None = None) -> ManoData:
    """Read, check and (by default) cache one MANO pickle.

    Args:
        path: ``MANO_RIGHT.pkl`` or ``MANO_LEFT.pkl`` (v1.2).
        side: which hand the file must be; a left model passed as right (or the reverse) is an
            error, told by the rest pose's chirality (`rest_chirality`).
        cache: read/write the ``.npz`` cache (off: always unpickle, write nothing).
        cache_dir: where the cache lives; None = beside the pickle, as ``<stem>.handkit.npz``.

    Raises:
        FileNotFoundError / ManoFileError naming the file and the key (missing key, wrong
        shape, unexpected pickled class, wrong side). Nothing from the file is ever executed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (MANO model); {_GET_IT}.")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    target = _cache_path(path, sha, None if cache_dir is None else Path(cache_dir))
    cached = _read_cache(target, sha) if cache else None
    if cached is False:
        warnings.warn(f"{target}: exists but handkit did not write it; leaving it alone and "
                      "reading the pickle (pass cache_dir= to cache elsewhere).", stacklevel=2)
    if isinstance(cached, dict):
        arrays = cached
    else:
        try:
            raw = load_pickle(path, what="MANO model", allowed=_MANO_GLOBALS)
        except ValueError as err:
            raise ManoFileError(f"{err} A MANO file may only hold numpy arrays, chumpy Ch/Select "
                                f"and a scipy sparse J_regressor.") from None
        arrays = _check(raw, path)
        if cache and cached is None:  # absent or stale: (re)write it
            try:
                _write_cache(target, arrays, sha)
            except OSError as err:
                warnings.warn(f"{target}: cannot write the MANO cache ({err}); reading the "
                              "pickle each time.", stacklevel=2)
    _check_side(arrays, path, side)
    return ManoData(**{f.name: arrays[f.name] for f in fields(ManoData)})


def has_left_shapedirs_bug(left: ManoData, right: ManoData) -> bool:
    """MANO v1.2's left ``shapedirs[:, 0, :]`` has the right hand's sign (smplx issue #48).

    A mirrored model must have the x rows negated; the released left file has them equal to the
    right's. The test is InterHand2.6M's / DIGIT's: Σ|left[:, 0] − right[:, 0]| < 1.
    """
    return float(np.abs(left.shapedirs[:, 0] - right.shapedirs[:, 0]).sum()) < 1.0
