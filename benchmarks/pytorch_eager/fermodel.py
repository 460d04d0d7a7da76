"""Reader of libfer's model files (.fermodel, format version 1) in pure Python + numpy.

The layout (src/io/model_file.hpp; every integer little-endian):

    offset  size  field
    0       8     magic 89 'F' 'E' 'R' 'M' 0D 0A 1A
    8       4     format version (1)
    12      4     flags (0)
    16      8     header size H
    24      8     data size D
    32      H     header: UTF-8 JSON (metadata + tensor table)
    32+H    pad   zeros up to a multiple of 64
    ...     D     tensor data, float32 or bfloat16 ("storage" in the header), row-major
    end-4   4     CRC-32 (zlib's polynomial) of every byte before it

    header, meta, extractor, classifier = read_fermodel("models/default.fermodel")

`extractor` and `classifier` map tensor names (LibTorch module paths such as
"features.0.weight", "fc.bias", "stem.1.running_mean") to float32 numpy arrays.
"""
import json
import struct
import zlib

import numpy as np

MAGIC = b"\x89FERM\r\n\x1a"
FORMAT_VERSION = 1
_FIXED = 32
_MAX_HEADER = 16 << 20


class FerModelError(ValueError):
    pass


def _decode(raw, storage, shape, name):
    if storage == "float32":
        a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    elif storage == "bfloat16":
        # A bfloat16 is the upper half of a float32: widen by shifting 16 bits.
        a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        raise FerModelError("unknown weight storage %r" % storage)
    n = 1
    for d in shape:
        n *= d
    if a.size != n:
        raise FerModelError("tensor %r holds %d values, its shape %s needs %d" % (name, a.size, shape, n))
    return a.reshape(shape)


def parse_fermodel(data, origin="<bytes>", check_crc=True):
    """Parses the bytes of a .fermodel; returns (header dict, extractor tensors, classifier tensors)."""
    data = memoryview(bytes(data))
    if len(data) < 8 or bytes(data[:8]) != MAGIC:
        raise FerModelError("%s: not a libfer model file (wrong magic bytes)" % origin)
    if len(data) < _FIXED + 4:
        raise FerModelError("%s: truncated" % origin)
    version, flags, header_size, data_size = struct.unpack_from("<IIQQ", data, 8)
    if version == 0 or version > FORMAT_VERSION:
        raise FerModelError("%s: format version %d; this reader knows 1 to %d" % (origin, version, FORMAT_VERSION))
    if flags != 0:
        raise FerModelError("%s: unknown flags set" % origin)
    if header_size > _MAX_HEADER:
        raise FerModelError("%s: header size is absurd" % origin)
    data_start = (_FIXED + header_size + 63) // 64 * 64
    if data_start + data_size + 4 != len(data):
        raise FerModelError("%s: sizes in the header need %d bytes, the file has %d" %
                            (origin, data_start + data_size + 4, len(data)))
    if check_crc:
        (stored,) = struct.unpack_from("<I", data, len(data) - 4)
        if zlib.crc32(data[:len(data) - 4]) & 0xFFFFFFFF != stored:
            raise FerModelError("%s: checksum mismatch (the file is damaged)" % origin)
    header = json.loads(bytes(data[_FIXED:_FIXED + header_size]).decode("utf-8"))
    if not isinstance(header, dict) or header.get("format") != "libfer-model":
        raise FerModelError("%s: header is not a libfer model header" % origin)
    storage = header["storage"]
    elem = {"float32": 4, "bfloat16": 2}.get(storage)
    if elem is None:
        raise FerModelError("%s: unknown weight storage %r" % (origin, storage))
    blob = data[data_start:data_start + data_size]
    tables = []
    end = 0
    for key in ("extractor", "classifier"):
        out = {}
        for entry in header["tensors"][key]:
            name, shape = entry["name"], [int(d) for d in entry["shape"]]
            offset, nbytes = int(entry["offset"]), int(entry["nbytes"])
            if name in out:
                raise FerModelError("%s: tensor %r appears twice" % (origin, name))
            if offset != end or offset + nbytes > data_size:
                raise FerModelError("%s: tensor %r at byte %d does not follow the previous one (%d)" %
                                    (origin, name, offset, end))
            out[name] = _decode(blob[offset:offset + nbytes], storage, shape, name)
            end = offset + nbytes
        tables.append(out)
    if end != data_size:
        raise FerModelError("%s: the tensors cover %d bytes of a %d-byte data section" % (origin, end, data_size))
    return header, tables[0], tables[1]


def read_fermodel(path, check_crc=True):
    """Reads a .fermodel file; returns (header dict, extractor tensors, classifier tensors)."""
    with open(path, "rb") as f:
        return parse_fermodel(f.read(), origin=str(path), check_crc=check_crc)


def describe(path):
    header, ext, cls = read_fermodel(path)
    h = {k: v for k, v in header.items() if k != "tensors"}
    lines = [json.dumps(h, indent=1, sort_keys=True)]
    for title, table in (("extractor", ext), ("classifier", cls)):
        lines.append("%s: %d tensors, %d values" % (title, len(table), sum(a.size for a in table.values())))
        for name, a in table.items():
            lines.append("  %-40s %s" % (name, list(a.shape)))
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    for p in sys.argv[1:]:
        print(describe(p))
