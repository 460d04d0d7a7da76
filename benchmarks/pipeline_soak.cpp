// Soak: one Pipeline over many small images (default 100,000), with resident
// memory, peak memory and open file descriptors sampled along the way, so that
// a leak per image (a few bytes would show over 100,000) or per error shows.
// Images are crops around the faces of the sample photos, at a random scale
// (64-192 px), offset and brightness; every 1,000th input is bad (empty,
// 2-channel, 16-bit) and must be rejected with fer::Error.
//
//   build/benchmarks/pipeline_soak [--images N] [--threads N] [--detector NAME] [--json FILE]
#include "bench_util.hpp"
#include "support.hpp"

#include <fer/fer.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct Args {
  int64_t images = 100000;
  int threads = 1;
  std::string detector = "auto";
  std::string json;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: pipeline_soak [--images N] [--threads N] [--detector NAME] [--json FILE]\n");
      std::exit(2);
    }
    std::string v = argv[++i];
    if (k == "--images") a.images = std::max<int64_t>(10, std::atoll(v.c_str()));
    else if (k == "--threads") a.threads = std::max(1, std::atoi(v.c_str()));
    else if (k == "--detector") a.detector = v;
    else if (k == "--json") a.json = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

// Face-centred source regions of the sample photos (or a synthetic image without them).
struct Source {
  cv::Mat photo;
  cv::Point2f centre;
};

std::vector<Source> sources() {
  std::vector<Source> out;
  for (const fer_test::SamplePhoto& p : fer_test::sample_truth()) {
    cv::Mat photo = cv::imread(fer_test::face_api_dir() + "/demo/" + p.file, cv::IMREAD_COLOR);
    if (photo.empty()) continue;
    for (const cv::Point2f& c : p.centres) out.push_back({photo, c});
  }
  if (out.empty()) {
    cv::Mat synthetic(480, 640, CV_8UC3);
    cv::randu(synthetic, 0, 255);
    out.push_back({synthetic, {320.f, 240.f}});
  }
  return out;
}

// Image `i`: a 400-800 px crop around a face of a sample photo, resized to 64-192 px.
cv::Mat make_image(const std::vector<Source>& src, int64_t i, cv::RNG& rng) {
  const Source& s = src[size_t(i) % src.size()];
  const float half = float(rng.uniform(200.0, 400.0));  // faces in the 1920-px photos are ~200-400 px wide
  const cv::Point2f c = s.centre + cv::Point2f(float(rng.uniform(-20.0, 20.0)), float(rng.uniform(-20.0, 20.0)));
  cv::Rect r = cv::Rect(int(c.x - half), int(c.y - half), int(2 * half), int(2 * half)) &
               cv::Rect(0, 0, s.photo.cols, s.photo.rows);
  cv::Mat out;
  const int side = rng.uniform(64, 193);
  cv::resize(s.photo(r), out, cv::Size(side, side * r.height / std::max(1, r.width)), 0, 0, cv::INTER_AREA);
  out.convertTo(out, -1, rng.uniform(0.7, 1.3), rng.uniform(-20.0, 20.0));
  return out;
}

cv::Mat bad_image(int64_t k) {
  switch (k % 3) {
    case 0: return cv::Mat();
    case 1: return cv::Mat(64, 64, CV_8UC2, cv::Scalar(1, 2));
    default: return cv::Mat(64, 64, CV_16UC3, cv::Scalar(1000, 2000, 3000));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  fer::PipelineOptions po;
  po.detector = a.detector;
  po.threads = a.threads;
  fer::Pipeline pipeline(po);
  const std::vector<Source> src = sources();
  cv::RNG rng(7);
  std::printf("pipeline soak: %lld images (64-192 px), detector %s, model %s, %d thread(s)\n", (long long)a.images,
              pipeline.detector_name().c_str(), pipeline.model().info().architecture.c_str(), a.threads);
  std::printf("%10s %10s %14s %9s %10s %10s %9s\n", "image", "RSS MiB", "peak RSS MiB", "open fds", "faces", "rejected",
              "ms/image");

  const int64_t warm = std::min<int64_t>(1000, a.images / 10), step = std::max<int64_t>(1, (a.images - warm) / 10);
  nlohmann::ordered_json samples = nlohmann::ordered_json::array();
  int64_t faces = 0, rejected = 0, bad = 0, unexpected = 0;
  double ms_sum = 0;
  int64_t ms_count = 0;
  auto sample = [&](int64_t i) {
    nlohmann::ordered_json m = fer_bench::memory_json("image", i);
    m["faces"] = faces;
    m["rejected"] = rejected;
    m["ms_per_image"] = ms_count ? ms_sum / double(ms_count) : 0.0;
    std::printf("%10lld %10.1f %14.1f %9d %10lld %10lld %9.2f\n", (long long)i, m["rss_mib"].get<double>(),
                m["peak_rss_mib"].get<double>(), m["open_fds"].get<int>(), (long long)faces, (long long)rejected,
                m["ms_per_image"].get<double>());
    std::fflush(stdout);
    samples.push_back(m);
    ms_sum = 0;
    ms_count = 0;
  };
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < a.images; ++i) {
    if (i == warm) sample(i);
    const bool is_bad = i % 1000 == 999;
    cv::Mat image = is_bad ? bad_image(bad++) : make_image(src, i, rng);
    auto t0 = std::chrono::steady_clock::now();
    try {
      faces += int64_t(pipeline.process(image).size());
      if (is_bad) ++unexpected;  // a bad input must not be accepted
    } catch (const fer::Error&) {
      ++rejected;
      if (!is_bad) ++unexpected;
    }
    ms_sum += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ++ms_count;
    if (i > warm && ((i - warm) % step == 0 || i + 1 == a.images)) sample(i + 1);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& first = samples.front();
  const auto& last = samples.back();
  std::printf("start (after %lld warm-up images): RSS %.1f MiB, peak %.1f MiB, %d fds; end: RSS %.1f MiB, peak %.1f "
              "MiB, %d fds; %lld faces, %lld of %lld bad inputs rejected, %lld unexpected outcomes; %.0f s (%.0f "
              "images/s)\n",
              (long long)warm, first["rss_mib"].get<double>(), first["peak_rss_mib"].get<double>(),
              first["open_fds"].get<int>(), last["rss_mib"].get<double>(), last["peak_rss_mib"].get<double>(),
              last["open_fds"].get<int>(), (long long)faces, (long long)rejected, (long long)bad,
              (long long)unexpected, seconds, double(a.images) / seconds);
  if (!a.json.empty()) {
    nlohmann::ordered_json j = {{"images", a.images},   {"threads", a.threads},      {"detector", pipeline.detector_name()},
                                {"faces", faces},       {"bad_inputs", bad},         {"rejected", rejected},
                                {"unexpected", unexpected}, {"seconds", seconds},    {"samples", samples}};
    std::ofstream(a.json) << j.dump(2) << "\n";
  }
  return unexpected == 0 ? 0 : 1;
}
