#include "server/metrics.h"

#include <cstdio>
#include <sstream>

namespace doppel {

namespace {

// A Prometheus label value: backslash, double quote and newline escaped.
std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

void ServerMetrics::Count(const std::string& route, int status) {
  std::lock_guard<std::mutex> l(mu_);
  ++requests_[{route, status}];
}

void ServerMetrics::Time(const std::string& route, double seconds) {
  std::lock_guard<std::mutex> l(mu_);
  Sum& s = latency_[route];
  s.seconds += seconds;
  ++s.count;
}

void ServerMetrics::Embed(const std::string& model, double seconds) {
  std::lock_guard<std::mutex> l(mu_);
  Sum& s = embed_[model];
  s.seconds += seconds;
  ++s.count;
}

std::string ServerMetrics::Render(const EngineStatus* status, bool index_job_running) const {
  std::ostringstream o;
  std::lock_guard<std::mutex> l(mu_);
  o << "# HELP doppel_http_requests_total HTTP requests answered, by route and status.\n"
    << "# TYPE doppel_http_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    o << "doppel_http_requests_total{route=\"" << Label(k.first) << "\",status=\"" << k.second << "\"} " << n << "\n";
  o << "# HELP doppel_http_request_seconds Time to answer HTTP requests, by route.\n"
    << "# TYPE doppel_http_request_seconds summary\n";
  for (const auto& [route, s] : latency_) {
    o << "doppel_http_request_seconds_sum{route=\"" << Label(route) << "\"} " << Num(s.seconds) << "\n";
    o << "doppel_http_request_seconds_count{route=\"" << Label(route) << "\"} " << s.count << "\n";
  }
  o << "# HELP doppel_embed_seconds Time to embed query images, by model.\n"
    << "# TYPE doppel_embed_seconds summary\n";
  for (const auto& [model, s] : embed_) {
    o << "doppel_embed_seconds_sum{model=\"" << Label(model) << "\"} " << Num(s.seconds) << "\n";
    o << "doppel_embed_seconds_count{model=\"" << Label(model) << "\"} " << s.count << "\n";
  }
  if (status) {
    o << "# HELP doppel_collection_pictures Pictures in each model's collection.\n"
      << "# TYPE doppel_collection_pictures gauge\n";
    for (const auto& m : status->models)
      o << "doppel_collection_pictures{model=\"" << Label(m.model.name) << "\"} " << m.count << "\n";
    o << "# HELP doppel_indexed_files Indexed file paths.\n# TYPE doppel_indexed_files gauge\n"
      << "doppel_indexed_files " << status->files << "\n";
  }
  o << "# HELP doppel_index_jobs_running Index jobs running (0 or 1).\n# TYPE doppel_index_jobs_running gauge\n"
    << "doppel_index_jobs_running " << (index_job_running ? 1 : 0) << "\n";
  return o.str();
}

}  // namespace doppel
