// Data-parallel training across processes with LibTorch's c10d (Gloo over a TCP store).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace fer::detail {

/// A process group of `world_size` ranks rendezvousing at `master` ("host:port").
/// With world_size 1 every call is a no-op.
class DataParallel {
 public:
  DataParallel(int world_size, int rank, const std::string& master);
  ~DataParallel();
  int world_size() const { return world_size_; }
  int rank() const { return rank_; }
  /// Averages the gradients of `params` over all ranks (in place).
  void average_gradients(const std::vector<torch::Tensor>& params);
  /// Copies rank 0's values of `tensors` to every rank (in place).
  void broadcast(const std::vector<torch::Tensor>& tensors);
  /// Sums a few scalars over ranks (e.g. counts for metrics).
  std::vector<double> sum(const std::vector<double>& values);
  void barrier();

 private:
  struct Impl;
  int world_size_, rank_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fer::detail
