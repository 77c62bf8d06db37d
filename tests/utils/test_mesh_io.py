"""OBJ / PLY writers and the minimal reader: round trips, on-disk conventions, overwriting."""
import numpy as np
import pytest

from handkit.utils.mesh_io import SIGNATURE, read_mesh, write_mesh, write_obj, write_ply

# A tetrahedron, meters, float32-representable values; outward winding.
VERTS = np.array([[0.0, 0.0, 0.5], [0.1, 0.0, 0.5], [0.0, 0.1, 0.5], [0.0, 0.0, 0.6]],
                 np.float32) + np.float32(1e-7)
FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
COLORS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)


@pytest.mark.parametrize("name, kwargs", [("m.obj", {}), ("m.ply", {}),
                                          ("m.ply", {"encoding": "ascii"}),
                                          ("c.ply", {"colors": COLORS}),
                                          ("c.obj", {"colors": COLORS})])
def test_round_trip_is_exact_for_float32(tmp_path, name, kwargs):
    rng = np.random.default_rng(0)
    verts = rng.normal(0, 0.05, (300, 3)).astype(np.float32) + np.float32([0, 0, 0.7])
    faces = rng.integers(0, 300, (500, 3))
    colors = kwargs.pop("colors", None)
    if colors is not None:
        verts, faces = VERTS, FACES
    path = write_mesh(tmp_path / name, verts, faces, colors=colors, **kwargs)
    v, f = read_mesh(path)
    assert v.dtype == np.float32 and f.dtype == np.int64
    np.testing.assert_array_equal(v, verts)  # 9 significant digits / raw float32: bit-exact
    np.testing.assert_array_equal(f, faces)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_obj_indices_are_one_based_on_disk(tmp_path):
    text = write_obj(tmp_path / "t.obj", VERTS, FACES).read_text().splitlines()
    assert text[0] == f"# {SIGNATURE}"
    assert [ln for ln in text if ln.startswith("f ")] == ["f 1 3 2", "f 1 2 4", "f 1 4 3", "f 2 3 4"]
    assert sum(ln.startswith("v ") for ln in text) == 4


def test_ply_binary_layout_is_little_endian_float32_and_uchar_int_lists(tmp_path):
    data = write_ply(tmp_path / "t.ply", VERTS, FACES).read_bytes()
    head, body = data.split(b"end_header\n")
    assert b"format binary_little_endian 1.0" in head
    assert b"property list uchar int vertex_indices" in head
    assert len(body) == 4 * 12 + 4 * 13  # 3 float32 per vertex; 1 + 3·4 bytes per face
    np.testing.assert_array_equal(np.frombuffer(body[:12], "<f4"), VERTS[0])
    assert body[48] == 3 and np.frombuffer(body[49:61], "<i4").tolist() == [0, 2, 1]


def test_reader_accepts_other_tools_files(tmp_path):
    obj = tmp_path / "quad.obj"  # texture/normal ids, a quad, relative (negative) ids
    obj.write_text("o thing\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\n"
                   "f 1/1/1 2/1/1 3/1/1 4/1/1\nf -4 -2 -1\n")
    v, f = read_mesh(obj)
    assert v.shape == (4, 3) and f.tolist() == [[0, 1, 2], [0, 2, 3], [0, 2, 3]]
    ply = tmp_path / "other.ply"  # double coordinates, normals, comments, ascii
    ply.write_text("ply\nformat ascii 1.0\ncomment made elsewhere\nelement vertex 3\n"
                   "property double x\nproperty double y\nproperty double z\nproperty float nx\n"
                   "property float ny\nproperty float nz\nelement face 1\n"
                   "property list uchar uint vertex_indices\nend_header\n"
                   "0 0 1 0 0 1\n1 0 1 0 0 1\n0 1 1 0 0 1\n3 0 1 2\n")
    v, f = read_mesh(ply)
    np.testing.assert_array_equal(v, [[0, 0, 1], [1, 0, 1], [0, 1, 1]])
    assert f.tolist() == [[0, 1, 2]]


def test_overwrites_its_own_files_but_not_others(tmp_path):
    path = write_ply(tmp_path / "m.ply", VERTS, FACES)
    write_ply(path, VERTS * 2, FACES)  # handkit wrote it: replaced
    np.testing.assert_array_equal(read_mesh(path)[0], VERTS * 2)
    foreign = tmp_path / "scan.obj"
    foreign.write_text("v 0 0 0\n")
    with pytest.raises(FileExistsError, match=r"scan\.obj: exists and was not written by "
                                              r"handkit; pass overwrite=True"):
        write_obj(foreign, VERTS, FACES)
    assert foreign.read_text() == "v 0 0 0\n"
    write_obj(foreign, VERTS, FACES, overwrite=True)
    assert read_mesh(foreign)[1].shape == (4, 3)


@pytest.mark.parametrize("call, error, message", [
    (lambda p: write_mesh(p / "m.stl", VERTS, FACES), ValueError, r"m\.stl: unknown mesh suffix '\.stl'"),
    (lambda p: write_obj(p / "m.obj", VERTS[None], FACES), ValueError,
     r"vertices: expected \(V, 3\), got \(1, 4, 3\)\. one mesh at a time"),
    (lambda p: write_obj(p / "m.obj", VERTS, FACES + 1), ValueError, r"faces: expected integer vertex ids in \[0, 4\)"),
    (lambda p: write_obj(p / "m.obj", VERTS * np.nan, FACES), ValueError, r"vertices: contains NaN"),
    (lambda p: write_ply(p / "m.ply", VERTS, FACES, colors=COLORS / 255), ValueError, r"colors: expected uint8"),
    (lambda p: write_ply(p / "m.ply", VERTS, FACES, encoding="binary_big_endian"), ValueError,
     r"encoding: unknown value 'binary_big_endian'"),
    (lambda p: read_mesh(p / "none.ply"), FileNotFoundError, r"none\.ply: missing \(mesh file\)"),
])
def test_bad_input_names_the_argument(tmp_path, call, error, message):
    with pytest.raises(error, match=message):
        call(tmp_path)


def test_reader_refuses_unsupported_ply(tmp_path):
    path = tmp_path / "big.ply"
    path.write_bytes(b"ply\nformat binary_big_endian 1.0\nelement vertex 0\nproperty float x\n"
                     b"element face 0\nproperty list uchar int vertex_indices\nend_header\n")
    with pytest.raises(ValueError, match=r"big\.ply: PLY format 'binary_big_endian' is not supported"):
        read_mesh(path)
    path.write_bytes(write_ply(tmp_path / "ok.ply", VERTS, FACES).read_bytes()[:-5])
    with pytest.raises(ValueError, match=r"big\.ply: truncated"):
        read_mesh(path)
