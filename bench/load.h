// Shared by the server benchmarks: a bounded closed-loop load (each client sends its next request when the last was
// answered) and its throughput and latency quantiles.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "report.h"

namespace doppel::bench {

struct Load {
  double qps = 0, p50 = 0, p99 = 0;
  int64_t errors = 0, busy = 0;
};

// `clients` threads issuing `request(client, i)` (which returns an HTTP status) back to back until `until()` says
// stop (checked between requests); latencies of the 200s.
inline Load RunLoad(int clients, const std::function<bool()>& until, const std::function<int(int, int)>& request) {
  std::vector<double> all;
  std::mutex mu;
  std::atomic<int64_t> errors{0}, busy{0};
  Stopwatch sw;
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c)
    ts.emplace_back([&, c] {
      std::vector<double> mine;
      for (int i = 0; !until(); ++i) {
        Stopwatch one;
        int status = request(c, i);
        if (status == 200) mine.push_back(one.Seconds() * 1000);
        else if (status == 503) ++busy;
        else ++errors;
      }
      std::lock_guard<std::mutex> l(mu);
      all.insert(all.end(), mine.begin(), mine.end());
    });
  for (auto& t : ts) t.join();
  Load r;
  r.qps = all.size() / sw.Seconds();
  r.p50 = Quantile(all, 0.5);
  r.p99 = Quantile(all, 0.99);
  r.errors = errors;
  r.busy = busy;
  return r;
}

// The same for a fixed time.
inline Load RunLoad(int clients, double seconds, const std::function<int(int, int)>& request) {
  Stopwatch sw;
  return RunLoad(clients, [&] { return sw.Seconds() >= seconds; }, request);
}

}  // namespace doppel::bench
