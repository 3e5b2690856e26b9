#include "doppel/api/json.h"

#include <cmath>

namespace doppel::api {
using nlohmann::json;

json ToJson(const FieldValue& v) {
  return std::visit(
      [](const auto& x) -> json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) return nullptr;
        else return x;
      },
      v);
}

json ToJson(const Hit& h) {
  json j{{"rank", h.rank}, {"id", h.id}, {"distance", h.distance}, {"path", h.path}};
  if (!h.other_paths.empty()) j["other_paths"] = h.other_paths;
  json f = json::object();
  for (const auto& [k, v] : h.fields)
    if (k != "path") f[k] = ToJson(v);
  j["fields"] = f;
  return j;
}

json ToJson(const std::vector<Hit>& hits) {
  json a = json::array();
  for (const auto& h : hits) a.push_back(ToJson(h));
  return a;
}

json ToJson(const ModelEntry& m, bool is_default) {
  return json{{"name", m.name},     {"default", is_default}, {"dim", m.dim},       {"metric", m.metric},
              {"index", m.index},   {"fingerprint", m.fingerprint}, {"source", m.source}, {"file", m.file},
              {"added", m.added},   {"spec", json::parse(SpecToCanonicalJson(m.spec))},
              {"similar_threshold", m.similar_threshold > 0 ? json(m.similar_threshold) : json(nullptr)}};
}

json ToJson(const EngineStatus& s) {
  json j{{"data_dir", s.data_dir},
         {"read_only", s.read_only},
         {"default_model", s.default_model.empty() ? json(nullptr) : json(s.default_model)},
         {"files", s.files},
         {"disk_bytes", s.disk_bytes},
         {"models", json::array()}};
  for (const auto& m : s.models) {
    json x{{"name", m.model.name},       {"default", m.model.name == s.default_model},
           {"count", m.count},           {"dim", m.model.dim},
           {"metric", m.model.metric},   {"index", m.model.index},
           {"fingerprint", m.model.fingerprint}};
    j["models"].push_back(x);
  }
  return j;
}

json ToJson(const IndexProgress& p) {
  return json{{"total", p.total},     {"done", p.done},     {"indexed", p.indexed},
              {"skipped", p.skipped}, {"failed", p.failed}, {"seconds", p.seconds}};
}

json ToJson(const IndexSummary& s) {
  const auto& c = s.counts;
  json j{{"found", c.total},        {"indexed", c.indexed},          {"skipped", c.skipped},
         {"failed", c.failed},      {"duplicates", s.duplicates},    {"pruned", s.pruned},
         {"ignored", s.ignored},    {"seconds", c.seconds},          {"images_per_second", s.images_per_second},
         {"cancelled", s.cancelled}};
  j["failures"] = json::array();
  for (const auto& [p, e] : s.failures) j["failures"].push_back({{"path", p}, {"error", e}});
  j["ignored_files"] = json::array();
  for (const auto& [p, why] : s.ignored_files) j["ignored_files"].push_back({{"path", p}, {"reason", why}});
  return j;
}

json ToJson(const Comparison& c) {
  json j{{"models", c.models}, {"overlap", c.overlap}};
  j["rank_correlation"] = std::isnan(c.rank_correlation) ? json(nullptr) : json(c.rank_correlation);
  // Per model, in the order of "models".
  j["hits"] = json::array();
  j["distance_scales"] = json::array();
  for (size_t m = 0; m < c.models.size(); ++m) {
    j["hits"].push_back(ToJson(c.hits[m]));
    const auto& s = c.distance_scales[m];
    j["distance_scales"].push_back({{"min", s.min}, {"mean", s.mean}, {"max", s.max}});
  }
  if (!c.fused.empty()) j["fused"] = ToJson(c.fused);
  return j;
}

json ToJson(const std::vector<DuplicateGroup>& groups) {
  json a = json::array();
  for (const auto& g : groups) {
    json members = json::array();
    for (const auto& m : g.members) {  // the first is the representative
      json j = ToJson(m.hit);
      j["tier"] = DuplicateTierName(m.tier);
      if (!m.transform.empty()) j["transform"] = m.transform;
      members.push_back(std::move(j));
    }
    json group{{"members", members}, {"keep_rule", g.keep_rule}};
    if (!g.decision.empty()) group["decision"] = g.decision;
    a.push_back(std::move(group));
  }
  return json{{"groups", a}};
}

json ToJson(const TrashBatch& b) {
  auto moves = [](const std::vector<TrashMove>& ms) {
    json a = json::array();
    for (const auto& m : ms) {
      json j{{"id", m.id}, {"from", m.from}, {"bytes", m.bytes}};
      if (!m.to.empty()) j["to"] = m.to;
      if (!m.note.empty()) j["note"] = m.note;
      a.push_back(std::move(j));
    }
    return a;
  };
  return json{{"name", b.name},   {"state", b.state},         {"created", b.created},     {"bytes", b.bytes},
              {"reindexed", b.reindexed}, {"moves", moves(b.moves)}, {"skipped", moves(b.skipped)}};
}

json SearchJson(const std::string& model, const std::vector<Hit>& hits) {
  return json{{"model", model}, {"hits", ToJson(hits)}};
}

const char* ErrorCode(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kInvalidArgument: return "invalid_argument";
    case Status::Code::kNotFound: return "not_found";
    case Status::Code::kAlreadyExists: return "already_exists";
    case Status::Code::kIOError: return "io_error";
    case Status::Code::kCorruption: return "corruption";
    case Status::Code::kUnsupported: return "unsupported";
    case Status::Code::kResourceExhausted: return "resource_exhausted";
    case Status::Code::kFailedPrecondition: return "failed_precondition";
    case Status::Code::kInternal: return "internal";
    case Status::Code::kUnavailable: return "unavailable";
    case Status::Code::kDeadlineExceeded: return "deadline_exceeded";
  }
  return "internal";
}

int HttpStatus(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return 200;
    case Status::Code::kInvalidArgument: return 400;
    case Status::Code::kNotFound: return 404;
    case Status::Code::kAlreadyExists: return 409;
    case Status::Code::kFailedPrecondition: return 409;
    case Status::Code::kUnsupported: return 415;
    case Status::Code::kResourceExhausted: return 413;
    case Status::Code::kIOError:
    case Status::Code::kCorruption:
    case Status::Code::kInternal: return 500;
    case Status::Code::kUnavailable: return 503;
    case Status::Code::kDeadlineExceeded: return 504;
  }
  return 500;
}

json ErrorJson(const Status& status) {
  return json{{"error", {{"code", ErrorCode(status.code())}, {"message", status.message()}}}};
}

}  // namespace doppel::api
