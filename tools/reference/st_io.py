"""st_io.py: minimal safetensors reader/writer (numpy only; the `safetensors` package is absent).

Format: u64 little-endian header length N, N bytes of JSON header
{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}},
then the raw little-endian tensor bytes. Offsets are relative to the start of the data section;
tensors are packed back to back, ordered by decreasing element size (stable); the header is
padded with spaces to a multiple of 8 so the data section and every tensor start aligned.
"""
import hashlib
import json
import os
import struct
from collections import OrderedDict

import numpy as np

CHECKSUM_KEY = "__checksum_sha256__"  # same key as src/common/safetensors.h

_NP_TO_ST = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("uint16"): "U16",
    np.dtype("uint32"): "U32",
    np.dtype("uint64"): "U64",
    np.dtype("bool"): "BOOL",
}
_ST_TO_NP = {v: k for k, v in _NP_TO_ST.items()}


def _to_numpy(t):
    if hasattr(t, "detach"):  # torch tensor
        t = t.detach().cpu().contiguous().numpy()
    a = np.asarray(t)
    return a if a.flags.c_contiguous else a.copy(order="C")  # keeps 0-d shape []


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered mapping name -> numpy array or torch tensor. Written atomically."""
    header = OrderedDict()
    blobs = []
    offset = 0
    arrays = []
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        arrays.append((name, _to_numpy(t)))
    # stable sort by decreasing element size: every tensor is then aligned to its element size
    # (the data section starts at a multiple of 8), as the C writer and safetensors itself do
    arrays.sort(key=lambda na: -na[1].dtype.itemsize)
    for name, a in arrays:
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        if dt not in _NP_TO_ST:
            raise ValueError(f"{name}: unsupported dtype {a.dtype}")
        raw = a.astype(dt.newbyteorder("<"), copy=False).tobytes(order="C")
        header[name] = {
            "dtype": _NP_TO_ST[dt],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        md = OrderedDict()
        for k, v in metadata.items():
            if not isinstance(v, str):
                raise ValueError(f"metadata value for {k!r} must be a string")
            md[k] = v
        header["__metadata__"] = md
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_safetensors(path, verify_checksum=True):
    """Returns (OrderedDict name -> numpy array, metadata dict). Verifies the SHA-256 of the
    data section when the file carries one (CHECKSUM_KEY, written by eir-dist's C writer)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} exceeds file size {len(data)}")
    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    body = data[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    want = metadata.get(CHECKSUM_KEY)
    if want is not None and verify_checksum:
        got = hashlib.sha256(body).hexdigest()
        if got != want.lower():
            raise ValueError(f"{path}: checksum mismatch (header {want}, data {got})")
    out = OrderedDict()
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = _ST_TO_NP[info["dtype"]]
        arr = np.frombuffer(body[b:e], dtype=dt.newbyteorder("<")).reshape(info["shape"])
        out[name] = arr.astype(dt, copy=True)
    return out, metadata
