#include "doppel/server/server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <semaphore>
#include <thread>

#include "doppel/api/api.h"
#include "doppel/api/json.h"
#include "doppel/image/decode.h"
#include "doppel/image/encode.h"
#include "doppel/util/file.h"
#include "doppel/util/hash.h"
#include "server/metrics.h"
#include "server/openapi.h"
#include "server/web_assets.h"

namespace doppel {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kJson[] = "application/json";
constexpr int64_t kMaxOffset = 10000;  // paging goes this deep (a search asks for offset + k hits)

// An error the HTTP layer decides itself (not a Status from the core).
void HttpError(httplib::Response& res, int http, const char* code, const std::string& message) {
  res.status = http;
  res.set_content(json{{"error", {{"code", code}, {"message", message}}}}.dump(), kJson);
}

// The last path component of an uploaded file's name, printable and short: only ever a label.
std::string UploadLabel(const std::string& filename) {
  std::string base = filename.substr(filename.find_last_of("/\\") + 1);
  std::string out;
  for (char c : base)
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f && out.size() < 128) out += c;
  return out.empty() ? "upload" : out;
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

const char* MimeOf(const std::string& format) {
  if (format == "jpeg") return "image/jpeg";
  if (format == "png") return "image/png";
  if (format == "gif") return "image/gif";
  if (format == "webp") return "image/webp";
  if (format == "tiff") return "image/tiff";
  if (format == "heif") return "image/heif";
  if (format == "jxl") return "image/jxl";
  return "application/octet-stream";
}

// A request's number field `name` from its text: all of it a number (an integer when `integer`) within lo..hi, else
// InvalidArgument naming the field and the range. The one parser of the routes' numeric fields.
template <typename T>
Status ParseNumberField(const std::string& name, const std::string& text, double lo, double hi, bool integer, T* out) {
  try {
    size_t used = 0;
    if (integer) {  // kept exact: picture ids use all 63 bits, more than a double holds
      const long long v = std::stoll(text, &used);
      if (used != text.size() || !(double(v) >= lo && double(v) <= hi)) throw std::out_of_range(name);
      *out = static_cast<T>(v);
    } else {
      const double v = std::stod(text, &used);
      if (used != text.size() || !(v >= lo && v <= hi)) throw std::out_of_range(name);
      *out = static_cast<T>(v);
    }
    return Status::OK();
  } catch (const std::exception&) {
    auto bound = [](double x) { return x >= 9e18 ? std::string("max") : std::to_string(int64_t(x)); };
    return Status::InvalidArgument("field '" + name + "' must be " + (integer ? "an integer" : "a number") +
                                   " in " + bound(lo) + ".." + bound(hi));
  }
}

// Similarity in [-1, 1] for hits of unit vectors: cosine = 1 - L2^2 / 2; IP/COSINE distances are similarities.
double Score(const std::string& metric, float distance) {
  return metric == "L2" ? 1.0 - double(distance) / 2.0 : double(distance);
}

}  // namespace

struct HttpServer::Impl {
  std::atomic<bool> stop_requested{false};
  Engine* engine = nullptr;
  ServerOptions options;
  httplib::Server svr;
  int port = 0;
  ServerMetrics metrics;
  std::unique_ptr<std::counting_semaphore<1 << 16>> embeds;
  std::mutex thumb_mu;  // one thumbnail written at a time

  // Sends a core error: its stable code and HTTP status; 5xx messages are logged, not sent (they may name server
  // paths).
  void Fail(httplib::Response& res, const Status& st) {
    res.status = api::HttpStatus(st.code());
    if (res.status >= 500) {
      std::fprintf(stderr, "doppel serve: %s\n", st.ToString().c_str());
      res.set_content(json{{"error", {{"code", api::ErrorCode(st.code())},
                                      {"message", "internal error (details are in the server's log)"}}}}
                          .dump(),
                      kJson);
      return;
    }
    res.set_content(api::ErrorJson(st).dump(), kJson);
  }

  // The query and options of a search/compare request: multipart (field "image" + form fields), a raw image body
  // (options in the query string), or JSON. Unknown JSON fields are refused: a request cannot smuggle a server path.
  struct Parsed {
    api::QueryInput input;
    SearchQuery query;  // built from `input` for a remote caller
    SearchOptions options;
    std::string model;
    std::string models;
    std::string profile;  // search: fast | quality (api::SearchModels)
    int offset = 0;  // hits to skip (paging): the search asks for offset + k and answers the last k
  };
  Status ParseQuery(const httplib::Request& req, Parsed* p) {
    std::map<std::string, std::string> fields;
    for (const auto& [k, v] : req.params) fields[k] = v;
    const std::string type = req.get_header_value("Content-Type");
    if (StartsWith(type, "multipart/form-data")) {
      for (const auto& [name, part] : req.files) {
        if (name == "image") {
          p->input.upload = part.content;
          p->input.upload_name = UploadLabel(part.filename);
        } else if (name == "k" || name == "offset" || name == "model" || name == "models" || name == "profile" || name == "filter" ||
                   name == "id" || name == "expand" || name == "whiten" || name == "dba") {
          fields[name] = part.content;
        } else {
          return Status::InvalidArgument("unknown form field '" + name.substr(0, 64) + "'");
        }
      }
    } else if (StartsWith(type, "application/json")) {
      json j = json::parse(req.body, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("the body is not a JSON object");
      for (const auto& [k, v] : j.items()) {
        if (k != "k" && k != "offset" && k != "model" && k != "models" && k != "profile" && k != "filter" &&
            k != "id" && k != "expand" && k != "whiten" && k != "dba")
          return Status::InvalidArgument(
              "unknown field '" + k.substr(0, 64) +
              "' (fields: id, k, offset, model, models, profile, filter, expand, whiten, dba)");
        if (v.is_string()) fields[k] = v.get<std::string>();
        else if (v.is_boolean()) fields[k] = v.get<bool>() ? "true" : "false";
        else if (v.is_number_integer()) fields[k] = std::to_string(v.get<int64_t>());
        else return Status::InvalidArgument("field '" + k + "' must be a string or an integer");
      }
    } else if (StartsWith(type, "image/") || StartsWith(type, "application/octet-stream")) {
      p->input.upload = req.body;
      p->input.upload_name = "upload";
    } else if (!req.body.empty()) {
      return Status::Unsupported("content type '" + type.substr(0, 64) +
                                 "': send multipart/form-data (field 'image'), an image body or JSON");
    }
    auto int_field = [&](const char* name, int64_t lo, int64_t hi, int64_t* out) -> Status {
      auto it = fields.find(name);
      return it == fields.end() ? Status::OK() : ParseNumberField(name, it->second, double(lo), double(hi), true, out);
    };
    int64_t k = 10, id = 0, offset = 0, expand = 0;
    DOPPEL_RETURN_IF_ERROR(int_field("expand", 0, 10, &expand));
    p->options.expand = static_cast<int>(expand);
    // Switches: true / false (or 1 / 0).
    auto bool_field = [&](const char* name, bool* out) -> Status {
      auto it = fields.find(name);
      if (it == fields.end()) return Status::OK();
      if (it->second == "true" || it->second == "1") *out = true;
      else if (it->second == "false" || it->second == "0") *out = false;
      else return Status::InvalidArgument("field '" + std::string(name) + "' must be true or false");
      return Status::OK();
    };
    DOPPEL_RETURN_IF_ERROR(bool_field("whiten", &p->options.whiten));
    DOPPEL_RETURN_IF_ERROR(bool_field("dba", &p->options.dba));
    DOPPEL_RETURN_IF_ERROR(int_field("k", 1, options.max_k, &k));
    DOPPEL_RETURN_IF_ERROR(int_field("offset", 0, kMaxOffset, &offset));
    DOPPEL_RETURN_IF_ERROR(int_field("id", 1, INT64_MAX, &id));
    p->options.k = static_cast<int>(k);
    p->offset = static_cast<int>(offset);
    p->input.id = id;
    if (fields.count("filter")) p->options.filter = fields["filter"];
    if (fields.count("model")) p->model = fields["model"];
    if (fields.count("models")) p->models = fields["models"];
    if (fields.count("profile")) p->profile = fields["profile"];
    DOPPEL_ASSIGN_OR_RETURN(p->query, api::BuildQuery(p->input, api::Caller::kRemote));
    return Status::OK();
  }

  json HitJson(const Hit& h, const std::string& metric) {
    json j = api::ToJson(h);
    j["score"] = Score(metric, h.distance);
    auto num = [&](const char* f) -> json {
      auto it = h.fields.find(f);
      if (it != h.fields.end() && std::holds_alternative<int64_t>(it->second)) return std::get<int64_t>(it->second);
      return nullptr;
    };
    j["width"] = num("width");
    j["height"] = num("height");
    j["thumbnail"] = "/api/v1/thumbnails/" + std::to_string(h.id);
    j["image"] = "/api/v1/images/" + std::to_string(h.id);
    return j;
  }

  // A slot for embedding an uploaded image, or 503.
  bool TakeEmbedSlot(const Parsed& p, httplib::Response& res) {
    if (p.input.upload.empty()) return true;
    if (embeds->try_acquire()) return true;
    res.set_header("Retry-After", "1");
    HttpError(res, 503, "busy", "all embedding slots are busy; retry shortly");
    return false;
  }

  void Search(const httplib::Request& req, httplib::Response& res) {
    Parsed p;
    Status st = ParseQuery(req, &p);
    if (!st.ok()) return Fail(res, st);
    auto names = api::SearchModels(*engine, p.model, p.models, p.profile);
    if (!names.ok()) return Fail(res, names.status());
    const std::string label = api::ModelsLabel(*names);
    // A fused search's distance is a squared L2 distance of unit vectors (the concatenations): scored as L2.
    std::string metric = "L2", fingerprint;
    if (names->size() == 1) {
      auto entry = engine->GetModel(label);
      if (!entry.ok()) return Fail(res, entry.status());
      metric = entry->metric;
      fingerprint = entry->fingerprint;
    }
    if (!TakeEmbedSlot(p, res)) return;
    const auto t0 = Clock::now();
    SearchOptions wide = p.options;
    wide.k = p.options.k + p.offset;
    auto hits = api::SearchWith(*engine, p.query, *names, wide);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!p.input.upload.empty()) {
      embeds->release();
      if (hits.ok()) metrics.Embed(label, secs);
    }
    if (!hits.ok()) return Fail(res, hits.status());
    json j{{"model", label}, {"models", *names}, {"took_ms", secs * 1000}, {"whiten", p.options.whiten},
           {"dba", p.options.dba},
           {"offset", p.offset}, {"k", p.options.k}, {"hits", json::array()}};
    if (names->size() == 1) j["fingerprint"] = fingerprint;
    for (size_t i = static_cast<size_t>(p.offset); i < hits->size(); ++i) j["hits"].push_back(HitJson((*hits)[i], metric));
    // More may follow when the search filled every place it asked for.
    j["more"] = static_cast<int64_t>(hits->size()) == int64_t(wide.k) && int64_t(wide.k) < kMaxOffset + options.max_k;
    res.set_content(j.dump(), kJson);
  }

  void Compare(const httplib::Request& req, httplib::Response& res) {
    Parsed p;
    Status st = ParseQuery(req, &p);
    if (!st.ok()) return Fail(res, st);
    std::vector<std::string> names = api::SplitList(p.models);
    if (names.empty())
      for (const auto& m : engine->ListModels()) names.push_back(m.name);
    if (!TakeEmbedSlot(p, res)) return;
    const auto t0 = Clock::now();
    auto c = engine->Compare(p.query, names, p.options, true);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!p.input.upload.empty()) embeds->release();
    if (!c.ok()) return Fail(res, c.status());
    json j = api::ToJson(*c);
    j["took_ms"] = secs * 1000;
    // Each model's hits as the search route gives them (score, size, thumbnail and image links).
    for (size_t m = 0; m < c->models.size(); ++m) {
      auto entry = engine->GetModel(c->models[m]);
      const std::string metric = entry.ok() ? entry->metric : "L2";
      json hits = json::array();
      for (const auto& h : c->hits[m]) hits.push_back(HitJson(h, metric));
      j["hits"][m] = hits;
    }
    res.set_content(j.dump(), kJson);
  }

  // Duplicate groups in tiers (what `doppel duplicates` prints), for the duplicates view: query parameters model,
  // min_tier, threshold (similar), radius (near-copy), max_group.
  void Duplicates(const httplib::Request& req, httplib::Response& res) {
    DuplicateOptions o;
    o.model = req.get_param_value("model");
    auto number = [&](const char* name, double lo, double hi, bool integer, auto* out) -> Status {
      return req.has_param(name) ? ParseNumberField(name, req.get_param_value(name), lo, hi, integer, out)
                                 : Status::OK();
    };
    Status st = number("threshold", 0, 4, false, &o.similar_threshold);
    if (st.ok()) st = number("radius", 0, 256, true, &o.near_copy_radius);
    if (st.ok()) st = number("max_group", 2, 1000, true, &o.max_group);
    if (!st.ok()) return Fail(res, st);
    if (req.has_param("keep_rules")) {
      o.keep_rules = api::SplitList(req.get_param_value("keep_rules"));
    }
    if (req.has_param("min_tier")) {
      auto t = ParseDuplicateTier(req.get_param_value("min_tier"));
      if (!t.ok()) return Fail(res, Status::InvalidArgument("min_tier must be exact, near-copy or similar"));
      o.min_tier = *t;
    }
    auto name = engine->ResolveModelName(o.model);
    if (!name.ok()) return Fail(res, name.status());
    o.model = *name;
    bool calibrated = true;
    if (o.similar_threshold <= 0) {
      auto t = engine->SimilarThreshold(o.model, &calibrated);
      if (!t.ok()) return Fail(res, t.status());
      o.similar_threshold = *t;
    }
    int offset = 0, limit = 50;
    st = number("offset", 0, kMaxOffset, true, &offset);
    if (st.ok()) st = number("limit", 1, 500, true, &limit);
    if (!st.ok()) return Fail(res, st);
    if (req.has_param("show_decided")) o.show_decided = req.get_param_value("show_decided") == "true";
    auto all = engine->FindDuplicates(o);
    if (!all.ok()) return Fail(res, all.status());
    // One page of groups (largest first, as the engine orders them).
    const size_t total = all->size();
    std::vector<DuplicateGroup> page(all->begin() + std::min(total, size_t(offset)),
                                     all->begin() + std::min(total, size_t(offset) + size_t(limit)));
    json j = api::ToJson(page);
    j["total"] = total;
    j["offset"] = offset;
    j["more"] = size_t(offset) + page.size() < total;
    for (auto& g : j["groups"])
      for (auto& m : g["members"]) {
        m["thumbnail"] = "/api/v1/thumbnails/" + std::to_string(m["id"].get<int64_t>());
        m["image"] = "/api/v1/images/" + std::to_string(m["id"].get<int64_t>());
      }
    j["model"] = *name;
    j["min_tier"] = DuplicateTierName(o.min_tier);
    j["threshold"] = o.similar_threshold;
    j["threshold_calibrated"] = calibrated;
    j["radius"] = o.near_copy_radius;
    res.set_content(j.dump(), kJson);
  }

  // A picture id from JSON: a number, or a string of digits (what the page sends: JavaScript numbers lose 64-bit ids).
  static Result<int64_t> JsonId(const json& v) {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_string()) {
      const std::string t = v.get<std::string>();
      if (!t.empty() && t.size() <= 19 && t.find_first_not_of("0123456789") == std::string::npos) {
        try {
          return std::stoll(t);
        } catch (const std::exception&) {
        }
      }
    }
    return Status::InvalidArgument("ids must be picture ids (numbers or strings of digits), not " + v.dump().substr(0, 40));
  }

  static Result<std::vector<int64_t>> JsonIds(const json& j, const char* field) {
    std::vector<int64_t> out;
    if (!j.contains(field)) return out;
    if (!j[field].is_array() || j[field].size() > 1000)
      return Status::InvalidArgument(std::string(field) + " must be an array of at most 1000 picture ids");
    for (const auto& v : j[field]) {
      DOPPEL_ASSIGN_OR_RETURN(int64_t id, JsonId(v));
      out.push_back(id);
    }
    return out;
  }

  // Records decisions about duplicate groups: {"ids": [...], "keep": [...], "keep_paths": [...]}, or several at once
  // as {"decisions": [...]} (the page's bulk resolve). keep = ids: not duplicates.
  void Decide(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Fail(res, Status::InvalidArgument("give {\"ids\": [...], \"keep\": [...]} or {\"decisions\": [...]}"));
    json list = j.contains("decisions") ? j["decisions"] : json::array({j});
    if (!list.is_array() || list.empty() || list.size() > 500)
      return Fail(res, Status::InvalidArgument("decisions must be an array of 1 to 500 decisions"));
    std::vector<DuplicateResolution> rs;
    for (const auto& d : list) {
      if (!d.is_object()) return Fail(res, Status::InvalidArgument("a decision is an object"));
      for (const auto& [k, v] : d.items())
        if (k != "ids" && k != "keep" && k != "keep_paths")
          return Fail(res, Status::InvalidArgument("unknown field '" + k.substr(0, 64) + "'"));
      DuplicateResolution r;
      auto ids = JsonIds(d, "ids");
      auto keep = ids.ok() ? JsonIds(d, "keep") : ids;
      if (!keep.ok()) return Fail(res, keep.status());
      r.ids = *ids;
      r.keep = *keep;
      if (d.contains("keep_paths")) {
        if (!d["keep_paths"].is_array()) return Fail(res, Status::InvalidArgument("keep_paths must be an array"));
        for (const auto& p : d["keep_paths"]) {
          if (!p.is_string()) return Fail(res, Status::InvalidArgument("keep_paths must hold indexed paths"));
          r.keep_paths.push_back(p.get<std::string>());
        }
      }
      rs.push_back(std::move(r));
    }
    for (const auto& r : rs) {
      Status st = engine->ResolveDuplicates(r);
      if (!st.ok()) return Fail(res, st);
    }
    res.set_content(json{{"recorded", rs.size()}}.dump(), kJson);
  }

  // Forgets the decisions naming any of ?ids=1,2,...
  void Forget(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    std::vector<int64_t> ids;
    for (const auto& t : api::SplitList(req.get_param_value("ids"))) {
      auto id = JsonId(json(t));
      if (!id.ok()) return Fail(res, id.status());
      ids.push_back(*id);
    }
    if (ids.empty()) return Fail(res, Status::InvalidArgument("give ?ids=ID,ID,..."));
    Status st = engine->ForgetDuplicateDecisions(ids);
    if (!st.ok()) return Fail(res, st);
    res.set_content(json{{"forgotten", true}}.dump(), kJson);
  }

  // A trash batch as JSON, without places inside the data directory (server paths).
  static json BatchJson(const TrashBatch& b) {
    json j = api::ToJson(b);
    for (auto* list : {&j["moves"], &j["skipped"]})
      for (auto& m : *list) {
        m.erase("to");
        m["id"] = std::to_string(m["id"].get<int64_t>());
      }
    return j;
  }

  // Carries out the decisions: {"dry_run": true} (the default) answers the plan; false moves the files into the
  // data directory's trash.
  void Apply(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    json j = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || (j.contains("dry_run") && !j["dry_run"].is_boolean()))
      return Fail(res, Status::InvalidArgument("give {\"dry_run\": true|false}"));
    if (engine->RunningIndexJob()) return JobConflict(res);
    auto b = engine->ApplyDuplicateDecisions(j.value("dry_run", true));
    if (!b.ok() && b.status().code() == Status::Code::kFailedPrecondition && engine->RunningIndexJob())
      return JobConflict(res);
    if (!b.ok()) return Fail(res, b.status());
    res.set_content(BatchJson(*b).dump(), kJson);
  }

  // Moves a batch back: {"batch": NAME} or {} for the latest.
  void Undo(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    json j = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || (j.contains("batch") && !j["batch"].is_string()))
      return Fail(res, Status::InvalidArgument("give {\"batch\": NAME} or {}"));
    if (engine->RunningIndexJob()) return JobConflict(res);
    auto b = engine->UndoTrash(j.value("batch", ""));
    if (!b.ok()) return Fail(res, b.status());
    res.set_content(BatchJson(*b).dump(), kJson);
  }

  void Trash(const httplib::Request&, httplib::Response& res) {
    auto all = engine->ListTrash();
    if (!all.ok()) return Fail(res, all.status());
    json a = json::array();
    for (const auto& b : *all) a.push_back(BatchJson(b));
    res.set_content(json{{"batches", a}}.dump(), kJson);
  }

  Result<int64_t> IdOf(const httplib::Request& req) {
    try {
      return std::stoll(req.matches[1].str());
    } catch (const std::exception&) {
      return Status::InvalidArgument("not a picture id");
    }
  }

  void Picture(const httplib::Request& req, httplib::Response& res) {
    auto id = IdOf(req);
    if (!id.ok()) return Fail(res, id.status());
    auto pic = engine->GetPicture(*id);
    if (!pic.ok()) return Fail(res, pic.status());
    json f = json::object();
    for (const auto& [k, v] : pic->fields) f[k] = api::ToJson(v);
    res.set_content(json{{"id", pic->id}, {"paths", pic->paths}, {"fields", f}}.dump(), kJson);
  }

  // The picture's file, found through the catalog by id (never a path from the request). Its content must still be
  // the indexed content: a file changed since indexing is not served under the old id.
  Result<std::string> PictureBytes(int64_t id, std::string* format) {
    DOPPEL_ASSIGN_OR_RETURN(doppel::Picture pic, engine->GetPicture(id));
    auto f = pic.fields.find("format");
    if (f != pic.fields.end() && std::holds_alternative<std::string>(f->second)) *format = std::get<std::string>(f->second);
    for (const auto& path : pic.paths) {
      auto bytes = ReadFileBytes(path, engine->options().embed.max_file_bytes);
      if (bytes.ok()) return bytes;
    }
    return Status::NotFound("picture " + std::to_string(id) + ": its files are gone");
  }

  void Image(const httplib::Request& req, httplib::Response& res) {
    auto id = IdOf(req);
    if (!id.ok()) return Fail(res, id.status());
    std::string format;
    auto bytes = PictureBytes(*id, &format);
    if (!bytes.ok()) return Fail(res, bytes.status());
    res.set_header("Cache-Control", "private, max-age=3600");
    res.set_content(std::move(bytes).value(), MimeOf(format));
  }

  void Thumbnail(const httplib::Request& req, httplib::Response& res) {
    auto id = IdOf(req);
    if (!id.ok()) return Fail(res, id.status());
    // Cached on disk by id and size: ids are content hashes, so a cached thumbnail never goes stale.
    fs::path dir = fs::path(engine->data_dir()) / "thumbnails" / std::to_string(options.thumbnail_size);
    fs::path file = dir / (std::to_string(*id) + ".jpg");
    if (auto cached = ReadFileBytes(file.string(), 16 << 20); cached.ok()) {
      res.set_header("Cache-Control", "private, max-age=86400");
      res.set_content(std::move(cached).value(), "image/jpeg");
      return;
    }
    std::string format;
    auto bytes = PictureBytes(*id, &format);
    if (!bytes.ok()) return Fail(res, bytes.status());
    DecodeOptions d;
    d.max_pixels = engine->options().embed.max_pixels;
    d.draft_width = d.draft_height = options.thumbnail_size;  // shrink-on-load: a camera JPEG decodes at 1/8,
    d.draft_formats = kDraftAll;                              // a WebP scaled, a HEIC from its thumbnail
    auto img = DecodeImageBuffer(*bytes, "picture " + std::to_string(*id), d);
    if (!img.ok()) return Fail(res, img.status());
    auto jpg = EncodeJpeg(doppel::Thumbnail(img->rgb, options.thumbnail_size), 80);
    if (!jpg.ok()) return Fail(res, jpg.status());
    if (!engine->options().read_only) {
      std::lock_guard<std::mutex> l(thumb_mu);
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (!ec) (void)WriteFileAtomic(file.string(), *jpg);  // a cache: failing to write it only costs time
    }
    res.set_header("Cache-Control", "private, max-age=86400");
    res.set_content(std::move(jpg).value(), "image/jpeg");
  }

  // The web page: files compiled into the binary (web/), revalidated by ETag. The page may load only its own
  // scripts and styles, and images from this server (and the query the user picked, a blob: URL).
  void Page(const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches.size() > 1 ? "/" + req.matches[1].str() : "/index.html";
    const WebAsset* a = FindWebAsset(name);
    if (!a) return HttpError(res, 404, "not_found", "no such page");
    res.set_header("Cache-Control", "no-cache");
    res.set_header("ETag", std::string(a->etag));
    if (name == "/index.html")
      res.set_header("Content-Security-Policy",
                     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                     "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    if (req.get_header_value("If-None-Match") == a->etag) {
      res.status = 304;
      return;
    }
    res.set_content(std::string(a->body), std::string(a->mime).c_str());
  }

  // ---------------------------------------------------------------- writes

  // The write routes' gate: writes enabled, and the right bearer token (compared in constant time).
  bool Authorized(const httplib::Request& req, httplib::Response& res) {
    if (!options.allow_writes) {
      HttpError(res, 403, "forbidden", "writes are off on this server (start it with --allow-writes)");
      return false;
    }
    const std::string auth = req.get_header_value("Authorization");
    const std::string want = "Bearer " + options.token;
    unsigned diff = auth.size() ^ want.size();
    for (size_t i = 0; i < want.size(); ++i) diff |= unsigned(i < auth.size() ? auth[i] : 0) ^ unsigned(want[i]);
    if (diff != 0) {
      res.set_header("WWW-Authenticate", "Bearer");
      HttpError(res, 401, "unauthorized", "a write needs 'Authorization: Bearer <token>'");
      return false;
    }
    return true;
  }

  // 409 while an index job runs (the engine's own message names the data directory, a server path).
  void JobConflict(httplib::Response& res) {
    res.set_header("Retry-After", "5");
    HttpError(res, 409, "failed_precondition", "an index job is running; retry when it has finished");
  }

  static json JobJson(const IndexProgress& p, bool running) {
    json j = api::ToJson(p);
    j["running"] = running;
    return j;
  }

  void StartJob(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("root") || !j["root"].is_string())
      return Fail(res, Status::InvalidArgument("give {\"root\": NAME} with NAME one of the server's roots"));
    for (const auto& [k, v] : j.items())
      if (k != "root" && k != "prune") return Fail(res, Status::InvalidArgument("unknown field '" + k.substr(0, 64) + "'"));
    auto root = options.roots.find(j["root"].get<std::string>());
    if (root == options.roots.end()) {
      std::string names;
      for (const auto& [n, d] : options.roots) names += (names.empty() ? "" : ", ") + n;
      return Fail(res, Status::NotFound("no root named '" + j["root"].get<std::string>().substr(0, 64) +
                                        "' (roots: " + (names.empty() ? "none configured" : names) + ")"));
    }
    IndexOptions io;
    io.prune = j.value("prune", false);
    auto job = engine->StartIndex({root->second}, io);
    if (!job.ok() && job.status().code() == Status::Code::kFailedPrecondition) return JobConflict(res);
    if (!job.ok()) return Fail(res, job.status());
    res.status = 202;
    res.set_content(json{{"job", JobJson((*job)->Progress(), true)}}.dump(), kJson);
  }

  void JobStatus(const httplib::Request&, httplib::Response& res) {
    auto job = engine->RunningIndexJob();
    res.set_content(json{{"job", job ? JobJson(job->Progress(), true) : json(nullptr)}}.dump(), kJson);
  }

  void CancelJob(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    auto job = engine->RunningIndexJob();
    if (!job) return Fail(res, Status::NotFound("no index job is running"));
    job->Cancel();
    res.status = 202;
    res.set_content(json{{"job", JobJson(job->Progress(), true)}, {"cancelling", true}}.dump(), kJson);
  }

  // Stores an uploaded image under DATA/uploads by content hash (durably), indexes it, answers its id: an
  // acknowledged upload survives a crash.
  void UploadPicture(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    if (!req.has_file("image")) return Fail(res, Status::InvalidArgument("send multipart/form-data with field 'image'"));
    if (engine->RunningIndexJob()) return JobConflict(res);  // checked again by the engine
    const std::string bytes = req.get_file_value("image").content;
    FormatGuess g = RecogniseImageFormat(std::string_view(bytes).substr(0, kSniffBytes));
    if (!g.decodable)
      return Fail(res, Status::InvalidArgument(g.format.empty() ? "the upload is not an image"
                                                                : "the upload is " + g.why_not));
    DecodeOptions d;
    d.max_pixels = engine->options().embed.max_pixels;
    auto check = DecodeImageBuffer(bytes, UploadLabel(req.get_file_value("image").filename), d);
    if (!check.ok()) return Fail(res, check.status());
    fs::path dir = fs::path(engine->data_dir()) / "uploads";
    std::error_code ec;
    fs::create_directories(dir, ec);
    const std::string hash = Sha256Hex(bytes);
    fs::path file = dir / (hash.substr(0, 32) + "." + g.format);
    if (!fs::exists(file, ec)) {
      Status st = WriteFileAtomic(file.string(), bytes);
      if (!st.ok()) return Fail(res, st);
    }
    auto sum = engine->Index({file.string()}, IndexOptions());
    if (!sum.ok() && sum.status().code() == Status::Code::kFailedPrecondition) return JobConflict(res);
    if (!sum.ok()) return Fail(res, sum.status());
    if (sum->counts.failed > 0)
      return Fail(res, Status::InvalidArgument("the upload could not be indexed: " + sum->failures[0].second));
    int64_t id = ContentId(hash);
    res.status = sum->counts.indexed > 0 ? 201 : 200;
    res.set_content(json{{"id", id}, {"indexed", sum->counts.indexed > 0},
                         {"thumbnail", "/api/v1/thumbnails/" + std::to_string(id)}}.dump(),
                    kJson);
  }

  void DeletePicture(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res)) return;
    auto id = IdOf(req);
    if (!id.ok()) return Fail(res, id.status());
    auto pic = engine->GetPicture(*id);
    if (!pic.ok()) return Fail(res, pic.status());
    auto n = engine->RemoveIds({*id});
    if (!n.ok()) return Fail(res, n.status());
    res.set_content(json{{"id", *id}, {"deleted", true}}.dump(), kJson);
  }

  // Refuses, before the body is read, what cpp-httplib 0.11.4 would mishandle (see server.h).
  httplib::Server::HandlerResponse Guard(const httplib::Request& req, httplib::Response& res) {
    auto refuse = [&](int http, const char* code, const std::string& msg) {
      HttpError(res, http, code, msg);
      res.set_header("Connection", "close");  // the unread body must not be taken for the next request
      return httplib::Server::HandlerResponse::Handled;
    };
    if (req.has_header("Transfer-Encoding"))
      return refuse(411, "length_required", "chunked or encoded transfers are not accepted: send a Content-Length");
    if (req.has_header("Content-Encoding"))
      return refuse(415, "unsupported_media_type", "compressed request bodies are not accepted");
    bool body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (body) {
      if (!req.has_header("Content-Length"))
        return refuse(411, "length_required", "a request body needs a Content-Length");
      const std::string len = req.get_header_value("Content-Length");
      char* end = nullptr;
      unsigned long long n = std::strtoull(len.c_str(), &end, 10);
      if (len.empty() || *end != '\0' || len[0] == '-')
        return refuse(400, "invalid_argument", "Content-Length is not a number");
      if (n > static_cast<unsigned long long>(options.max_body_bytes))
        return refuse(413, "payload_too_large",
                      "request body of " + std::to_string(n) + " bytes; the limit is " +
                          std::to_string(options.max_body_bytes));
    }
    return httplib::Server::HandlerResponse::Unhandled;
  }

  // The route a request path belongs to, as a metric label (few values; never the raw path).
  static std::string RouteOf(const std::string& path) {
    if (path == "/" || path == "/app.js" || path == "/app.css" || path == "/favicon.svg") return "page";
    for (const char* exact : {"/healthz", "/metrics", "/api/v1/openapi.json", "/api/v1/status", "/api/v1/models",
                              "/api/v1/search", "/api/v1/compare", "/api/v1/jobs", "/api/v1/jobs/current", "/api/v1/duplicates",
                              "/api/v1/duplicates/decisions", "/api/v1/duplicates/apply", "/api/v1/duplicates/undo",
                              "/api/v1/trash",
                              "/api/v1/pictures"})
      if (path == exact) return exact;
    for (const char* prefix : {"/api/v1/pictures/", "/api/v1/images/", "/api/v1/thumbnails/"})
      if (StartsWith(path, prefix)) return std::string(prefix) + "{id}";
    return "other";
  }

  // Registers a route; its time is measured (every answer, routed or refused, is counted by the logger).
  template <typename Fn>
  void Route(const char* method, const std::string& pattern, Fn fn) {
    auto wrapped = [this, fn](const httplib::Request& req, httplib::Response& res) {
      const auto t0 = Clock::now();
      fn(req, res);
      metrics.Time(RouteOf(req.path), std::chrono::duration<double>(Clock::now() - t0).count());
    };
    if (std::string(method) == "GET") svr.Get(pattern, wrapped);
    else if (std::string(method) == "DELETE") svr.Delete(pattern, wrapped);
    else svr.Post(pattern, wrapped);
  }

  void Setup() {
    int cores = std::max(1u, std::thread::hardware_concurrency());
    int workers = options.workers > 0 ? options.workers : std::max(4, 2 * cores);
    embeds = std::make_unique<std::counting_semaphore<1 << 16>>(options.max_embeds > 0 ? options.max_embeds : cores);
    svr.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<size_t>(workers)); };
    svr.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
    svr.set_read_timeout(10, 0);
    svr.set_write_timeout(10, 0);
    svr.set_keep_alive_max_count(20);
    svr.set_keep_alive_timeout(2);
    svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      metrics.Count(RouteOf(req.path), res.status);
    });
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) { return Guard(req, res); });
    svr.set_expect_100_continue_handler([this](const httplib::Request& req, httplib::Response& res) {
      return Guard(req, res) == httplib::Server::HandlerResponse::Handled ? res.status : 100;
    });
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      std::fprintf(stderr, "doppel serve: exception in a handler: %s\n", what.c_str());
      HttpError(res, 500, "internal", "internal error (details are in the server's log)");
    });
    // Errors httplib produces itself (unknown route, unparsable request) become JSON too.
    svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404) HttpError(res, 404, "not_found", "no such route");
      else if (res.status == 413) HttpError(res, 413, "payload_too_large", "request body too large");
      else HttpError(res, res.status, res.status < 500 ? "invalid_argument" : "internal", "bad request");
    });

    svr.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                             {"Referrer-Policy", "no-referrer"},
                             {"X-Frame-Options", "DENY"}});
    Route("GET", "/", [this](const httplib::Request& q, httplib::Response& r) { Page(q, r); });
    Route("GET", R"(/(app\.js|app\.css|favicon\.svg))",
          [this](const httplib::Request& q, httplib::Response& r) { Page(q, r); });
    Route("GET", "/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(json{{"status", "ok"}}.dump(), kJson);
    });
    Route("GET", "/metrics", [this](const httplib::Request&, httplib::Response& res) {
      auto st = engine->GetStatus();
      res.set_content(metrics.Render(st.ok() ? &*st : nullptr, engine->RunningIndexJob() != nullptr),
                      "text/plain; version=0.0.4");
    });
    Route("GET", "/api/v1/openapi.json", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(OpenApiJson(), kJson);
    });
    Route("GET", "/api/v1/status", [this](const httplib::Request&, httplib::Response& res) {
      auto st = engine->GetStatus();
      if (!st.ok()) return Fail(res, st.status());
      json j = api::ToJson(*st);
      j.erase("data_dir");  // a server path
      json roots = json::array();
      for (const auto& [n, d] : options.roots) roots.push_back(n);  // names only, never the folders
      j["server"] = {{"writes", options.allow_writes}, {"roots", roots}, {"max_body_bytes", options.max_body_bytes},
                     {"max_k", options.max_k}, {"max_offset", kMaxOffset}, {"thumbnail_size", options.thumbnail_size}};
      res.set_content(j.dump(), kJson);
    });
    Route("GET", "/api/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      std::string def = engine->DefaultModel();
      json a = json::array();
      for (const auto& m : engine->ListModels()) {
        json j = api::ToJson(m, m.name == def);
        j.erase("file");  // server paths
        j.erase("source");
        a.push_back(j);
      }
      res.set_content(json{{"models", a}, {"default_model", def}}.dump(), kJson);
    });
    Route("POST", "/api/v1/search", [this](const httplib::Request& q, httplib::Response& r) { Search(q, r); });
    Route("POST", "/api/v1/compare", [this](const httplib::Request& q, httplib::Response& r) { Compare(q, r); });
    Route("GET", R"(/api/v1/pictures/(\d{1,19}))", [this](const httplib::Request& q, httplib::Response& r) { Picture(q, r); });
    Route("GET", R"(/api/v1/images/(\d{1,19}))", [this](const httplib::Request& q, httplib::Response& r) { Image(q, r); });
    Route("GET", R"(/api/v1/thumbnails/(\d{1,19}))",
          [this](const httplib::Request& q, httplib::Response& r) { Thumbnail(q, r); });
    Route("GET", "/api/v1/duplicates",
          [this](const httplib::Request& q, httplib::Response& r) { Duplicates(q, r); });
    Route("POST", "/api/v1/duplicates/decisions",
          [this](const httplib::Request& q, httplib::Response& r) { Decide(q, r); });
    Route("DELETE", "/api/v1/duplicates/decisions",
          [this](const httplib::Request& q, httplib::Response& r) { Forget(q, r); });
    Route("POST", "/api/v1/duplicates/apply", [this](const httplib::Request& q, httplib::Response& r) { Apply(q, r); });
    Route("POST", "/api/v1/duplicates/undo", [this](const httplib::Request& q, httplib::Response& r) { Undo(q, r); });
    Route("GET", "/api/v1/trash", [this](const httplib::Request& q, httplib::Response& r) { Trash(q, r); });
    Route("POST", "/api/v1/jobs", [this](const httplib::Request& q, httplib::Response& r) { StartJob(q, r); });
    Route("GET", "/api/v1/jobs/current", [this](const httplib::Request& q, httplib::Response& r) { JobStatus(q, r); });
    Route("DELETE", "/api/v1/jobs/current",
          [this](const httplib::Request& q, httplib::Response& r) { CancelJob(q, r); });
    Route("POST", "/api/v1/pictures", [this](const httplib::Request& q, httplib::Response& r) { UploadPicture(q, r); });
    Route("DELETE", R"(/api/v1/pictures/(\d{1,19}))",
          [this](const httplib::Request& q, httplib::Response& r) { DeletePicture(q, r); });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Create(Engine* engine, const ServerOptions& options) {
  if (!engine) return Status::InvalidArgument("no engine");
  if (options.max_body_bytes < 1024) return Status::InvalidArgument("max_body_bytes must be at least 1024");
  if (options.allow_writes && options.token.size() < 16)
    return Status::InvalidArgument("writes need a bearer token of at least 16 characters");
  for (const auto& [name, dir] : options.roots) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return Status::NotFound("root '" + name + "': " + dir + " is not a folder");
  }
  auto impl = std::make_unique<Impl>();
  impl->engine = engine;
  impl->options = options;
  impl->Setup();
  if (options.port == 0) {
    impl->port = impl->svr.bind_to_any_port(options.host);
    if (impl->port <= 0) return Status::IOError("cannot listen on " + options.host + ": no free port");
  } else {
    if (!impl->svr.bind_to_port(options.host, options.port))
      return Status::IOError("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                             " (in use, or not an address of this machine)");
    impl->port = options.port;
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }

std::string HttpServer::url() const {
  std::string host = impl_->options.host.find(':') != std::string::npos ? "[" + impl_->options.host + "]"
                                                                         : impl_->options.host;
  return "http://" + host + ":" + std::to_string(impl_->port);
}

Status HttpServer::Run() {
  // A stop asked for before (or while) the listener starts must not be lost: httplib's stop() does nothing until
  // it runs, so a watcher repeats it until Run ends.
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      if (impl_->stop_requested && impl_->svr.is_running()) impl_->svr.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  bool ok = impl_->stop_requested || impl_->svr.listen_after_bind();
  done = true;
  watcher.join();
  if (!ok && !impl_->stop_requested) return Status::IOError("the server stopped listening on " + url());
  return Status::OK();
}

void HttpServer::Stop() {
  if (!impl_) return;
  impl_->stop_requested = true;
  if (impl_->svr.is_running()) impl_->svr.stop();
}

}  // namespace doppel
