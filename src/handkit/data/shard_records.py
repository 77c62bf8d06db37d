"""One `Sample` ⇄ one self-describing byte record (no pickle), as stored in a shard.

Record layout: ``b"HKS1"``, a little-endian uint32 header length, a UTF-8 JSON header, then the
array blobs. The header holds the string/int fields, the JSON-able extras and, per array,
``[encoding, dtype, shape, offset, nbytes]`` with encoding ``raw`` (exact bytes), ``jpeg``
(simplejpeg, the image only), ``png`` (lossless, the image and part_seg) or ``bits``
(``np.packbits`` of a bool array: masks cost 1 bit a pixel).
"""

from __future__ import annotations

import json
import struct
from typing import Any, Literal

import cv2
import numpy as np
import simplejpeg

from handkit.data.formats._io import decode_image
from handkit.data.schema import Sample, SampleError
from handkit.utils.check import check_choice

__all__ = ["encode_sample", "decode_sample", "CODECS"]

CODECS = ("jpeg", "png")
_MAGIC = b"HKS1"
_ARRAYS = ("image", "keypoints_2d", "joint_valid", "is_right", "K", "keypoints_3d",
           "joint_visible", "scale", "mask", "part_seg", "vertices")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a shard record")


def _encode_array(name: str, value: np.ndarray, codec: str, quality: int) -> tuple[str, bytes]:
    if name == "image" and codec == "jpeg":
        return "jpeg", simplejpeg.encode_jpeg(np.ascontiguousarray(value), quality=quality,
                                              colorspace="RGB")
    if name == "image" or name == "part_seg":
        img = cv2.cvtColor(value, cv2.COLOR_RGB2BGR) if value.ndim == 3 else value
        ok, data = cv2.imencode(".png", img)
        if not ok:
            raise SampleError(f"{name}: PNG encoding failed.")
        return "png", data.tobytes()
    if value.dtype == np.bool_:
        return "bits", np.packbits(value, axis=None).tobytes()
    return "raw", np.ascontiguousarray(value).tobytes()


def encode_sample(sample: Sample, *, codec: Literal["jpeg", "png"] = "jpeg",
                  quality: int = 95) -> bytes:
    """Serialise a Sample (validated first) into one record.

    Args:
        codec: how the image is stored: ``jpeg`` (lossy, small, fast to decode) or ``png``
            (lossless).
        quality: JPEG quality, 1-100.

    Raises:
        SampleError: the sample is invalid or an extra is not JSON-able nor a numpy array.
    """
    check_choice(codec, CODECS, name="codec")
    sample.validate()
    blobs, arrays, offset = [], {}, 0
    extras_json: dict[str, Any] = {}
    items = [(n, getattr(sample, n)) for n in _ARRAYS]
    for key, value in sample.extras.items():
        if isinstance(value, np.ndarray):
            items.append((f"extras/{key}", value))
        else:
            extras_json[key] = value
    for name, value in items:
        if value is None:
            continue
        value = np.asarray(value)
        encoding, data = _encode_array(name, value, codec, quality)
        arrays[name] = [encoding, value.dtype.str, list(value.shape), offset, len(data)]
        blobs.append(data)
        offset += len(data)
    header = {"dataset": sample.dataset, "sample_id": sample.sample_id,
              "video_id": sample.video_id, "frame_id": int(sample.frame_id),
              "extras": extras_json, "arrays": arrays}
    try:
        head = json.dumps(header, default=_json_default).encode()
    except (TypeError, ValueError) as err:
        raise SampleError(f"{sample.sample_id}: extras: {err}; store arrays or JSON-able "
                          "values only.") from None
    return b"".join([_MAGIC, struct.pack("<I", len(head)), head, *blobs])


def _decode_array(encoding: str, dtype: str, shape: list[int], data: bytes) -> np.ndarray:
    if encoding == "jpeg":
        out = simplejpeg.decode_jpeg(data, colorspace="RGB")
    elif encoding == "png":
        out = decode_image(data, cv2.IMREAD_UNCHANGED, "PNG data")
        if out.ndim == 3:
            out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    elif encoding == "bits":
        count = int(np.prod(shape))
        out = np.unpackbits(np.frombuffer(data, np.uint8), count=count).astype(bool)
    elif encoding == "raw":
        out = np.frombuffer(data, dtype=np.dtype(dtype)).copy()
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    out = out.reshape(shape)
    if out.dtype != np.dtype(dtype):
        raise ValueError(f"decoded dtype {out.dtype}, header says {dtype}")
    return out


def decode_sample(record: bytes, *, where: str = "record") -> Sample:
    """Inverse of `encode_sample`.

    Raises:
        SampleError: "<where>: <field>: ..." for a truncated or corrupt record.
    """
    field = "header"
    try:
        if record[:4] != _MAGIC:
            raise ValueError("not a handkit shard record (bad magic)")
        (size,) = struct.unpack("<I", record[4:8])
        header = json.loads(record[8:8 + size])
        base = 8 + size
        values: dict[str, np.ndarray] = {}
        for field, (encoding, dtype, shape, offset, nbytes) in header["arrays"].items():
            data = record[base + offset: base + offset + nbytes]
            if len(data) != nbytes:
                raise ValueError(f"truncated ({len(data)} of {nbytes} bytes)")
            values[field] = _decode_array(encoding, dtype, shape, data)
        field = "fields"
        extras = dict(header["extras"])
        extras.update({k[len("extras/"):]: v for k, v in values.items()
                       if k.startswith("extras/")})
        sample = Sample(**{k: v for k, v in values.items() if not k.startswith("extras/")},
                        dataset=header["dataset"], sample_id=header["sample_id"],
                        video_id=header["video_id"], frame_id=header["frame_id"], extras=extras)
    except (ValueError, KeyError, TypeError, struct.error, json.JSONDecodeError) as err:
        raise SampleError(f"{where}: {field}: corrupt record ({err}).") from None
    return sample.validate(where)
