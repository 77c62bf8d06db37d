"""Triangle meshes to and from files: Wavefront OBJ and PLY (binary little-endian or ASCII).

**Conventions:** vertices (V, 3) in the caller's unit and frame (meters, camera frame in
handkit: x right, y down, z forward), stored as float32 (exact round trip of float32 input);
faces (F, 3) int vertex ids, 0-based in memory. OBJ indices are 1-based on disk (the format's
rule); PLY's are 0-based. The winding is kept as given (handkit's models wind outward).

**Overwriting:** a writer is atomic (`utils.files`) and replaces an existing file
only if handkit wrote it (its first lines carry `SIGNATURE`) or if `overwrite=True` is passed;
any other existing file raises FileExistsError. So re-running a prediction refreshes its own
meshes but never clobbers a user's file by accident; an explicit `overwrite=True` is the
user's say-so.

`read_mesh` is a minimal reader for these files and simple ones from other tools: OBJ `v`/`f`
lines (polygons fan-triangulated, `f a/b/c` texture/normal ids ignored, negative ids
resolved); PLY with one `vertex` and one `face` element (any scalar vertex properties, x/y/z
read; face lists of triangles), ASCII or binary little-endian.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from handkit.utils.check import check_finite, check_shape
from handkit.utils.files import write_bytes

__all__ = ["SIGNATURE", "write_mesh", "write_obj", "write_ply", "read_mesh"]

SIGNATURE = "written by handkit"
"""A comment line every handkit mesh file carries; it makes the file safe to replace."""

_SUFFIXES = (".obj", ".ply")
_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2",
              "int16": "i2", "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4",
              "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4", "double": "f8",
              "float64": "f8"}


def _checked(vertices: Any, faces: Any, colors: Any) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray | None]:
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces)
    n = check_shape(v, "V 3", name="vertices",
                    hint="one mesh at a time: index the batch, e.g. out.vertices[0].")["V"]
    check_finite(v, name="vertices")
    check_shape(f, "F 3", name="faces", allow_empty=True)
    if f.size and (f.dtype.kind not in "iu" or f.min() < 0 or f.max() >= n):
        raise ValueError(f"faces: expected integer vertex ids in [0, {n}), got dtype {f.dtype}, "
                         f"range [{f.min()}, {f.max()}].")
    c = None
    if colors is not None:
        c = np.asarray(colors)
        check_shape(c, f"{n} 3", name="colors")
        if c.dtype != np.uint8:
            raise ValueError(f"colors: expected uint8 RGB (0-255), got {c.dtype}.")
    return v, f.astype(np.int64), c


def _target(path: str | Path, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        with open(path, "rb") as fh:
            head = fh.read(256)
        if SIGNATURE.encode() not in head:
            raise FileExistsError(f"{path}: exists and was not written by handkit; pass "
                                  "overwrite=True to replace it, or choose another path.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_obj(path: str | Path, vertices: Any, faces: Any, *, colors: Any = None,
              overwrite: bool = False) -> Path:
    """Write a Wavefront OBJ: ``v x y z`` lines (``v x y z r g b`` with colours in [0, 1], the
    MeshLab extension) and 1-based ``f i j k`` lines.

    Args:
        path: the .obj file.
        vertices: (V, 3) float, any unit (meters in handkit).
        faces: (F, 3) int, 0-based vertex ids.
        colors: optional (V, 3) uint8 RGB.
        overwrite: replace a file handkit did not write (see the module docstring).

    Returns:
        path.
    """
    v, f, c = _checked(vertices, faces, colors)
    path = _target(path, overwrite)
    rows = v.astype(np.float64) if c is None else np.concatenate([v, c / 255.0], 1)
    fmt = " ".join(["%.9g"] * rows.shape[1])  # 9 significant digits: float32 round trips
    lines = [f"# {SIGNATURE}", f"# {len(v)} vertices, {len(f)} faces"]
    lines += [f"v {fmt % tuple(r)}" for r in rows.tolist()]
    lines += [f"f {a} {b} {d}" for a, b, d in (f + 1).tolist()]
    return write_bytes(path, ("\n".join(lines) + "\n").encode())


def write_ply(path: str | Path, vertices: Any, faces: Any, *, colors: Any = None,
              encoding: Literal["binary", "ascii"] = "binary", overwrite: bool = False) -> Path:
    """Write a PLY: float32 x y z (+ uchar red green blue), faces as ``uchar`` count + ``int``
    0-based ids.

    Args:
        path: the .ply file.
        vertices, faces, colors, overwrite: as in `write_obj`.
        encoding: ``binary`` (little-endian, compact, the default) or ``ascii``.

    Returns:
        path.
    """
    if encoding not in ("binary", "ascii"):
        raise ValueError(f"encoding: unknown value {encoding!r}; choose one of "
                         "['ascii', 'binary'].")
    v, f, c = _checked(vertices, faces, colors)
    path = _target(path, overwrite)
    fmt = "binary_little_endian" if encoding == "binary" else "ascii"
    header = ["ply", f"format {fmt} 1.0", f"comment {SIGNATURE}", f"element vertex {len(v)}",
              "property float x", "property float y", "property float z"]
    if c is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    head = ("\n".join(header) + "\n").encode()
    vdtype = [("xyz", "<f4", (3,))] + ([("rgb", "u1", (3,))] if c is not None else [])
    vert = np.empty(len(v), dtype=vdtype)
    vert["xyz"] = v
    if c is not None:
        vert["rgb"] = c
    face = np.empty(len(f), dtype=[("n", "u1"), ("ids", "<i4", (3,))])
    face["n"], face["ids"] = 3, f
    if encoding == "binary":
        return write_bytes(path, head + vert.tobytes() + face.tobytes())
    vrows = [" ".join(["%.9g"] * 3) % tuple(r) for r in v.astype(np.float64).tolist()]
    if c is not None:
        vrows = [f"{r} {a} {b} {d}" for r, (a, b, d) in zip(vrows, c.tolist())]
    frows = [f"3 {a} {b} {d}" for a, b, d in f.tolist()]
    return write_bytes(path, head + ("\n".join(vrows + frows) + "\n").encode())


def write_mesh(path: str | Path, vertices: Any, faces: Any, **kwargs: Any) -> Path:
    """`write_obj` or `write_ply` by the suffix of `path` (``.obj``, ``.ply``); keyword
    arguments go to that writer."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"{path}: unknown mesh suffix {suffix!r}; choose one of "
                         f"{list(_SUFFIXES)}.")
    return (write_obj if suffix == ".obj" else write_ply)(path, vertices, faces, **kwargs)


def read_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an OBJ or PLY triangle mesh (the subset described in the module docstring).

    Returns:
        vertices (V, 3) float32 in the file's unit, faces (F, 3) int64 0-based.

    Raises:
        FileNotFoundError: no such file.
        ValueError: "<file>: <what is wrong>" for anything outside the supported subset.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (mesh file).")
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"{path}: unknown mesh suffix {suffix!r}; choose one of "
                         f"{list(_SUFFIXES)}.")
    v, f = _read_obj(path) if suffix == ".obj" else _read_ply(path)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"{path}: faces: vertex ids outside [0, {len(v)}).")
    return v, f


def _read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    verts: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        try:
            if parts[:1] == ["v"]:
                verts.append([float(x) for x in parts[1:4]])
            elif parts[:1] == ["f"]:
                ids = [int(p.split("/")[0]) for p in parts[1:]]
                ids = [i - 1 if i > 0 else len(verts) + i for i in ids]  # 1-based or relative
                faces += [(ids[0], ids[k], ids[k + 1]) for k in range(1, len(ids) - 1)]
        except ValueError:
            raise ValueError(f"{path}:{number}: cannot parse {line.strip()!r}.") from None
    if any(len(v) != 3 for v in verts):
        raise ValueError(f"{path}: a 'v' line has fewer than 3 coordinates.")
    return (np.asarray(verts, np.float32).reshape(-1, 3),
            np.asarray(faces, np.int64).reshape(-1, 3))


def _read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = path.read_bytes()
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise ValueError(f"{path}: not a PLY file (no 'ply' ... 'end_header' header).")
    body = data[data.index(b"\n", end) + 1:]
    fmt, elements = "", []  # elements: [name, count, [(prop, type | (count_type, item_type))]]
    for line in data[:end].decode("ascii", "replace").splitlines()[1:]:
        parts = line.split()
        if parts[:1] == ["format"]:
            fmt = parts[1]
        elif parts[:1] == ["element"]:
            elements.append([parts[1], int(parts[2]), []])
        elif parts[:1] == ["property"] and elements:
            kind = (parts[2], parts[3]) if parts[1] == "list" else parts[1]
            elements[-1][2].append((parts[-1], kind))
    if fmt not in ("ascii", "binary_little_endian"):
        raise ValueError(f"{path}: PLY format {fmt!r} is not supported; use ascii or "
                         "binary_little_endian.")
    names = [e[0] for e in elements]
    if names != ["vertex", "face"]:
        raise ValueError(f"{path}: expected the elements ['vertex', 'face'], got {names}.")
    (_, nv, vprops), (_, nf, fprops) = elements
    try:
        vdtype = np.dtype([(n, "<" + _PLY_TYPES[t]) for n, t in vprops])
        (count_t, item_t), = [k for _, k in fprops]
        fdtype = np.dtype([("n", "<" + _PLY_TYPES[count_t]), ("ids", "<" + _PLY_TYPES[item_t], (3,))])
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{path}: unsupported PLY properties {vprops} / {fprops}; need scalar "
                         "vertex properties and one face list.") from None
    if not {"x", "y", "z"} <= set(vdtype.names):
        raise ValueError(f"{path}: vertex element lacks x, y, z.")
    if fmt == "ascii":
        rows = body.decode("ascii").split("\n")
        vert = np.array([tuple(r.split()) for r in rows[:nv]], dtype=vdtype) if nv else \
            np.empty(0, vdtype)
        fl = [[int(x) for x in r.split()] for r in rows[nv:nv + nf]]
        if any(len(r) != 4 or r[0] != 3 for r in fl):
            raise ValueError(f"{path}: only triangle faces are supported.")
        ids = np.asarray(fl, np.int64).reshape(-1, 4)[:, 1:]
    else:
        need = nv * vdtype.itemsize + nf * fdtype.itemsize
        if len(body) < need:
            raise ValueError(f"{path}: truncated ({len(body)} bytes of data, header needs {need}).")
        vert = np.frombuffer(body, vdtype, nv)
        face = np.frombuffer(body, fdtype, nf, offset=nv * vdtype.itemsize)
        if nf and not (face["n"] == 3).all():
            raise ValueError(f"{path}: only triangle faces are supported.")
        ids = face["ids"].astype(np.int64)
    xyz = np.stack([vert["x"], vert["y"], vert["z"]], 1).astype(np.float32)
    return xyz.reshape(-1, 3), ids.reshape(-1, 3)
