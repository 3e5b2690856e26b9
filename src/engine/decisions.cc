// The decisions file (see decisions.h).
#include "decisions.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "doppel/util/file.h"

namespace doppel {
namespace fs = std::filesystem;

bool Decision::KeepsPath(const std::string& path, const std::vector<std::string>& paths_of_id) const {
  if (keep_paths.empty()) return true;
  bool any = false;
  for (const auto& p : paths_of_id)
    if (std::find(keep_paths.begin(), keep_paths.end(), p) != keep_paths.end()) any = true;
  return !any || std::find(keep_paths.begin(), keep_paths.end(), path) != keep_paths.end();
}

std::string DecisionsPath(const std::string& data_dir) {
  return (fs::path(data_dir) / "duplicate-decisions.json").string();
}

Result<std::vector<Decision>> LoadDecisions(const std::string& data_dir) {
  std::vector<Decision> out;
  const std::string path = DecisionsPath(data_dir);
  std::error_code ec;
  if (!fs::exists(path, ec)) return out;
  DOPPEL_ASSIGN_OR_RETURN(std::string text, ReadFileBytes(path, int64_t(256) << 20));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("decisions") || !j["decisions"].is_array())
    return Status::Corruption(path + ": not a decisions file");
  try {
    for (const auto& d : j["decisions"]) {
      Decision x;
      if (!d.contains("ids") || !d["ids"].is_array()) return Status::Corruption(path + ": a decision without ids");
      for (const auto& id : d["ids"]) x.ids.push_back(id.get<int64_t>());
      std::sort(x.ids.begin(), x.ids.end());
      x.ids.erase(std::unique(x.ids.begin(), x.ids.end()), x.ids.end());
      const auto keep = d.value("keep", nlohmann::json());
      if (keep.is_array()) {
        for (const auto& id : keep) x.keep.push_back(id.get<int64_t>());
      } else if (keep.is_number_integer()) {  // version 1: keep one
        x.keep.push_back(keep.get<int64_t>());
      } else {  // version 1: null = keep all
        x.keep = x.ids;
      }
      std::sort(x.keep.begin(), x.keep.end());
      x.keep.erase(std::unique(x.keep.begin(), x.keep.end()), x.keep.end());
      if (x.keep.empty() || !std::includes(x.ids.begin(), x.ids.end(), x.keep.begin(), x.keep.end()))
        return Status::Corruption(path + ": a decision keeps pictures it does not name");
      if (d.contains("keep_paths") && d["keep_paths"].is_array())
        for (const auto& p : d["keep_paths"]) x.keep_paths.push_back(p.get<std::string>());
      out.push_back(std::move(x));
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  return out;
}

Status SaveDecisions(const std::string& data_dir, const std::vector<Decision>& ds) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& d : ds) {
    nlohmann::json x{{"ids", d.ids}, {"keep", d.keep}};
    if (!d.keep_paths.empty()) x["keep_paths"] = d.keep_paths;
    a.push_back(std::move(x));
  }
  return WriteFileAtomic(DecisionsPath(data_dir), nlohmann::json{{"version", 2}, {"decisions", a}}.dump(1) + "\n");
}

}  // namespace doppel
