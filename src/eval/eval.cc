#include "doppel/eval/eval.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include "doppel/engine/walk.h"
#include "doppel/image/decode.h"
#include "doppel/image/encode.h"
#include "doppel/image/resize.h"

namespace doppel {
namespace fs = std::filesystem;

Result<LabelledSet> LoadLabelledSet(const std::string& dir, int max_per_class) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::NotFound(dir + ": not a folder");
  std::vector<fs::path> subs;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory()) subs.push_back(e.path());
  std::sort(subs.begin(), subs.end());
  LabelledSet set;
  for (const auto& s : subs) {
    WalkResult w = FindImages({s.string()});
    if (w.images.size() < 2) continue;
    int label = static_cast<int>(set.classes.size());
    set.classes.push_back(s.filename().string());
    int n = 0;
    for (const auto& f : w.images) {
      if (max_per_class > 0 && n >= max_per_class) break;
      set.images.push_back({f.path, label});
      ++n;
    }
  }
  if (set.classes.size() < 2) return Status::InvalidArgument(dir + ": needs at least 2 subfolders with 2+ images");
  return set;
}

std::vector<std::string> CopyEditNames() { return {"crop", "rescale", "jpeg", "colour"}; }

Result<ImageU8> ApplyCopyEdit(const ImageU8& img, const std::string& edit) {
  if (edit == "crop") {
    int w = std::max(1, img.width * 7 / 10), h = std::max(1, img.height * 7 / 10);
    return Crop(img, (img.width - w) / 2, (img.height - h) / 2, w, h);
  }
  if (edit == "rescale") {
    return PilResize(img, std::max(1, img.width * 2 / 5), std::max(1, img.height * 2 / 5), Filter::kBilinear);
  }
  if (edit == "jpeg") {
    DOPPEL_ASSIGN_OR_RETURN(std::string bytes, EncodeJpeg(img, 15));
    DOPPEL_ASSIGN_OR_RETURN(DecodedImage d, DecodeImageBuffer(bytes, "recompressed copy"));
    return d.rgb;
  }
  if (edit == "colour") {
    ImageU8 out = img;
    const int shift[3] = {30, -10, 20};  // warmer and brighter, a typical filter
    for (size_t i = 0; i < out.pixels.size(); ++i) {
      int c = static_cast<int>(i % 3);
      int v = static_cast<int>(out.pixels[i] * 1.1) + shift[c];
      out.pixels[i] = static_cast<uint8_t>(std::clamp(v, 0, 255));
    }
    return out;
  }
  return Status::InvalidArgument("unknown copy edit '" + edit + "'");
}

std::vector<float> ColourHistogram(const ImageU8& img) {
  std::vector<float> h(512, 0.0f);
  for (size_t i = 0; i + 2 < img.pixels.size(); i += 3)
    h[(img.pixels[i] >> 5) * 64 + (img.pixels[i + 1] >> 5) * 8 + (img.pixels[i + 2] >> 5)] += 1.0f;
  double s = 0;
  for (float x : h) s += double(x) * x;
  if (s > 0)
    for (float& x : h) x = static_cast<float>(x / std::sqrt(s));
  return h;
}

void CategoryMetrics(const std::vector<std::vector<float>>& v, const std::vector<int>& labels, double* p5,
                     double* p10, double* map) {
  const size_t n = v.size();
  std::map<int, int> per_label;
  for (int l : labels) per_label[l]++;
  double s5 = 0, s10 = 0, sap = 0;
  std::vector<std::pair<float, size_t>> scores(n);
  for (size_t q = 0; q < n; ++q) {
    size_t m = 0;
    for (size_t j = 0; j < n; ++j) {
      if (j == q) continue;
      float d = 0;
      for (size_t k = 0; k < v[q].size(); ++k) d += v[q][k] * v[j][k];
      scores[m++] = {-d, j};
    }
    std::sort(scores.begin(), scores.begin() + m);  // best (largest inner product) first; ties by index
    int relevant = per_label[labels[q]] - 1;
    int hits = 0;
    double ap = 0;
    for (size_t r = 0; r < m; ++r) {
      if (labels[scores[r].second] == labels[q]) {
        ++hits;
        ap += double(hits) / double(r + 1);
      }
      if (r == 4) s5 += hits / 5.0;
      if (r == 9) s10 += hits / 10.0;
    }
    // Fewer candidates than k: precision@k still divides by k.
    if (m < 5) s5 += hits / 5.0;
    if (m < 10) s10 += hits / 10.0;
    sap += relevant > 0 ? ap / relevant : 0;
  }
  *p5 = s5 / n;
  *p10 = s10 / n;
  *map = sap / n;
}

Result<EvalResult> Evaluate(const LabelledSet& set, const EmbedFn& embed, const std::string& name,
                            const EvalOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  EvalResult r;
  r.name = name;
  const size_t n = set.images.size();
  std::vector<std::vector<float>> vecs(n);
  std::vector<char> ok(n, 0);
  // Originals chosen for copy detection: evenly spread over the (sorted) set.
  std::vector<size_t> copy_of;
  size_t want = std::min<size_t>(options.copy_queries, n);
  for (size_t i = 0; i < want; ++i) copy_of.push_back(i * n / want);
  const auto edits = CopyEditNames();
  std::vector<std::vector<std::vector<float>>> copy_vecs(copy_of.size(), std::vector<std::vector<float>>(edits.size()));
  std::vector<int> is_copy_source(n, -1);
  for (size_t c = 0; c < copy_of.size(); ++c) is_copy_source[copy_of[c]] = static_cast<int>(c);

  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) {
      auto d = DecodeImageFile(set.images[i].path, options.decode);
      if (!d.ok()) continue;
      auto v = embed(d->rgb);
      if (!v.ok()) continue;
      vecs[i] = std::move(v).value();
      ok[i] = 1;
      if (is_copy_source[i] >= 0)
        for (size_t e = 0; e < edits.size(); ++e) {
          auto edited = ApplyCopyEdit(d->rgb, edits[e]);
          if (!edited.ok()) continue;
          auto cv = embed(*edited);
          if (cv.ok()) copy_vecs[is_copy_source[i]][e] = std::move(cv).value();
        }
    }
  };
  int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker);
  for (auto& t : ts) t.join();

  std::vector<std::vector<float>> good;
  std::vector<int> labels;
  std::vector<size_t> index_in_good(n, SIZE_MAX);
  for (size_t i = 0; i < n; ++i) {
    if (!ok[i]) {
      ++r.failed;
      continue;
    }
    index_in_good[i] = good.size();
    good.push_back(vecs[i]);
    labels.push_back(set.images[i].label);
  }
  if (good.size() < 11) return Status::InvalidArgument("too few images could be embedded (" + std::to_string(good.size()) + ")");
  r.images = static_cast<int>(good.size());
  r.classes = static_cast<int>(std::set<int>(labels.begin(), labels.end()).size());
  CategoryMetrics(good, labels, &r.p_at_5, &r.p_at_10, &r.map);

  // Copy detection: each edited copy queries all originals; a hit when its own original ranks first.
  int total = 0, found = 0;
  for (size_t e = 0; e < edits.size(); ++e) {
    int t = 0, f = 0;
    for (size_t c = 0; c < copy_of.size(); ++c) {
      const auto& q = copy_vecs[c][e];
      size_t src = index_in_good[copy_of[c]];
      if (q.empty() || src == SIZE_MAX) continue;
      size_t best = 0;
      float best_s = -INFINITY;
      for (size_t j = 0; j < good.size(); ++j) {
        float s = 0;
        for (size_t k = 0; k < q.size(); ++k) s += q[k] * good[j][k];
        if (s > best_s) {
          best_s = s;
          best = j;
        }
      }
      ++t;
      f += best == src;
    }
    r.copy_recall[edits[e]] = t ? double(f) / t : 0;
    total += t;
    found += f;
  }
  r.copy_queries = total;
  r.copy_recall_at_1 = total ? double(found) / total : 0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace doppel
