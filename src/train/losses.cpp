#include "train/losses.hpp"

#include <fer/error.hpp>

namespace fer::detail {

namespace F = torch::nn::functional;

torch::Tensor cross_entropy_loss(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing,
                                 const torch::Tensor& class_weights) {
  auto options = F::CrossEntropyFuncOptions().label_smoothing(label_smoothing);
  if (class_weights.defined()) options = options.weight(class_weights);
  return F::cross_entropy(logits.to(torch::kFloat32), labels, options);
}

torch::Tensor soft_cross_entropy_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                                      const torch::Tensor& class_weights) {
  torch::Tensor log_p = torch::log_softmax(logits.to(torch::kFloat32), 1);
  if (!class_weights.defined()) return -(targets * log_p).sum(1).mean();
  torch::Tensor weighted = targets * class_weights.to(torch::kFloat32).unsqueeze(0);
  return -(weighted * log_p).sum() / weighted.sum().clamp_min(1e-12);
}

torch::Tensor dlp_loss(const torch::Tensor& features, const torch::Tensor& labels, int64_t k) {
  torch::Tensor f = features.to(torch::kFloat32);
  int64_t n = f.size(0);
  if (n < 2 || k < 1) return f.sum() * 0;
  // Neighbours are chosen without gradient; the loss pulls each feature toward their mean.
  torch::Tensor neighbour_mean, valid;
  {
    torch::NoGradGuard no_grad;
    torch::Tensor d = torch::cdist(f, f);
    torch::Tensor same = labels.unsqueeze(0).eq(labels.unsqueeze(1));
    same.fill_diagonal_(false);
    d = d.masked_fill(same.logical_not(), std::numeric_limits<float>::infinity());
    int64_t kk = std::min<int64_t>(k, n - 1);
    auto [dist, idx] = d.topk(kk, 1, /*largest=*/false);
    torch::Tensor ok = dist.isfinite().to(torch::kFloat32);  // N x kk: real same-class neighbours
    torch::Tensor count = ok.sum(1);
    valid = count > 0;
    torch::Tensor gathered = f.index({idx.reshape(-1)}).reshape({n, kk, f.size(1)});
    neighbour_mean = (gathered * ok.unsqueeze(2)).sum(1) / count.clamp_min(1).unsqueeze(1);
  }
  if (valid.sum().item<int64_t>() == 0) return f.sum() * 0;
  torch::Tensor diff = (f - neighbour_mean).pow(2).sum(1);
  return 0.5 * diff.masked_select(valid).mean();
}

torch::Tensor kd_logit_loss(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits,
                            double temperature) {
  torch::Tensor s = torch::log_softmax(student_logits.to(torch::kFloat32) / temperature, 1);
  torch::Tensor t = torch::log_softmax(teacher_logits.to(torch::kFloat32) / temperature, 1);
  // KL(p_t || p_s) = sum p_t (log p_t - log p_s)
  return (t.exp() * (t - s)).sum(1).mean() * (temperature * temperature);
}

torch::Tensor ensemble_teacher_logits(const std::vector<torch::Tensor>& teacher_logits, double temperature) {
  if (teacher_logits.empty()) throw fer::Error(fer::Status::InvalidArgument, "an ensemble needs at least one teacher");
  torch::Tensor p;
  for (const torch::Tensor& z : teacher_logits) {
    torch::Tensor q = torch::softmax(z.to(torch::kFloat32) / temperature, 1);
    p = p.defined() ? p + q : q;
  }
  return temperature * torch::log((p / double(teacher_logits.size())).clamp_min(1e-30));
}

torch::Tensor attention_transfer_loss(const torch::Tensor& student_maps, const torch::Tensor& teacher_maps) {
  torch::Tensor s = student_maps.to(torch::kFloat32);
  torch::Tensor t = teacher_maps.to(torch::kFloat32);
  if (s.sizes() != t.sizes())
    s = F::interpolate(s.unsqueeze(1), F::InterpolateFuncOptions()
                                           .size(std::vector<int64_t>{t.size(1), t.size(2)})
                                           .mode(torch::kBilinear)
                                           .align_corners(false))
            .squeeze(1);
  s = F::normalize(s.flatten(1), F::NormalizeFuncOptions().dim(1));
  t = F::normalize(t.flatten(1), F::NormalizeFuncOptions().dim(1));
  return (s - t).pow(2).sum(1).mean();
}

}  // namespace fer::detail
