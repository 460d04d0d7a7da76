// Reader for TensorFlow.js weight files: a weights manifest (JSON) plus the
// binary shards it names, as published by face-api. Files are treated as
// untrusted: every size is checked against the shard bytes before anything is
// allocated.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fer::detail {

/// Named float tensors read from one manifest, in TF layouts (conv filters are
/// H x W x in x out, depthwise filters H x W x C x multiplier). Read-only after loading.
class TfjsWeights {
 public:
  /// The tensor `name`; throws NotFound (naming the file) when it is absent and
  /// ShapeMismatch when its shape is not `shape` (unless `shape` is empty).
  const torch::Tensor& get(const std::string& name, const std::vector<int64_t>& shape = {}) const;
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const std::map<std::string, torch::Tensor>& tensors() const { return tensors_; }
  /// The manifest this was read from (for error messages).
  const std::string& source() const { return source_; }

 private:
  friend TfjsWeights read_tfjs_weights(const std::string&);
  std::string source_;
  std::map<std::string, torch::Tensor> tensors_;
};

/// Reads `manifest_path` and the shards it names (paths relative to the
/// manifest's folder). float32/int32 weights, optionally quantized as uint8,
/// uint16 (value = q * scale + min) or float16, all come back as float32.
/// Throws fer::Error: NotFound (missing file), CorruptData (bad JSON, sizes that
/// do not match the shards, absurd shapes), Unsupported (unknown dtype).
TfjsWeights read_tfjs_weights(const std::string& manifest_path);

/// IEEE half -> float, exact for every value including subnormals, inf and NaN.
float half_to_float(uint16_t h);

}  // namespace fer::detail
