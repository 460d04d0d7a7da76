// Counting the compute of one forward pass (torch-free interface, so that
// tools linking only libfer can use it).
#pragma once

#include <fer/recognizer.hpp>

#include <cstdint>

namespace fer::detail {

/// Multiply-accumulates of one forward pass, by operator kind.
struct FlopCount {
  int64_t conv_macs = 0;    ///< aten::convolution (all conv layers, depthwise included)
  int64_t matmul_macs = 0;  ///< aten::mm, addmm, bmm, baddbmm (linear layers, attention products)
  /// Convention: FLOPs = 2 x MACs (one multiply and one add per MAC); element-wise
  /// ops, normalization, activations, pooling and softmax are not counted.
  int64_t flops() const { return 2 * (conv_macs + matmul_macs); }
};

/// Runs one forward pass of `extractor` on `batch` zero crops at its configured
/// channels and input size, observing the operators it dispatches on this thread
/// (at::RecordFunction), and counts their multiply-accumulates.
FlopCount count_flops(const FeatureExtractor& extractor, int batch = 1);

}  // namespace fer::detail
