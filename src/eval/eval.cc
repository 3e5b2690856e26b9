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
#include "doppel/image/phash.h"
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

namespace {

// Per-query category metrics: query q (vector qv, itself left out) against every other row of `db`.
struct QueryScores {
  double p5 = 0, p10 = 0, ap = 0;
};

// (-inner product, row) of every row but q, best first; ties by index.
void RankAll(const std::vector<float>& qv, size_t q, const std::vector<std::vector<float>>& db,
             std::vector<std::pair<float, size_t>>* scores) {
  scores->clear();
  for (size_t j = 0; j < db.size(); ++j) {
    if (j == q) continue;
    float d = 0;
    for (size_t k = 0; k < qv.size(); ++k) d += qv[k] * db[j][k];
    scores->emplace_back(-d, j);
  }
  std::sort(scores->begin(), scores->end());
}

// The plain ranking (raw vectors) with its best `top` re-ordered by the refined vectors, as `doppel search
// --whiten` re-ranks a shortlist: those stay ahead of the rest.
void RankReRanked(const std::vector<float>& raw_q, const std::vector<float>& qv, size_t q, const Matrix& raw,
                  const Matrix& db, int top, std::vector<std::pair<float, size_t>>* scores) {
  RankAll(raw_q, q, raw, scores);
  const size_t t = std::min(scores->size(), size_t(std::max(0, top)));
  for (size_t i = 0; i < t; ++i) {
    const size_t j = (*scores)[i].second;
    float d = 0;
    for (size_t k = 0; k < qv.size(); ++k) d += qv[k] * db[j][k];
    (*scores)[i].first = -d;
  }
  std::sort(scores->begin(), scores->begin() + long(t));
}

QueryScores ScoreRanked(size_t q, const std::vector<int>& labels, int relevant,
                        const std::vector<std::pair<float, size_t>>& ranked) {
  const std::vector<std::pair<float, size_t>>* scores = &ranked;
  const size_t m = ranked.size();
  QueryScores r;
  int hits = 0;
  for (size_t i = 0; i < m; ++i) {
    if (labels[(*scores)[i].second] == labels[q]) {
      ++hits;
      r.ap += double(hits) / double(i + 1);
    }
    if (i == 4) r.p5 = hits / 5.0;
    if (i == 9) r.p10 = hits / 10.0;
  }
  // Fewer candidates than k: precision@k still divides by k.
  if (m < 5) r.p5 = hits / 5.0;
  if (m < 10) r.p10 = hits / 10.0;
  r.ap = relevant > 0 ? r.ap / relevant : 0;
  return r;
}

QueryScores ScoreQuery(const std::vector<float>& qv, size_t q, const std::vector<std::vector<float>>& db,
                       const std::vector<int>& labels, int relevant, std::vector<std::pair<float, size_t>>* scores) {
  RankAll(qv, q, db, scores);
  return ScoreRanked(q, labels, relevant, *scores);
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

}  // namespace

void CategoryMetrics(const std::vector<std::vector<float>>& v, const std::vector<int>& labels, double* p5,
                     double* p10, double* map) {
  std::map<int, int> per_label;
  for (int l : labels) per_label[l]++;
  std::vector<double> s5, s10, ap;
  std::vector<std::pair<float, size_t>> scores;
  for (size_t q = 0; q < v.size(); ++q) {
    QueryScores r = ScoreQuery(v[q], q, v, labels, per_label[labels[q]] - 1, &scores);
    s5.push_back(r.p5);
    s10.push_back(r.p10);
    ap.push_back(r.ap);
  }
  *p5 = Mean(s5);
  *p10 = Mean(s10);
  *map = Mean(ap);
}

namespace {

// What embedding a labelled set produced: each image's vector (and its mirror image's), and each copy-detection
// original's edited copies (and their mirrors).
struct Embedded {
  std::vector<std::vector<float>> vecs, flipped;
  std::vector<char> ok;
  std::vector<size_t> copy_of;  // the originals that got edited copies
  std::vector<std::vector<std::vector<float>>> copy_vecs, copy_flipped;  // [original][edit]
  double seconds = 0;
};

Embedded EmbedAll(const LabelledSet& set, const EmbedFn& embed, const EvalOptions& options, bool flip) {
  const auto t0 = std::chrono::steady_clock::now();
  Embedded x;
  const size_t n = set.images.size();
  x.vecs.resize(n);
  x.flipped.resize(n);
  x.ok.assign(n, 0);
  // Originals chosen for copy detection: evenly spread over the (sorted) set.
  size_t want = std::min<size_t>(options.copy_queries, n);
  for (size_t i = 0; i < want; ++i) x.copy_of.push_back(i * n / want);
  const auto edits = CopyEditNames();
  x.copy_vecs.assign(x.copy_of.size(), std::vector<std::vector<float>>(edits.size()));
  x.copy_flipped = x.copy_vecs;
  std::vector<int> is_copy_source(n, -1);
  for (size_t c = 0; c < x.copy_of.size(); ++c) is_copy_source[x.copy_of[c]] = static_cast<int>(c);
  // The vector of an image, and of its mirror image when flipping.
  auto both = [&](const ImageU8& img, std::vector<float>* v, std::vector<float>* fv) {
    auto r = embed(img);
    if (!r.ok()) return false;
    *v = std::move(r).value();
    if (flip) {
      auto f = embed(ApplyDihedral(img, Dihedral::kMirror));
      if (!f.ok()) return false;
      *fv = std::move(f).value();
    }
    return true;
  };
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) {
      auto d = DecodeImageFile(set.images[i].path, options.decode);
      if (!d.ok() || !both(d->rgb, &x.vecs[i], &x.flipped[i])) continue;
      x.ok[i] = 1;
      if (is_copy_source[i] >= 0)
        for (size_t e = 0; e < edits.size(); ++e) {
          auto edited = ApplyCopyEdit(d->rgb, edits[e]);
          const size_t c = size_t(is_copy_source[i]);
          if (edited.ok() && !both(*edited, &x.copy_vecs[c][e], &x.copy_flipped[c][e])) x.copy_vecs[c][e].clear();
        }
    }
  };
  int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker);
  for (auto& t : ts) t.join();
  x.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return x;
}

// The vector an image has under `r`: with flip, the normalised mean of it and its mirror image's.
std::vector<float> Pooled(const std::vector<float>& v, const std::vector<float>& fv, const Refinement& r) {
  std::vector<float> out = v;
  if (r.flip && fv.size() == v.size())
    for (size_t i = 0; i < out.size(); ++i) out[i] += fv[i];
  Normalize(&out);
  return out;
}

Result<EvalResult> Score(const LabelledSet& set, const Embedded& x, const Refinement& ref, const std::string& name) {
  const auto t0 = std::chrono::steady_clock::now();
  EvalResult r;
  r.name = name;
  r.refinement = ref.name;
  const size_t n = set.images.size();
  Matrix db;
  std::vector<int> labels;
  std::vector<size_t> index_in_good(n, SIZE_MAX);
  for (size_t i = 0; i < n; ++i) {
    if (!x.ok[i]) {
      ++r.failed;
      continue;
    }
    index_in_good[i] = db.size();
    db.push_back(Pooled(x.vecs[i], x.flipped[i], ref));
    labels.push_back(set.images[i].label);
  }
  if (db.size() < 11)
    return Status::InvalidArgument(std::to_string(db.size()) + " images embedded (of " + std::to_string(n) +
                                   "): P@10 needs at least 11");
  r.images = static_cast<int>(db.size());
  r.classes = static_cast<int>(std::set<int>(labels.begin(), labels.end()).size());
  // The copy queries: each edited copy of each original, with the original's row.
  const auto edits = CopyEditNames();
  Matrix cq;
  std::vector<size_t> cq_src, cq_edit;
  for (size_t c = 0; c < x.copy_of.size(); ++c)
    for (size_t e = 0; e < edits.size(); ++e) {
      const size_t src = index_in_good[x.copy_of[c]];
      if (x.copy_vecs[c][e].empty() || src == SIZE_MAX) continue;
      cq.push_back(Pooled(x.copy_vecs[c][e], x.copy_flipped[c][e], ref));
      cq_src.push_back(src);
      cq_edit.push_back(e);
    }
  const Matrix db_raw = ref.rerank > 0 ? db : Matrix(), cq_raw = ref.rerank > 0 ? cq : Matrix();
  if (ref.whiten_power != 0) DOPPEL_RETURN_IF_ERROR(Whiten(&db, {&cq}, ref.whiten_power));
  if (ref.dba_k > 0) DatabaseAugment(&db, ref.dba_k, ref.alpha);

  // Category retrieval: every picture queries all others.
  std::map<int, int> per_label;
  for (int l : labels) per_label[l]++;
  std::vector<double> s5, s10, ap;
  std::vector<std::pair<float, size_t>> scores;
  for (size_t q = 0; q < db.size(); ++q) {
    const std::vector<float> qv = ref.qe_n > 0 ? ExpandQuery(db[q], db, ref.qe_n, ref.alpha, q) : db[q];
    QueryScores qs;
    if (ref.rerank > 0) {
      RankReRanked(db_raw[q], qv, q, db_raw, db, ref.rerank, &scores);
      qs = ScoreRanked(q, labels, per_label[labels[q]] - 1, scores);
    } else {
      qs = ScoreQuery(qv, q, db, labels, per_label[labels[q]] - 1, &scores);
    }
    s5.push_back(qs.p5);
    s10.push_back(qs.p10);
    ap.push_back(qs.ap);
  }
  r.p_at_5 = Mean(s5);
  r.p_at_10 = Mean(s10);
  r.map = Mean(ap);
  r.p_at_5_ci = BootstrapInterval(s5);
  r.map_ci = BootstrapInterval(ap);

  // Copy detection: each edited copy queries all originals; a hit when its own original ranks first.
  std::vector<double> hit(cq.size(), 0);
  std::vector<int> per_edit_total(edits.size(), 0), per_edit_found(edits.size(), 0);
  for (size_t i = 0; i < cq.size(); ++i) {
    const std::vector<float> qv = ref.qe_n > 0 ? ExpandQuery(cq[i], db, ref.qe_n, ref.alpha, SIZE_MAX) : cq[i];
    size_t best = 0;
    float best_s = -INFINITY;
    if (ref.rerank > 0) {  // the best of the plain ranking's shortlist, by the refined vectors
      RankReRanked(cq_raw[i], qv, SIZE_MAX, db_raw, db, ref.rerank, &scores);
      best = scores.empty() ? SIZE_MAX : scores[0].second;
    }
    for (size_t j = 0; j < db.size() && ref.rerank == 0; ++j) {
      float s = 0;
      for (size_t k = 0; k < qv.size(); ++k) s += qv[k] * db[j][k];
      if (s > best_s) {
        best_s = s;
        best = j;
      }
    }
    hit[i] = best == cq_src[i] ? 1 : 0;
    ++per_edit_total[cq_edit[i]];
    per_edit_found[cq_edit[i]] += int(hit[i]);
  }
  for (size_t e = 0; e < edits.size(); ++e)
    r.copy_recall[edits[e]] = per_edit_total[e] ? double(per_edit_found[e]) / per_edit_total[e] : 0;
  r.copy_queries = int(cq.size());
  r.copy_recall_at_1 = Mean(hit);
  r.copy_ci = BootstrapInterval(hit);
  r.score_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.seconds = x.seconds + r.score_seconds;
  return r;
}

}  // namespace

Result<std::vector<EvalResult>> EvaluateRefinements(const LabelledSet& set, const EmbedFn& embed,
                                                    const std::string& name, const EvalOptions& options) {
  std::vector<Refinement> refs = options.refinements;
  if (refs.empty()) refs.push_back(Refinement{});
  const bool flip = std::any_of(refs.begin(), refs.end(), [](const Refinement& r) { return r.flip; });
  Embedded x = EmbedAll(set, embed, options, flip);
  std::vector<EvalResult> out;
  for (const auto& ref : refs) {
    DOPPEL_ASSIGN_OR_RETURN(EvalResult r, Score(set, x, ref, name));
    out.push_back(std::move(r));
  }
  return out;
}

Result<EvalResult> Evaluate(const LabelledSet& set, const EmbedFn& embed, const std::string& name,
                            const EvalOptions& options) {
  DOPPEL_ASSIGN_OR_RETURN(std::vector<EvalResult> all, EvaluateRefinements(set, embed, name, options));
  return all.front();
}

namespace {

// Each part's vector for `img`, normalised.
Result<std::vector<std::vector<float>>> PartVectors(const std::vector<EmbedFn>& parts, const ImageU8& img) {
  std::vector<std::vector<float>> out;
  for (const auto& part : parts) {
    DOPPEL_ASSIGN_OR_RETURN(std::vector<float> v, part(img));
    Normalize(&v);
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

EmbedFn ConcatenatedEmbedding(std::vector<EmbedFn> parts) {
  return [parts = std::move(parts)](const ImageU8& img) -> Result<std::vector<float>> {
    DOPPEL_ASSIGN_OR_RETURN(auto vs, PartVectors(parts, img));
    std::vector<float> all;
    for (const auto& v : vs) all.insert(all.end(), v.begin(), v.end());
    Normalize(&all);
    return all;
  };
}

EmbedFn AveragedEmbedding(std::vector<EmbedFn> parts) {
  return [parts = std::move(parts)](const ImageU8& img) -> Result<std::vector<float>> {
    DOPPEL_ASSIGN_OR_RETURN(auto vs, PartVectors(parts, img));
    if (vs.empty()) return Status::InvalidArgument("nothing to average");
    std::vector<float> sum(vs[0].size(), 0.0f);
    for (const auto& v : vs) {
      if (v.size() != sum.size())
        return Status::InvalidArgument("vectors of " + std::to_string(sum.size()) + " and " +
                                       std::to_string(v.size()) + " dimensions cannot be averaged");
      for (size_t i = 0; i < v.size(); ++i) sum[i] += v[i];
    }
    Normalize(&sum);
    return sum;
  };
}

DecodeOptions WidestDecode(const std::vector<DecodeOptions>& each) {
  if (each.empty()) return DecodeOptions{};
  auto pixels = [](const DecodeOptions& o) {
    return o.draft_width > 0 && o.draft_height > 0 ? int64_t(o.draft_width) * o.draft_height : INT64_MAX;
  };
  return *std::max_element(each.begin(), each.end(),
                           [&](const DecodeOptions& a, const DecodeOptions& b) { return pixels(a) < pixels(b); });
}

}  // namespace doppel
