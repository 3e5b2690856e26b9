#include "compare_report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "doppel/image/decode.h"
#include "doppel/api/json.h"
#include "doppel/image/encode.h"
#include "engine_flags.h"

namespace doppel::cli {
namespace {

std::string Escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string Base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

// An <img> with an inline JPEG thumbnail, or a grey box when the file cannot be read.
std::string ThumbTag(const std::string& path, int size, std::map<std::string, std::string>* cache) {
  auto it = cache->find(path);
  if (it == cache->end()) {
    std::string tag = "<div class=\"missing\" title=\"" + Escape(path) + "\">?</div>";
    auto d = DecodeImageFile(path);
    if (d.ok()) {
      auto jpg = EncodeJpeg(Thumbnail(d->rgb, size), 75);
      if (jpg.ok())
        tag = "<img src=\"data:image/jpeg;base64," + Base64(*jpg) + "\" title=\"" + Escape(path) + "\">";
    }
    it = cache->emplace(path, tag).first;
  }
  return it->second;
}

// A bar histogram of `values` over [lo, hi] in `bins` bins.
std::string HistogramSvg(const std::vector<double>& values, double lo, double hi, int bins, const std::string& title,
                         const std::string& colour) {
  const int w = 420, h = 200, pad = 30;
  std::vector<int> counts(bins, 0);
  for (double v : values) {
    int b = hi > lo ? int((v - lo) / (hi - lo) * bins) : 0;
    counts[std::clamp(b, 0, bins - 1)]++;
  }
  int top = std::max(1, *std::max_element(counts.begin(), counts.end()));
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h + 2 * pad << "\">"
    << "<text x=\"" << w / 2 << "\" y=\"16\" text-anchor=\"middle\" font-size=\"13\">" << Escape(title) << "</text>";
  double bw = double(w - 2 * pad) / bins;
  for (int b = 0; b < bins; ++b) {
    double bh = double(h - pad) * counts[b] / top;
    s << "<rect x=\"" << pad + b * bw << "\" y=\"" << pad + (h - pad) - bh << "\" width=\"" << bw - 1
      << "\" height=\"" << bh << "\" fill=\"" << colour << "\"><title>" << counts[b] << "</title></rect>";
  }
  s << "<line x1=\"" << pad << "\" y1=\"" << h << "\" x2=\"" << w - pad << "\" y2=\"" << h
    << "\" stroke=\"#333\"/>";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", lo);
  s << "<text x=\"" << pad << "\" y=\"" << h + 16 << "\" font-size=\"11\">" << buf << "</text>";
  std::snprintf(buf, sizeof buf, "%.3g", hi);
  s << "<text x=\"" << w - pad << "\" y=\"" << h + 16 << "\" font-size=\"11\" text-anchor=\"end\">" << buf
    << "</text>";
  s << "<text x=\"4\" y=\"" << pad + 4 << "\" font-size=\"11\">" << top << "</text></svg>";
  return s.str();
}

}  // namespace

Status WriteCompareReport(const std::vector<QueryComparison>& results, int k, const std::string& html_path,
                          const std::string& json_path, int worst) {
  if (results.empty()) return Status::InvalidArgument("no queries to report");
  const auto& models = results[0].comparison.models;
  nlohmann::json j{{"k", k}, {"models", models}, {"queries", nlohmann::json::array()}};
  std::vector<double> overlaps;
  std::vector<std::vector<double>> dists(models.size());
  double mean_overlap = 0, mean_rho = 0;
  int rho_n = 0;
  for (const auto& r : results) {
    const Comparison& c = r.comparison;
    overlaps.push_back(c.overlap);
    mean_overlap += c.overlap;
    if (!std::isnan(c.rank_correlation)) {
      mean_rho += c.rank_correlation;
      ++rho_n;
    }
    nlohmann::json q{{"query", r.query}, {"overlap", c.overlap}};
    q["rank_correlation"] = std::isnan(c.rank_correlation) ? nlohmann::json(nullptr) : nlohmann::json(c.rank_correlation);
    q["hits"] = nlohmann::json::array();
    for (size_t m = 0; m < c.hits.size(); ++m) {
      nlohmann::json l = nlohmann::json::array();
      for (const auto& h : c.hits[m]) {
        l.push_back(api::ToJson(h));
        dists[m].push_back(h.distance);
      }
      q["hits"].push_back(l);
    }
    j["queries"].push_back(q);
  }
  mean_overlap /= results.size();
  j["mean_overlap"] = mean_overlap;
  j["mean_rank_correlation"] = rho_n ? nlohmann::json(mean_rho / rho_n) : nlohmann::json(nullptr);
  {
    std::ofstream f(json_path);
    f << j.dump(2) << "\n";
    if (!f) return Status::IOError(json_path + ": cannot write");
  }

  std::map<std::string, std::string> thumbs;
  std::ostringstream h;
  h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>doppel: model comparison</title><style>"
       "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
       "td,th{padding:4px;border-bottom:1px solid #ddd;vertical-align:top;font-size:12px}"
       "img{max-width:96px;max-height:96px;display:block}.missing{width:96px;height:64px;background:#ccc}"
       ".shared{outline:3px solid #2a7}.plots{display:flex;flex-wrap:wrap;gap:1em}</style></head><body>";
  h << "<h1>Model comparison</h1><p>" << results.size() << " queries, top " << k << ", models: ";
  for (size_t m = 0; m < models.size(); ++m) h << (m ? " vs " : "") << "<b>" << Escape(models[m]) << "</b>";
  char buf[128];
  std::snprintf(buf, sizeof buf, ". Mean overlap@%d: %.3f; mean rank correlation on shared hits: ", k, mean_overlap);
  h << buf << (rho_n ? std::to_string(mean_rho / rho_n).substr(0, 5) : "n/a")
    << ". Distances of different models are on different scales and are never compared; rankings are.</p>";
  h << "<div class=\"plots\">" << HistogramSvg(overlaps, 0, 1, 10, "overlap@" + std::to_string(k) + " per query", "#4a7");
  const char* colours[] = {"#37a", "#a53", "#777", "#a3a"};
  for (size_t m = 0; m < models.size(); ++m) {
    double lo = dists[m].empty() ? 0 : *std::min_element(dists[m].begin(), dists[m].end());
    double hi = dists[m].empty() ? 1 : *std::max_element(dists[m].begin(), dists[m].end());
    h << HistogramSvg(dists[m], lo, hi, 20, "distances of " + models[m] + "'s hits", colours[m % 4]);
  }
  h << "</div>";

  std::vector<size_t> order(results.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return results[a].comparison.overlap < results[b].comparison.overlap;
  });
  h << "<h2>Where the models disagree most</h2><p>Lowest overlap first; a green frame marks a hit both models "
       "returned.</p><table>";
  for (size_t n = 0; n < order.size() && int(n) < worst; ++n) {
    const auto& r = results[order[n]];
    const Comparison& c = r.comparison;
    std::snprintf(buf, sizeof buf, "overlap %.2f", c.overlap);
    h << "<tr><th rowspan=\"" << c.hits.size() << "\">" << ThumbTag(r.query, 96, &thumbs) << Escape(r.query)
      << "<br>" << buf << "</th>";
    for (size_t m = 0; m < c.hits.size(); ++m) {
      if (m) h << "<tr>";
      h << "<td><b>" << Escape(c.models[m]) << "</b></td>";
      for (const auto& hit : c.hits[m]) {
        bool shared = false;
        for (size_t o = 0; o < c.hits.size(); ++o)
          if (o != m)
            for (const auto& x : c.hits[o]) shared = shared || x.id == hit.id;
        std::snprintf(buf, sizeof buf, "%.4f", hit.distance);
        h << "<td" << (shared ? " class=\"shared\"" : "") << ">" << ThumbTag(hit.path, 96, &thumbs) << buf << "</td>";
      }
      h << "</tr>";
    }
  }
  h << "</table></body></html>\n";
  std::ofstream f(html_path);
  f << h.str();
  if (!f) return Status::IOError(html_path + ": cannot write");
  return Status::OK();
}

}  // namespace doppel::cli
