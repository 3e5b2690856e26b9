// Internal: the server's counters, rendered in Prometheus text format (metric names start with doppel_).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "doppel/engine/engine.h"

namespace doppel {

class ServerMetrics {
 public:
  // One answered request: its route (never the raw path: labels stay few) and status.
  void Count(const std::string& route, int status);
  // Time a routed request took.
  void Time(const std::string& route, double seconds);
  // Time spent embedding one query image with `model`.
  void Embed(const std::string& model, double seconds);
  // Everything, plus the collection sizes and index job state of `status` when given.
  std::string Render(const EngineStatus* status, bool index_job_running) const;

 private:
  struct Sum {
    double seconds = 0;
    int64_t count = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, Sum> latency_;
  std::map<std::string, Sum> embed_;
};

}  // namespace doppel
