// The libfer model file (.fermodel), format version 1. All integers little-endian.
//
//   offset  size  field
//   0       8     magic 89 'F' 'E' 'R' 'M' 0D 0A 1A
//   8       4     format version (1)
//   12      4     flags (0)
//   16      8     header size H (at most 16 MiB)
//   24      8     data size D
//   32      H     header: UTF-8 JSON (metadata + tensor table)
//   32+H    pad   zeros up to a multiple of 64
//   ...     D     tensor data (float32 or bfloat16, row-major, per the table)
//   end-4   4     CRC-32 of every byte before it
//
// Header keys: format, architecture {name, config}, head {name, config},
// input {width, height, channels, mean, std}, crop {method, margin, square,
// template}, classes, trained, storage, provenance, metrics, tensors
// {extractor, classifier: [{name, shape, offset, nbytes}]}, and optionally
// int8 {activation_ranges: {point: [min, max]}} (the int8 calibration; files
// without it load as before, and readers that predate it ignore it).
//
// Nothing in a model file is executed or deserialized into arbitrary objects:
// the header is plain JSON, read into fixed fields and checked; every size is
// checked against the file size before anything is allocated.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fer::detail {
constexpr uint8_t kModelMagic[8] = {0x89, 'F', 'E', 'R', 'M', 0x0D, 0x0A, 0x1A};
constexpr size_t kModelFixedHeader = 32;
constexpr uint64_t kMaxModelHeader = 16u << 20;
constexpr uint64_t kMaxModelFile = uint64_t(2) << 30;
}  // namespace fer::detail
