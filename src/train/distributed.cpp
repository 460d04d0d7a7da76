#include "train/distributed.hpp"

#include <fer/error.hpp>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>

namespace fer::detail {

struct DataParallel::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

DataParallel::DataParallel(int world_size, int rank, const std::string& master)
    : world_size_(world_size), rank_(rank) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw Error(Status::InvalidArgument, "need 0 <= rank < world_size, got rank " + std::to_string(rank) +
                                             " of " + std::to_string(world_size));
  if (world_size == 1) return;
  auto colon = master.rfind(':');
  if (colon == std::string::npos)
    throw Error(Status::InvalidArgument, "master must be host:port, got '" + master + "'");
  std::string host = master.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(master.substr(colon + 1));
  } catch (const std::exception&) {
    port = 0;
  }
  if (port <= 0 || port > 65535) throw Error(Status::InvalidArgument, "bad port in master '" + master + "'");
  impl_ = std::make_unique<Impl>();
  c10d::TCPStoreOptions so;
  so.port = uint16_t(port);
  so.isServer = rank == 0;
  so.numWorkers = size_t(world_size);
  so.waitWorkers = true;
  so.timeout = std::chrono::seconds(120);
  impl_->store = c10::make_intrusive<c10d::TCPStore>(host, so);
  auto opts = c10d::ProcessGroupGloo::Options::create();
  opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
  opts->timeout = std::chrono::seconds(300);
  impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, rank, world_size, opts);
}

DataParallel::~DataParallel() = default;

void DataParallel::average_gradients(const std::vector<torch::Tensor>& params) {
  if (world_size_ == 1) return;
  // One flat buffer: a single all-reduce per step.
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    grads.push_back(p.grad().defined() ? p.grad().reshape(-1) : torch::zeros({p.numel()}, p.options()));
  std::vector<torch::Tensor> flat{torch::cat(grads)};
  impl_->group->allreduce(flat)->wait();
  flat[0].div_(double(world_size_));
  int64_t at = 0;
  for (const auto& p : params) {
    if (p.grad().defined()) p.mutable_grad().copy_(flat[0].narrow(0, at, p.numel()).view_as(p));
    at += p.numel();
  }
}

void DataParallel::broadcast(const std::vector<torch::Tensor>& tensors) {
  if (world_size_ == 1) return;
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    std::vector<torch::Tensor> one{t.detach()};
    impl_->group->broadcast(one)->wait();
  }
}

std::vector<double> DataParallel::sum(const std::vector<double>& values) {
  if (world_size_ == 1) return values;
  std::vector<torch::Tensor> t{torch::tensor(values, torch::kFloat64)};
  impl_->group->allreduce(t)->wait();
  auto a = t[0].accessor<double, 1>();
  std::vector<double> out;
  for (int64_t i = 0; i < a.size(0); ++i) out.push_back(a[i]);
  return out;
}

void DataParallel::barrier() {
  if (world_size_ == 1) return;
  impl_->group->barrier()->wait();
}

}  // namespace fer::detail
