#include "train/augment.hpp"

#include <fer/error.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>

namespace fer::detail {

namespace F = torch::nn::functional;

namespace {

torch::Tensor uniform(int64_t n, double lo, double hi, at::Generator& gen) {
  return torch::rand({n}, gen, torch::kFloat32) * (hi - lo) + lo;
}

// Per-sample rectangle masks (N x 1 x H x W) for boxes given as fractions.
torch::Tensor box_mask(const torch::Tensor& x0, const torch::Tensor& y0, const torch::Tensor& x1, const torch::Tensor& y1,
                       int64_t h, int64_t w) {
  torch::Tensor xs = (torch::arange(w, torch::kFloat32) + 0.5) / double(w);
  torch::Tensor ys = (torch::arange(h, torch::kFloat32) + 0.5) / double(h);
  torch::Tensor in_x = xs.view({1, 1, w}).ge(x0.view({-1, 1, 1})) & xs.view({1, 1, w}).lt(x1.view({-1, 1, 1}));
  torch::Tensor in_y = ys.view({1, h, 1}).ge(y0.view({-1, 1, 1})) & ys.view({1, h, 1}).lt(y1.view({-1, 1, 1}));
  return (in_x & in_y).unsqueeze(1);
}

torch::Tensor beta_sample(double alpha, at::Generator& gen) {
  torch::Tensor a = torch::full({2}, alpha, torch::kFloat64);
  torch::Tensor g = at::_standard_gamma(a, gen);
  return g[0] / (g[0] + g[1]);
}

}  // namespace

void jpeg_recompress(torch::Tensor& images, const std::vector<int>& qualities) {
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  if (int64_t(qualities.size()) != n) throw Error(Status::InvalidArgument, "jpeg_recompress: one quality per image needed");
  if (c != 1 && c != 3) throw Error(Status::InvalidArgument, "jpeg_recompress: images need 1 or 3 channels");
  if (std::none_of(qualities.begin(), qualities.end(), [](int q) { return q > 0; })) return;
  // Pixels as 8-bit, channels last, in one buffer (as a JPEG file holds them).
  torch::Tensor bytes = (images.detach().to(torch::kFloat32).clamp(0, 1) * 255).round().to(torch::kUInt8)
                            .permute({0, 2, 3, 1}).contiguous();
  const int type = c == 1 ? CV_8UC1 : CV_8UC3;
  for (int64_t i = 0; i < n; ++i) {
    const int q = qualities[size_t(i)];
    if (q <= 0) continue;
    if (q > 100) throw Error(Status::InvalidArgument, "jpeg_recompress: quality must be 1 to 100");
    cv::Mat pixels(int(h), int(w), type, bytes[i].data_ptr<uint8_t>());  // BGR, as OpenCV encodes it
    std::vector<uint8_t> file;
    if (!cv::imencode(".jpg", pixels, file, {cv::IMWRITE_JPEG_QUALITY, q}))
      throw Error(Status::Internal, "jpeg_recompress: JPEG encoding failed");
    cv::Mat decoded = cv::imdecode(file, c == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
    if (decoded.rows != int(h) || decoded.cols != int(w) || decoded.channels() != int(c))
      throw Error(Status::Internal, "jpeg_recompress: the decoded image does not match");
    decoded.copyTo(pixels);  // into bytes[i]
  }
  torch::Tensor out = bytes.permute({0, 3, 1, 2}).contiguous().to(torch::kFloat32).div_(255);
  // Only the recompressed samples change (the others keep their exact values).
  std::vector<int64_t> flags(qualities.begin(), qualities.end());
  torch::Tensor chosen = torch::tensor(flags, torch::kInt64).gt(0);
  images = torch::where(chosen.view({n, 1, 1, 1}), out.to(images.dtype()), images);
}

void erase_region(torch::Tensor& images, float x0, float y0, float x1, float y1, float fill) {
  int64_t n = images.size(0);
  auto full = [n](float v) { return torch::full({n}, v, torch::kFloat32); };
  torch::Tensor mask = box_mask(full(x0), full(y0), full(x1), full(y1), images.size(2), images.size(3));
  images = images.masked_fill(mask.expand_as(images), fill);
}

void check_occlusion_mode(const std::string& mode) {
  if (mode != "none" && mode != "eye" && mode != "mouth" && mode != "eye_or_mouth")
    throw Error(Status::InvalidArgument, "occlusion must be none, eye, mouth or eye_or_mouth, got '" + mode + "'");
}

void occlude_face_regions(torch::Tensor& images, const std::vector<int64_t>& indices, const std::string& mode,
                          uint64_t seed) {
  check_occlusion_mode(mode);
  if (mode == "none") return;
  if (images.size(0) != int64_t(indices.size()))
    throw Error(Status::InvalidArgument, "occlusion: one index per image needed");
  // Region centres and sizes as fractions of a FER-2013 crop (from the mean
  // face of FER-2013 val: eyes at y 0.37, x 0.31 / 0.69; mouth at y 0.78).
  struct Region {
    float cx, cy, w, h;
  };
  const Region left_eye{0.31f, 0.37f, 0.26f, 0.18f}, right_eye{0.69f, 0.37f, 0.26f, 0.18f},
      mouth{0.50f, 0.78f, 0.42f, 0.20f};
  const int64_t n = images.size(0);
  const size_t count = static_cast<size_t>(n);
  std::vector<float> x0(count), y0(count), x1(count), y1(count);
  for (int64_t i = 0; i < n; ++i) {
    // splitmix64 of (seed, index): a stream of independent uniforms per image.
    uint64_t state = seed * 0x9E3779B97F4A7C15ull ^ uint64_t(indices[size_t(i)]) * 0xD1B54A32D192ED03ull;
    auto next = [&state] {
      uint64_t z = (state += 0x9E3779B97F4A7C15ull);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return float((z ^ (z >> 31)) >> 40) / float(1 << 24);  // [0, 1)
    };
    const float pick = next();
    const Region& r = mode == "mouth" ? mouth
                      : mode == "eye" ? (pick < 0.5f ? left_eye : right_eye)
                                      : (pick < 1.f / 3 ? left_eye : pick < 2.f / 3 ? right_eye : mouth);
    const float cx = r.cx + 0.06f * (next() - 0.5f), cy = r.cy + 0.06f * (next() - 0.5f);
    x0[size_t(i)] = cx - r.w / 2;
    x1[size_t(i)] = cx + r.w / 2;
    y0[size_t(i)] = cy - r.h / 2;
    y1[size_t(i)] = cy + r.h / 2;
  }
  auto tensor = [](std::vector<float>& v) { return torch::from_blob(v.data(), {int64_t(v.size())}, torch::kFloat32); };
  torch::Tensor mask = box_mask(tensor(x0), tensor(y0), tensor(x1), tensor(y1), images.size(2), images.size(3));
  images = images.masked_fill(mask.expand_as(images), 0.f);
}

void augment_batch(Batch& batch, const AugmentOptions& o, int64_t num_classes, at::Generator& gen) {
  if (!o.enabled) return;
  torch::Tensor x = batch.images;
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);

  // Geometry: one affine map per sample (output grid -> input coordinates).
  torch::Tensor area = uniform(n, o.crop_scale_min, 1.0, gen);
  torch::Tensor log_ratio = uniform(n, -std::log(o.crop_ratio), std::log(o.crop_ratio), gen);
  torch::Tensor sx = torch::sqrt(area * log_ratio.exp()).clamp_max(1.0);
  torch::Tensor sy = torch::sqrt(area / log_ratio.exp()).clamp_max(1.0);
  torch::Tensor tx = (uniform(n, -1, 1, gen) * (1 - sx)) + uniform(n, -o.translate, o.translate, gen) * 2;
  torch::Tensor ty = (uniform(n, -1, 1, gen) * (1 - sy)) + uniform(n, -o.translate, o.translate, gen) * 2;
  torch::Tensor angle = uniform(n, -o.rotate_degrees, o.rotate_degrees, gen) * (M_PI / 180.0);
  torch::Tensor flip = o.hflip ? torch::where(torch::rand({n}, gen) < 0.5, -1.0, 1.0).to(torch::kFloat32)
                               : torch::ones({n}, torch::kFloat32);
  torch::Tensor c = angle.cos(), s = angle.sin();
  torch::Tensor theta = torch::stack({torch::stack({sx * c * flip, -sy * s, tx}, 1),
                                      torch::stack({sx * s * flip, sy * c, ty}, 1)},
                                     1);  // N x 2 x 3
  torch::Tensor grid = F::affine_grid(theta.to(x.dtype()), {n, x.size(1), h, w}, /*align_corners=*/false);
  x = F::grid_sample(x, grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));

  // Photometric: contrast around each image's mean, then brightness.
  torch::Tensor mean = x.mean({1, 2, 3}, /*keepdim=*/true);
  torch::Tensor contrast = (1 + uniform(n, -o.contrast, o.contrast, gen)).view({n, 1, 1, 1});
  torch::Tensor bright = (1 + uniform(n, -o.brightness, o.brightness, gen)).view({n, 1, 1, 1});
  x = ((x - mean) * contrast + mean) * bright;
  x = x.clamp(0, 1);

  // JPEG re-encoding at a random quality (drawn for every sample, so the
  // generator advances alike whichever samples are chosen).
  if (o.jpeg_prob > 0) {
    torch::Tensor apply = torch::rand({n}, gen) < o.jpeg_prob;
    torch::Tensor quality = torch::randint(o.jpeg_quality_min, 101, {n}, gen, torch::kInt64);
    std::vector<int> qualities(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      qualities[size_t(i)] = apply[i].item<bool>() ? int(quality[i].item<int64_t>()) : 0;
    jpeg_recompress(x, qualities);
  }

  // Random erasing: a rectangle of random size, aspect and grey level.
  if (o.erase_prob > 0) {
    torch::Tensor apply = torch::rand({n}, gen) < o.erase_prob;
    torch::Tensor ea = uniform(n, 0.02, o.erase_max_area, gen);
    torch::Tensor er = uniform(n, std::log(0.3), std::log(3.3), gen).exp();
    torch::Tensor ew = torch::sqrt(ea * er).clamp_max(1.0), eh = torch::sqrt(ea / er).clamp_max(1.0);
    torch::Tensor ex = torch::rand({n}, gen) * (1 - ew), ey = torch::rand({n}, gen) * (1 - eh);
    torch::Tensor fill = torch::rand({n}, gen).view({n, 1, 1, 1});
    torch::Tensor mask = box_mask(ex, ey, ex + ew, ey + eh, h, w) & apply.view({n, 1, 1, 1});
    x = torch::where(mask.expand_as(x), fill.expand_as(x), x);
  }

  // Mixup / cutmix: mix each sample with a permuted partner; targets become distributions.
  if (o.mixup_alpha > 0 && n > 1) {
    torch::Tensor perm = torch::randperm(n, gen);
    torch::Tensor targets = batch.soft.defined() ? batch.soft
                                                 : F::one_hot(batch.labels, num_classes).to(torch::kFloat32);
    double lam = beta_sample(o.mixup_alpha, gen).item<double>();
    bool cutmix = torch::rand({1}, gen).item<float>() < o.cutmix_prob;
    if (cutmix) {
      double cut = std::sqrt(1 - lam);
      float cx = torch::rand({1}, gen).item<float>(), cy = torch::rand({1}, gen).item<float>();
      float x0 = std::max(0.f, cx - float(cut) / 2), x1 = std::min(1.f, cx + float(cut) / 2);
      float y0 = std::max(0.f, cy - float(cut) / 2), y1 = std::min(1.f, cy + float(cut) / 2);
      auto full = [n](float v) { return torch::full({n}, v, torch::kFloat32); };
      torch::Tensor mask = box_mask(full(x0), full(y0), full(x1), full(y1), h, w);
      x = torch::where(mask.expand_as(x), x.index({perm}), x);
      lam = 1.0 - double((x1 - x0) * (y1 - y0));
    } else {
      x = lam * x + (1 - lam) * x.index({perm});
    }
    batch.soft = lam * targets + (1 - lam) * targets.index({perm});
    if (batch.teacher.defined()) batch.teacher = lam * batch.teacher + (1 - lam) * batch.teacher.index({perm});
  }
  batch.images = x;
}

}  // namespace fer::detail
