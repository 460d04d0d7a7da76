#include "pipeline/tta.hpp"

#include <fer/error.hpp>

#include <cmath>

namespace fer::detail {

namespace F = torch::nn::functional;

void check_tta(const std::string& tta) {
  if (tta != "auto" && tta != "none" && tta != "flip" && tta != "tencrop" && tta != "center")
    throw Error(Status::InvalidArgument, "tta must be auto, none, center, flip or tencrop, got '" + tta + "'");
}

std::string resolve_tta(const ModelInfo& info, const std::string& tta) {
  check_tta(tta);
  if (tta != "auto") return tta;
  if (info.view != "none" && info.view != "center")
    throw Error(Status::InvalidArgument, "the model's own view must be none or center, got '" + info.view + "'");
  return info.view;
}

std::vector<torch::Tensor> test_time_views(const torch::Tensor& x, const std::string& tta) {
  if (tta == "auto") throw Error(Status::Internal, "test_time_views: the view 'auto' was not resolved for a model");
  check_tta(tta);
  if (tta == "none") return {x};
  if (tta == "flip") return {x, x.flip({3})};
  const int64_t n = x.size(0);
  const double side = std::sqrt(0.9), shift = 1 - side;  // in affine_grid's [-1, 1] coordinates
  const double offsets[5][2] = {{0, 0}, {-shift, -shift}, {shift, -shift}, {-shift, shift}, {shift, shift}};
  std::vector<torch::Tensor> views;
  for (const auto& o : offsets) {
    if (tta == "center" && &o != &offsets[0]) break;
    torch::Tensor theta = torch::tensor({side, 0.0, o[0], 0.0, side, o[1]}, torch::kFloat32).view({1, 2, 3}).expand({n, 2, 3});
    torch::Tensor grid = F::affine_grid(theta.to(x.dtype()), {n, x.size(1), x.size(2), x.size(3)}, /*align_corners=*/false);
    torch::Tensor view = F::grid_sample(
        x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
    views.push_back(view);
    if (tta != "center") views.push_back(view.flip({3}));
  }
  return views;
}

}  // namespace fer::detail
