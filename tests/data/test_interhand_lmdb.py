"""DIGIT's LMDB of InterHand images and masks: keys, identical bytes, the reader reads it."""

import json

import cv2
import numpy as np
import pytest

from handkit.data.formats._io import read_image
from handkit.data.formats.interhand import InterHand26M
from handkit.data.formats.interhand_lmdb import InterHandLMDB, _encode, pack_interhand_lmdb


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("interhand", tmp_path_factory.mktemp("ih"), 20, seed=1, size=128,
                      progress=False)


def test_pack_keys_bytes_and_pixels(synth, tmp_path):
    from handkit.cli import main

    out = tmp_path / "interhand.lmdb"
    assert main(["pack", "--data", str(synth), "--format", "interhand", "--digit-lmdb", "images",
                 "--out", str(out)]) == 0
    db = InterHandLMDB(out)
    names = []
    for split in ("train", "val", "test"):
        data = json.loads((synth / f"annotations/{split}/InterHand2.6M_{split}_data.json")
                          .read_text())
        names += [f"{split}/{img['file_name']}" for img in data["images"]]
    assert db.keys() == names and len(db) == 20 and names[0].endswith(".jpg")
    for key in names[:5]:
        path = synth / "images" / key
        assert db.get(key) == _encode(path, "images")  # the bytes written come back
        assert np.array_equal(db.image(key), read_image(path))  # RGB, lossless PNG
    with pytest.raises(FileExistsError, match="exists"):
        pack_interhand_lmdb(synth, out)


def test_the_reader_gives_the_same_samples_from_lmdb(synth, tmp_path):
    images = tmp_path / "interhand.lmdb"
    masks = tmp_path / "segm_32.lmdb"
    assert pack_interhand_lmdb(synth, images, splits=["train"]) == 16
    assert pack_interhand_lmdb(synth, masks, what="masks", splits=["train"]) == 16
    value = InterHandLMDB(masks).get(InterHandLMDB(masks).keys()[0])
    assert cv2.imdecode(np.frombuffer(value, np.uint8), cv2.IMREAD_UNCHANGED).shape[2] == 3
    files = InterHand26M(synth, "train")
    packed = InterHand26M(synth, "train", images_lmdb=images, masks_lmdb=masks)
    for k in range(len(files)):
        a, b = files[k], packed[k]
        assert np.array_equal(a.image, b.image) and np.array_equal(a.part_seg, b.part_seg)
    empty = tmp_path / "none.lmdb"
    pack_interhand_lmdb(synth, empty, what="masks", splits=["val"])
    assert InterHand26M(synth, "train", masks_lmdb=empty)[0].part_seg is None  # no key: no mask
