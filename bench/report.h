// Shared by the benchmark programs: the machine's description and the replacement of one program's section in
// BENCHMARKS.md (between "<!-- bench:NAME -->" and "<!-- /bench:NAME -->"), so each program owns its section.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace doppel::bench {

inline std::string MachineDescription() {
  std::ifstream cpu("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpu, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  std::ifstream mem("/proc/meminfo");
  std::string memline;
  std::getline(mem, memline);
  long kb = 0;
  std::sscanf(memline.c_str(), "MemTotal: %ld kB", &kb);
  std::ostringstream os;
  os << model << ", " << std::thread::hardware_concurrency() << " cores, " << (kb / 1024 / 1024 + 1) << " GiB";
  return os.str();
}

inline std::string Today() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

// Replaces (or appends) the section of `name` in `path` with `body`.
inline bool UpdateSection(const std::string& path, const std::string& name, const std::string& body) {
  std::string text;
  {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  if (text.empty()) text = "# Benchmarks\n\nEach section is written by the program it names; rerun it to refresh.\n";
  const std::string open = "<!-- bench:" + name + " -->", close = "<!-- /bench:" + name + " -->";
  std::string section = open + "\n" + body + (body.empty() || body.back() == '\n' ? "" : "\n") + close;
  auto a = text.find(open), b = text.find(close);
  if (a != std::string::npos && b != std::string::npos && b > a) {
    text.replace(a, b + close.size() - a, section);
  } else {
    if (!text.empty() && text.back() != '\n') text += "\n";
    text += "\n" + section + "\n";
  }
  std::ofstream out(path);
  out << text;
  return bool(out);
}

// A benchmark's report: each line is printed as soon as it is measured and kept for the program's section of
// BENCHMARKS.md, written at the end.
class Section {
 public:
  void Say(const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    md_ << line << "\n";
  }
  template <typename... Args>
  void Sayf(const char* format, Args... args) {
    char buf[1024];
    std::snprintf(buf, sizeof buf, format, args...);
    Say(buf);
  }
  // Replaces section `name` of the file `path`.
  bool Write(const std::string& path, const std::string& name) {
    bool ok = UpdateSection(path, name, md_.str());
    std::printf("\n%s section '%s' of %s\n", ok ? "wrote" : "could not write", name.c_str(), path.c_str());
    return ok;
  }

 private:
  std::ostringstream md_;
};

// The q-quantile (0..1) of `values` (sorted in place); 0 when empty.
inline double Quantile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, size_t(q * values.size()))];
}

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Images/s of `callers` threads each running batches of `batch` preprocessed (constant) images through `model`
// for about `seconds`. Template so that report.h needs no doppel headers; Model is doppel::OnnxModel.
template <typename Model>
double InferenceRate(const Model& model, int batch, int callers, double seconds) {
  std::vector<float> input(size_t(batch) * model.input_floats(), 0.5f);
  std::atomic<long> done{0};
  Stopwatch sw;
  auto work = [&] {
    std::vector<float> out;
    do {
      if (!model.Run(input.data(), batch, &out).ok()) std::abort();  // a benchmark with a failing model is void
      done += batch;
    } while (sw.Seconds() < seconds);
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < callers; ++i) ts.emplace_back(work);
  for (auto& t : ts) t.join();
  return done / sw.Seconds();
}

// The better of batch 1 and batch 8 (half the time each): pure inference at its best, the strictest reference for
// a pipeline whatever batch it runs.
template <typename Model>
double BestInferenceRate(const Model& model, int callers, double seconds) {
  return std::max(InferenceRate(model, 1, callers, seconds / 2), InferenceRate(model, 8, callers, seconds / 2));
}

}  // namespace doppel::bench
