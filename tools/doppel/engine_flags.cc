#include "engine_flags.h"

#include <cstdio>
#include <cstdlib>

namespace doppel::cli {

void EngineFlags::Add(CLI::App* cmd) {
  cmd->add_option("--data", data, "data directory (default: $DOPPEL_DATA or ./doppel-data)");
  cmd->add_option("--threads", threads, "inference threads (default: number of cores)");
  cmd->add_option("--batch", batch, "images per inference call (default 8)");
}

Result<std::unique_ptr<Engine>> EngineFlags::Open() const {
  EngineOptions o;
  const char* env = std::getenv("DOPPEL_DATA");
  o.data_dir = !data.empty() ? data : (env && *env ? env : "doppel-data");
  o.embed.infer_threads = threads;
  o.embed.batch_size = batch;
  return Engine::Open(o);
}

nlohmann::json FieldValueJson(const FieldValue& v) {
  return std::visit(
      [](const auto& x) -> nlohmann::json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) return nullptr;
        else return x;
      },
      v);
}

nlohmann::json HitJson(const Hit& h) {
  nlohmann::json j{{"rank", h.rank}, {"id", h.id}, {"distance", h.distance}, {"path", h.path}};
  if (!h.other_paths.empty()) j["other_paths"] = h.other_paths;
  nlohmann::json f = nlohmann::json::object();
  for (const auto& [k, v] : h.fields)
    if (k != "path") f[k] = FieldValueJson(v);
  j["fields"] = f;
  return j;
}

std::string HumanBytes(int64_t n) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = double(n);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

int Fail(const std::string& cmd, const Status& st) {
  std::fprintf(stderr, "doppel %s: %s\n", cmd.c_str(), st.ToString().c_str());
  switch (st.code()) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kNotFound:
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition:
    case Status::Code::kUnsupported:
    case Status::Code::kResourceExhausted:
      return 2;
    default:
      return 1;
  }
}

void QueryFlags::Add(CLI::App* cmd) {
  cmd->add_option("image", image, "query image file");
  cmd->add_option("--id", id, "query by the id of an indexed picture");
  cmd->add_option("--path", path, "query by the path of an indexed picture");
}

Result<SearchQuery> QueryFlags::Build() const {
  int given = !image.empty() + (id != 0) + !path.empty();
  if (given != 1) return Status::InvalidArgument("give exactly one of: an IMAGE file, --id ID, --path PATH");
  SearchQuery q;
  q.image_path = image;
  q.id = id;
  q.indexed_path = path;
  return q;
}

}  // namespace doppel::cli
