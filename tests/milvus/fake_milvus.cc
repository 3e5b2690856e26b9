// FakeMilvus: see fake_milvus.h. Sources cited below are files of github.com/milvus-io/milvus:
//   handler_v2.go, request_v2.go, utils.go, constant.go: internal/distributed/proxy/httpserver/
//   errors.go: pkg/util/merr/ (codes and messages)
//   proxy/util.go, task_query.go, task_search.go: internal/proxy/
#include "milvus/fake_milvus.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>
#include <vector>

namespace doppel::testing {

using fake_milvus_detail::FieldKind;
using fake_milvus_detail::Filter;
using fake_milvus_detail::FilterSchema;
using nlohmann::json;

namespace {

constexpr char kPrefix[] = "/v2/vectordb/";

// Codes from errors.go.
constexpr int kCodeCollectionNotFound = 100;   // ErrCollectionNotFound
constexpr int kCodeCollectionNotLoaded = 101;  // ErrCollectionNotLoaded
constexpr int kCodeIndexNotFound = 700;        // ErrIndexNotFound
constexpr int kCodeDatabaseNotFound = 800;     // ErrDatabaseNotFound
constexpr int kCodeParameterInvalid = 1100;    // ErrParameterInvalid ("invalid parameter")
constexpr int kCodeFieldNameInvalid = 1701;    // ErrFieldInvalidName
constexpr int kCodeNeedAuthenticate = 1800;    // ErrNeedAuthenticate
constexpr int kCodeBadFormat = 1801;           // ErrIncorrectParameterFormat
constexpr int kCodeMissingParameters = 1802;   // ErrMissingRequiredParameters
constexpr int kCodeInvalidInsertData = 1804;   // ErrInvalidInsertData
constexpr int kCodeCheckPrimaryKey = 1806;     // ErrCheckPrimaryKey
// merr.Code of an error that is not a Milvus error (the proxy's plain fmt.Errorf ones in 2.4): errUnexpected.
constexpr int kCodeUnexpected = 65535;

constexpr char kMsgBadFormat[] = "can only accept json format request";
constexpr char kMsgMissing[] = "missing required parameters";
constexpr char kMsgInsertData[] = "fail to deal the insert data";
constexpr char kMsgCheckPk[] = "please check the primary key and its' type can only in [int, string]";

// quotaAndLimits.limits.topK / maxQueryResultWindow / nq defaults (paramtable): 16384.
constexpr int64_t kMaxWindow = 16384;
// Milvus's IDs come from its timestamp oracle: large numbers, above 2^53 (not exact as a JavaScript double).
constexpr int64_t kFirstCollectionId = 450000000000000001;
constexpr int64_t kFirstAutoId = 460000000000000001;

// --- Small helpers -------------------------------------------------------------------------------------------------

bool EqualFold(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Go's strconv.ParseBool, as handler_v2.go reads Accept-Type-Allow-Int64.
bool GoParseBool(const std::string& s) {
  return s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True";
}

// A float32 as Go's encoding/json writes it: the shortest decimal that reads back as the same float32.
json Float32Json(float f) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, f);
  return json(std::strtod(std::string(buf, r.ptr).c_str(), nullptr));
}

const char kBase64Chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<uint8_t>(in[i + 2]);
    out += kBase64Chars[(n >> 18) & 63];
    out += kBase64Chars[(n >> 12) & 63];
    out += i + 1 < in.size() ? kBase64Chars[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kBase64Chars[n & 63] : '=';
  }
  return out;
}

// Strict standard base64 with padding (Go's base64.StdEncoding, which json.Unmarshal uses for []byte).
bool Base64Decode(const std::string& in, std::string* out) {
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t n = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = in[i + k];
      const char* p = c == '=' ? nullptr : std::strchr(kBase64Chars, c);
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++pad;
      } else if (!p || c == '\0' || pad > 0) {
        return false;
      }
      n = n * 64 + (p ? static_cast<uint32_t>(p - kBase64Chars) : 0);
    }
    out->push_back(static_cast<char>(n >> 16));
    if (pad < 2) out->push_back(static_cast<char>((n >> 8) & 0xFF));
    if (pad < 1) out->push_back(static_cast<char>(n & 0xFF));
  }
  return true;
}

const char* JsonTypeName(const json& v) {
  if (v.is_string()) return "string";
  if (v.is_number()) return "number";
  if (v.is_boolean()) return "bool";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

// --- Answers -------------------------------------------------------------------------------------------------------

// What a handler answers: an error (code != 0) or data.
struct Reply {
  int code = 0;
  std::string message;
  json data = json::object();
  bool data_endpoint = false;   // FakeMilvusOptions::success_code applies
  json extra = json::object();  // members next to "data" (topks, cost)
};

Reply Err(int code, std::string message) {
  Reply r;
  r.code = code;
  r.message = std::move(message);
  return r;
}

Reply Ok(json data, bool data_endpoint) {
  Reply r;
  r.data = std::move(data);
  r.data_endpoint = data_endpoint;
  return r;
}

// A required field that is absent: gin's validator message, wrapped as wrapperPost in handler_v2.go does.
Reply Missing(const std::string& type, const std::string& field) {
  return Err(kCodeMissingParameters, std::string(kMsgMissing) + ", error: Key: '" + type + "." + field +
                                         "' Error:Field validation for '" + field + "' failed on the 'required' tag");
}

Reply NotFound(const std::string& name) {
  return Err(kCodeCollectionNotFound, "collection not found[database=default][collection=" + name + "]");
}

Reply NotLoaded(const std::string& name) {
  return Err(kCodeCollectionNotLoaded, "collection not loaded[collection=" + name + "]");
}

Reply InsertDataError(const std::string& why) {
  return Err(kCodeInvalidInsertData, std::string(kMsgInsertData) + ", error: " + why);
}

// The consistency levels the REST API accepts (convertConsistencyLevel in utils.go).
bool ValidLevel(const std::string& level) {
  return level == "Strong" || level == "Session" || level == "Bounded" || level == "Eventually" ||
         level == "Customized";
}

Reply BadLevel(const std::string& level) {
  return Err(kCodeParameterInvalid,
             "consistencyLevel can only be [Strong, Session, Bounded, Eventually, Customized], default: Bounded, "
             "err:parameter:'consistencyLevel' is incorrect, the value is " +
                 level + ": invalid parameter");
}

// A request object read as Go's encoding/json fills Milvus's request structs (request_v2.go): keys match
// case-insensitively when there is no exact match; null leaves the default; a value of the wrong JSON type is a
// binding error, answered with code 1801 (wrapperPost in handler_v2.go).
class Body {
 public:
  Body(const json* j, std::string type) : j_(j), type_(std::move(type)) {}

  const json* Find(std::string_view key) const {
    if (!j_ || !j_->is_object()) return nullptr;
    const json* hit = nullptr;
    auto it = j_->find(std::string(key));
    if (it != j_->end()) {
      hit = &*it;
    } else {
      for (auto i = j_->begin(); i != j_->end(); ++i) {
        if (EqualFold(i.key(), key)) {
          hit = &*i;
          break;
        }
      }
    }
    return hit && !hit->is_null() ? hit : nullptr;
  }
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  std::string Str(std::string_view key) {
    const json* v = Find(key);
    if (!v) return "";
    if (!v->is_string()) return Bad(key, *v, "string"), "";
    return v->get<std::string>();
  }
  int64_t Int(std::string_view key, int64_t dflt) {
    const json* v = Find(key);
    if (!v) return dflt;
    if (!v->is_number_integer()) return Bad(key, *v, "int32"), dflt;
    return v->get<int64_t>();
  }
  bool Bool(std::string_view key, bool dflt) {
    const json* v = Find(key);
    if (!v) return dflt;
    if (!v->is_boolean()) return Bad(key, *v, "bool"), dflt;
    return v->get<bool>();
  }
  const json* Object(std::string_view key) {
    const json* v = Find(key);
    if (v && !v->is_object()) return Bad(key, *v, "map[string]interface {}"), nullptr;
    return v;
  }
  const json* Array(std::string_view key) {
    const json* v = Find(key);
    if (v && !v->is_array()) return Bad(key, *v, "[]interface {}"), nullptr;
    return v;
  }
  // An array of strings; *present tells whether the key was there at all.
  std::vector<std::string> Strings(std::string_view key, bool* present) {
    std::vector<std::string> out;
    const json* v = Array(key);
    *present = v != nullptr;
    if (!v) return out;
    for (const json& e : *v) {
      if (!e.is_string()) return Bad(key, e, "string"), out;
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  bool ok() const { return error_.empty(); }
  Reply Error() const { return Err(kCodeBadFormat, std::string(kMsgBadFormat) + ", error: " + error_); }

 private:
  void Bad(std::string_view key, const json& v, const char* go_type) {
    if (!error_.empty()) return;
    std::string what = JsonTypeName(v);
    if (v.is_number()) what += " " + v.dump();
    error_ = "json: cannot unmarshal " + what + " into Go struct field " + type_ + "." + std::string(key) +
             " of type " + go_type;
  }

  const json* j_;
  std::string type_;
  std::string error_;
};

// --- Collections ---------------------------------------------------------------------------------------------------

struct Field {
  std::string name;
  std::string type;  // Milvus's data type name: Bool, Int8, ..., VarChar, JSON, FloatVector, BinaryVector
  bool primary = false;
  bool auto_id = false;
  bool nullable = false;
  int64_t dim = 0;                   // vectors
  int64_t max_length = 0;            // VarChar
  json type_params = json::array();  // [{"key":..,"value":..}] as describe shows them

  bool IsVector() const { return type == "FloatVector" || type == "BinaryVector"; }
  bool IsInt() const { return type == "Int8" || type == "Int16" || type == "Int32" || type == "Int64"; }
  FieldKind Kind() const {
    if (IsVector()) return FieldKind::kVector;
    if (IsInt()) return FieldKind::kInt;
    if (type == "Float" || type == "Double") return FieldKind::kFloat;
    if (type == "Bool") return FieldKind::kBool;
    if (type == "VarChar") return FieldKind::kVarChar;
    return FieldKind::kJson;
  }
  bool SameAs(const Field& o) const {
    return name == o.name && type == o.type && primary == o.primary && auto_id == o.auto_id && nullable == o.nullable &&
           dim == o.dim && max_length == o.max_length;
  }
};

struct Index {
  std::string field;
  std::string name;
  std::string metric;  // upper case
  std::string type;    // index_type
  json params = json::object();
};

enum class LoadState { kNotLoad, kLoading, kLoaded };

const char* LoadStateName(LoadState s) {
  switch (s) {
    case LoadState::kNotLoad: return "LoadStateNotLoad";
    case LoadState::kLoading: return "LoadStateLoading";
    case LoadState::kLoaded: return "LoadStateLoaded";
  }
  return "";
}

// One stored entity. Deletes and upserts never erase: they stamp `deleted`, so that a read at an older snapshot
// (a consistency level weaker than Strong) still sees the row.
struct Row {
  json values = json::object();                      // field -> value; null when null; dynamic keys under "$meta"
  std::map<std::string, std::vector<float>> floats;  // FloatVector fields
  std::map<std::string, std::string> bits;           // BinaryVector fields, dim/8 bytes
  int64_t written = 0;                               // sequence number of the request that wrote it
  int64_t deleted = std::numeric_limits<int64_t>::max();

  bool VisibleAt(int64_t snapshot) const { return written <= snapshot && deleted > snapshot; }
};

struct Collection {
  std::string name;
  int64_t id = 0;
  std::string description;
  std::vector<Field> fields;
  bool dynamic = false;
  std::string consistency = "Bounded";
  std::vector<Index> indexes;
  LoadState load = LoadState::kNotLoad;
  int loading_left = 0;  // get_load_state calls that still answer LoadStateLoading
  std::vector<Row> rows;
  int64_t stats_rows = 0;  // rows ever written: what get_stats reports (no compaction here)

  const Field* pk() const {
    for (const Field& f : fields) {
      if (f.primary) return &f;
    }
    return nullptr;
  }
  const Field* FindField(const std::string& n) const {
    for (const Field& f : fields) {
      if (f.name == n) return &f;
    }
    return nullptr;
  }
  const Index* FindIndex(const std::string& field) const {
    for (const Index& i : indexes) {
      if (i.field == field) return &i;
    }
    return nullptr;
  }
  // The first vector field without an index ("" when every one has one): load refuses such a collection.
  std::string UnindexedVectorField() const {
    for (const Field& f : fields) {
      if (f.IsVector() && !FindIndex(f.name)) return f.name;
    }
    return "";
  }
  FilterSchema Schema() const {
    FilterSchema s;
    for (const Field& f : fields) s.fields[f.name] = f.Kind();
    s.dynamic = dynamic;
    return s;
  }
};

// Orders primary keys as Milvus returns query results: ascending, numerically for Int64 and bytewise for VarChar
// (segcore's find_first walks its primary-key index in order and the proxy merges segments with SelectMinPK).
bool PkLess(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) return a.get<int64_t>() < b.get<int64_t>();
  if (a.is_string() && b.is_string()) return a.get_ref<const std::string&>() < b.get_ref<const std::string&>();
  return a.is_number_integer();
}

// --- Faults --------------------------------------------------------------------------------------------------------

struct Fault {
  enum class Kind { kNone, kFail, kDelay, kMalformed, kHalfAccept } kind = Kind::kNone;
  std::string suffix;
  int remaining = 0;
  int http_status = 0;
  std::string body;
  int delay_ms = 0;
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsWritePath(const std::string& path) {
  return EndsWith(path, "/entities/insert") || EndsWith(path, "/entities/upsert");
}

// What one request carries into a handler.
struct Ctx {
  Body body;
  bool int64_numbers;  // Accept-Type-Allow-Int64: true
  int64_t seq;         // this request's sequence number
  bool half_accept;    // HalfAcceptNext applies
};

// An int64 value as handler_v2.go writes it: a number when allowed, else a string (formatInt64, utils.go).
json OutInt64(int64_t v, bool numbers) { return numbers ? json(v) : json(std::to_string(v)); }

}  // namespace

struct FakeMilvus::Impl {
  FakeMilvusOptions options;
  httplib::Server svr;
  std::thread thread;
  int port = 0;

  mutable std::mutex mu;         // guards everything below
  std::condition_variable wake;  // ends delays when stopping
  bool stopping = false;
  bool stopped = false;
  int64_t seq = 0;
  std::map<std::string, int64_t> counts;                          // path -> requests
  std::map<std::string, std::pair<int64_t, std::string>> bodies;  // path -> (seq, latest body)
  std::deque<Fault> faults;
  std::vector<Collection> collections;  // in creation order
  int64_t next_collection_id = kFirstCollectionId;
  int64_t next_auto_id = kFirstAutoId;

  using Handler = Reply (Impl::*)(Ctx&);
  static const std::map<std::string, std::pair<Handler, const char*>>& Routes();

  Collection* Find(const std::string& name) {
    for (Collection& c : collections) {
      if (c.name == name) return &c;
    }
    return nullptr;
  }

  // What a read at `level` sees: Strong and Session see every write so far; weaker levels lag by
  // options.eventual_lag requests. (Session is Strong here: the fake has one client.)
  int64_t Snapshot(const std::string& level, int64_t request_seq) const {
    if (level == "Strong" || level == "Session") return request_seq - 1;
    return request_seq - 1 - options.eventual_lag;
  }

  // --- HTTP ------------------------------------------------------------------------------------------------------

  Fault TakeFault(const std::string& path) {
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if (!EndsWith(path, it->suffix)) continue;
      if (it->kind == Fault::Kind::kHalfAccept && !IsWritePath(path)) continue;
      Fault f = *it;
      if (--it->remaining <= 0) faults.erase(it);
      return f;
    }
    return Fault();
  }

  void Serve(const httplib::Request& req, httplib::Response& res) {
    Fault fault;
    int64_t request_seq;
    {
      std::lock_guard<std::mutex> lock(mu);
      request_seq = ++seq;
      ++counts[req.path];
      bodies[req.path] = {request_seq, req.body};
      fault = TakeFault(req.path);
    }
    if (fault.kind == Fault::Kind::kDelay) {
      std::unique_lock<std::mutex> lock(mu);
      wake.wait_for(lock, std::chrono::milliseconds(fault.delay_ms), [this] { return stopping; });
    }
    if (fault.kind == Fault::Kind::kFail) {
      res.status = fault.http_status;
      res.set_content(fault.body, !fault.body.empty() && fault.body[0] == '{' ? "application/json" : "text/html");
      return;
    }
    // Auth runs before the handlers (the REST server's middleware): HTTP 401 with code 1800.
    if (!options.token.empty() && req.get_header_value("Authorization") != "Bearer " + options.token) {
      res.status = 401;
      res.set_content(json{{"code", kCodeNeedAuthenticate}, {"message", "user hasn't authenticated"}}.dump(),
                      "application/json");
      return;
    }
    auto route = Routes().find(req.path.substr(std::strlen(kPrefix)));
    if (route == Routes().end()) {  // gin's answer to an unknown route
      res.status = 404;
      res.set_content("404 page not found", "text/plain");
      return;
    }
    Reply reply;
    {
      std::lock_guard<std::mutex> lock(mu);
      reply =
          Dispatch(req, route->second.first, route->second.second, request_seq, fault.kind == Fault::Kind::kHalfAccept);
    }
    std::string body = Render(reply);
    if (fault.kind == Fault::Kind::kMalformed) body.resize(body.size() / 2);
    res.status = 200;  // errors too: handler_v2.go answers AbortWithStatusJSON(http.StatusOK, ...)
    res.set_content(body, "application/json; charset=utf-8");
  }

  std::string Render(const Reply& r) const {
    if (r.code != 0) return json{{"code", r.code}, {"message", r.message}}.dump();
    json out = r.extra;
    out["code"] = r.data_endpoint ? options.success_code : 0;
    out["data"] = r.data;
    return out.dump();
  }

  Reply Dispatch(const httplib::Request& req, Handler handler, const char* type, int64_t request_seq, bool half) {
    // An empty body: wrapperPost's io.EOF branch (handler_v2.go).
    if (req.body.empty()) {
      return Err(kCodeBadFormat, std::string(kMsgBadFormat) + ", the request body should be nil, however {} is valid");
    }
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded())
      return Err(kCodeBadFormat, std::string(kMsgBadFormat) + ", error: invalid character in JSON");
    if (!body.is_object()) {
      return Err(kCodeBadFormat, std::string(kMsgBadFormat) + ", error: json: cannot unmarshal " + JsonTypeName(body) +
                                     " into Go value of type httpserver." + type);
    }
    Ctx ctx{Body(&body, type), GoParseBool(req.get_header_value("Accept-Type-Allow-Int64")), request_seq, half};
    std::string db = ctx.body.Str("dbName");
    if (!ctx.body.ok()) return ctx.body.Error();
    if (!db.empty() && db != "default") return Err(kCodeDatabaseNotFound, "database not found[database=" + db + "]");
    return (this->*handler)(ctx);
  }

  // --- Collections -------------------------------------------------------------------------------------------------

  // A field of the custom schema form (request_v2.go FieldSchema).
  Reply ParseField(const json& j, bool schema_auto_id, Field* f) {
    Body b(&j, "FieldSchema");
    f->name = b.Str("fieldName");
    f->type = b.Str("dataType");
    f->primary = b.Bool("isPrimary", false);
    f->nullable = b.Bool("nullable", false);
    const json* params = b.Object("elementTypeParams");
    if (!b.ok()) return b.Error();
    if (f->name.empty()) return Missing("FieldSchema", "FieldName");
    if (f->type.empty()) return Missing("FieldSchema", "DataType");
    // handler_v2.go: the primary key's autoID is the schema's autoID; a field-level autoID is not read.
    f->auto_id = f->primary && schema_auto_id;
    if (params) {
      for (auto it = params->begin(); it != params->end(); ++it) {
        std::string v = it->is_string() ? it->get<std::string>() : it->dump();
        f->type_params.push_back({{"key", it.key()}, {"value", v}});
        int64_t n = std::strtoll(v.c_str(), nullptr, 10);
        if (it.key() == "dim") f->dim = n;
        if (it.key() == "max_length") f->max_length = n;
      }
    }
    return Reply();
  }

  // The checks of the proxy's createCollectionTask (proxy/util.go: validateFieldName, validateDimension,
  // validateMaxLengthPerRow, validatePrimaryKey ...). Schema errors are all answered 1100 here; the codes of these
  // errors differ between Milvus versions (plain errors, 65535, in 2.4).
  Reply ValidateSchema(const Collection& c) {
    static const std::set<std::string> kSupported = {
        "Bool", "Int8", "Int16", "Int32", "Int64", "Float", "Double", "VarChar", "JSON", "FloatVector", "BinaryVector"};
    static const std::set<std::string> kUnsupported = {"Array", "Float16Vector", "BFloat16Vector", "SparseFloatVector",
                                                       "Int8Vector"};
    std::set<std::string> names;
    int primaries = 0, vectors = 0;
    for (const Field& f : c.fields) {
      bool name_ok = !f.name.empty() && (std::isalpha(static_cast<unsigned char>(f.name[0])) || f.name[0] == '_');
      for (char ch : f.name) name_ok = name_ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_');
      if (!name_ok) {
        return Err(kCodeFieldNameInvalid, "field name invalid[field=" + f.name + "]: Invalid field name: " + f.name +
                                              ". Field name can only contain numbers, letters, and underscores.");
      }
      if (!names.insert(f.name).second) return Err(kCodeParameterInvalid, "duplicated field name " + f.name + " found");
      if (f.type == "String") {
        return Err(kCodeParameterInvalid, "string data type not supported yet, please use VarChar type instead");
      }
      if (kUnsupported.count(f.type)) {
        return Err(kCodeParameterInvalid, "data type " + f.type + " is not supported by the fake Milvus");
      }
      // request_v2.go maps the name through schemapb.DataType_value: an unknown (or mis-cased) name is None.
      if (!kSupported.count(f.type)) return Err(kCodeParameterInvalid, "data type None is not valid");
      if (f.primary) {
        ++primaries;
        if (f.type != "Int64" && f.type != "VarChar") {
          return Err(kCodeParameterInvalid, "the data type of primary key should be Int64 or VarChar");
        }
        if (f.nullable) return Err(kCodeParameterInvalid, "primary field not support null");
      }
      if (f.type == "VarChar" && (f.max_length <= 0 || f.max_length > 65535)) {
        if (f.max_length == 0) {
          return Err(kCodeParameterInvalid, "type param(max_length) should be specified for varChar field(" + f.name +
                                                ") of collection " + c.name);
        }
        return Err(kCodeParameterInvalid, "the maximum length specified for a VarChar field(" + f.name +
                                              ") should be in (0, 65535], but got " + std::to_string(f.max_length) +
                                              " instead");
      }
      if (f.IsVector()) {
        ++vectors;
        if (f.nullable) return Err(kCodeParameterInvalid, "vector type not support null");
        if (f.dim == 0) {
          return Err(kCodeParameterInvalid, "dimension is not defined in field type params of field " + f.name +
                                                ", check type param `dim` for vector field");
        }
        if (f.type == "FloatVector" && (f.dim < 2 || f.dim > 32768)) {
          return Err(kCodeParameterInvalid, "invalid dimension: " + std::to_string(f.dim) + " of field " + f.name +
                                                ". float vector dimension should be in range 2 ~ 32768");
        }
        if (f.type == "BinaryVector" && (f.dim % 8 != 0 || f.dim <= 0 || f.dim > 32768 * 8)) {
          return Err(kCodeParameterInvalid, "invalid dimension: " + std::to_string(f.dim) + " of field " + f.name +
                                                ". binary vector dimension should be multiple of 8. ");
        }
      }
    }
    if (primaries == 0) return Err(kCodeParameterInvalid, "primary key is not specified");
    if (primaries > 1) return Err(kCodeParameterInvalid, "there are more than one primary key");
    if (vectors == 0) return Err(kCodeParameterInvalid, "schema does not contain vector field: invalid parameter");
    return Reply();
  }

  // One entry of indexParams (request_v2.go IndexParam): the index type is the entry's indexType, else
  // params.index_type (convertToExtraParams in utils.go), else AUTOINDEX.
  Reply ParseIndex(const Collection& c, const json& j, Index* idx) {
    Body b(&j, "IndexParam");
    idx->field = b.Str("fieldName");
    idx->name = b.Str("indexName");
    idx->metric = Upper(b.Str("metricType"));
    idx->type = b.Str("indexType");
    const json* params = b.Object("params");
    if (!b.ok()) return b.Error();
    if (idx->field.empty()) return Missing("IndexParam", "FieldName");
    const Field* f = c.FindField(idx->field);
    if (!f)
      return Err(kCodeMissingParameters,
                 std::string(kMsgMissing) + ", error: `" + idx->field + "` hasn't defined in schema");
    if (params) idx->params = *params;
    if (idx->type.empty() && params && params->contains("index_type") && (*params)["index_type"].is_string()) {
      idx->type = (*params)["index_type"].get<std::string>();
    }
    if (idx->type.empty()) idx->type = "AUTOINDEX";
    if (idx->name.empty()) idx->name = idx->field;
    if (!f->IsVector()) return Reply();  // a scalar index: kept, never used
    if (idx->metric.empty()) return Missing("IndexParam", "MetricType");
    static const std::set<std::string> kFloat = {"L2", "IP", "COSINE"};
    static const std::set<std::string> kBinary = {"HAMMING", "JACCARD"};
    const auto& allowed = f->type == "FloatVector" ? kFloat : kBinary;
    if (!allowed.count(idx->metric)) {
      return Err(kCodeParameterInvalid, "metric type " + idx->metric + " not found or not supported, supported: " +
                                            (f->type == "FloatVector" ? "[L2 IP COSINE]" : "[HAMMING JACCARD]"));
    }
    static const std::set<std::string> kTypes = {
        "AUTOINDEX", "FLAT",     "IVF_FLAT",     "IVF_SQ8",   "IVF_PQ",       "HNSW",       "SCANN",
        "DISKANN",   "BIN_FLAT", "BIN_IVF_FLAT", "GPU_CAGRA", "GPU_IVF_FLAT", "GPU_IVF_PQ", "GPU_BRUTE_FORCE"};
    if (!kTypes.count(Upper(idx->type))) return Err(kCodeParameterInvalid, "invalid index type: " + idx->type);
    idx->type = Upper(idx->type);
    return Reply();
  }

  // Adds an index; the same one again is accepted, a different one on the same field is not.
  Reply AddIndex(Collection* c, const Index& idx) {
    const Index* old = c->FindIndex(idx.field);
    if (old) {
      if (old->metric == idx.metric && old->type == idx.type) return Reply();
      return Err(kCodeUnexpected, "CreateIndex failed: at most one distinct index is allowed per field");
    }
    c->indexes.push_back(idx);
    return Reply();
  }

  void StartLoad(Collection* c) {
    if (c->load != LoadState::kNotLoad) return;
    c->loading_left = options.load_delay_requests;
    c->load = c->loading_left > 0 ? LoadState::kLoading : LoadState::kLoaded;
  }

  // collections/create, both forms (createCollection in handler_v2.go). With indexParams the indexes are built and
  // the collection loaded; the custom form without them leaves it unloaded.
  Reply Create(Ctx& ctx) {
    Body& b = ctx.body;
    Collection c;
    c.name = b.Str("collectionName");
    c.description = b.Str("description");
    const json* schema = b.Object("schema");
    const json* params = b.Object("params");
    const json* index_params = b.Array("indexParams");
    int64_t dimension = b.Int("dimension", 0);
    std::string metric = Upper(b.Str("metricType"));
    std::string id_type = b.Str("idType");
    bool auto_id = b.Bool("autoID", false);
    std::string pk_name = b.Str("primaryFieldName");
    std::string vector_name = b.Str("vectorFieldName");
    if (!b.ok()) return b.Error();
    if (c.name.empty()) return Missing("CollectionReq", "CollectionName");
    Body p(params, "CollectionReq.params");
    if (std::string level = p.Str("consistencyLevel"); !level.empty()) {
      if (!ValidLevel(level)) return BadLevel(level);
      c.consistency = level;
    }
    std::vector<Index> wanted;
    Body s(schema, "CollectionSchema");
    const json* fields = s.Array("fields");
    bool schema_auto_id = s.Bool("autoID", false);
    c.dynamic = s.Bool("enableDynamicField", false);
    if (!s.ok()) return s.Error();
    if (!p.ok()) return p.Error();
    if (fields && !fields->empty()) {
      for (const json& fj : *fields) {
        Field f;
        if (Reply r = ParseField(fj, schema_auto_id, &f); r.code) return r;
        c.fields.push_back(std::move(f));
      }
      if (Reply r = ValidateSchema(c); r.code) return r;
      if (index_params) {
        for (const json& ij : *index_params) {
          Index idx;
          if (Reply r = ParseIndex(c, ij, &idx); r.code) return r;
          wanted.push_back(idx);
        }
      }
    } else {
      // The quick form: id + vector, dynamic fields on, an index with the metric (COSINE by default).
      if (dimension <= 0) {
        return Err(kCodeParameterInvalid,
                   "dimension is required for quickly create collection(default metric type: COSINE): invalid "
                   "parameter[expected=collectionName & dimension][actual=collectionName]");
      }
      Field id{pk_name.empty() ? "id" : pk_name, id_type.empty() ? "Int64" : id_type, true, auto_id};
      if (id.type == "VarChar") {
        id.max_length = p.Int("max_length", 65535);
        id.type_params.push_back({{"key", "max_length"}, {"value", std::to_string(id.max_length)}});
      }
      Field vec{vector_name.empty() ? "vector" : vector_name, "FloatVector"};
      vec.dim = dimension;
      vec.type_params.push_back({{"key", "dim"}, {"value", std::to_string(dimension)}});
      c.fields = {id, vec};
      c.dynamic = true;
      if (Reply r = ValidateSchema(c); r.code) return r;
      Index idx{vec.name, vec.name, metric.empty() ? "COSINE" : metric, "AUTOINDEX"};
      json ij = {{"fieldName", idx.field}, {"indexName", idx.name}, {"metricType", idx.metric}};
      if (Reply r = ParseIndex(c, ij, &idx); r.code) return r;
      wanted.push_back(idx);
    }
    Collection* target = Find(c.name);
    if (target) {
      // rootcoord's createCollectionTask: the same schema again is a no-op; a different one is refused.
      bool same = target->dynamic == c.dynamic && target->fields.size() == c.fields.size();
      for (size_t i = 0; same && i < c.fields.size(); ++i) same = target->fields[i].SameAs(c.fields[i]);
      if (!same) {
        return Err(kCodeUnexpected, "create duplicate collection with different parameters, collection: " + c.name);
      }
    } else {
      c.id = next_collection_id++;
      collections.push_back(std::move(c));
      target = &collections.back();
    }
    for (const Index& idx : wanted) {
      if (Reply r = AddIndex(target, idx); r.code) return r;
    }
    if (!wanted.empty() && target->UnindexedVectorField().empty()) StartLoad(target);
    return Ok(json::object(), false);
  }

  Reply List(Ctx& ctx) {
    json names = json::array();
    for (const Collection& c : collections) names.push_back(c.name);
    return Ok(names, true);
  }

  // Reads collectionName and finds the collection; *out is null and the reply says why when there is none.
  Reply Named(Ctx& ctx, const char* type, Collection** out) {
    *out = nullptr;
    std::string name = ctx.body.Str("collectionName");
    if (!ctx.body.ok()) return ctx.body.Error();
    if (name.empty()) return Missing(type, "CollectionName");
    *out = Find(name);
    if (!*out) return NotFound(name);
    return Reply();
  }

  Reply Has(Ctx& ctx) {
    std::string name = ctx.body.Str("collectionName");
    if (!ctx.body.ok()) return ctx.body.Error();
    if (name.empty()) return Missing("CollectionNameReq", "CollectionName");
    return Ok(json{{"has", Find(name) != nullptr}}, true);
  }

  // The shape of getCollectionDetails (handler_v2.go) and printFieldDetail / printIndexes (utils.go).
  Reply Describe(Ctx& ctx) {
    Collection* c;
    if (Reply r = Named(ctx, "CollectionNameReq", &c); r.code) return r;
    json fields = json::array();
    int64_t id = 100;
    for (const Field& f : c->fields) {
      json fj = {{"name", f.name},         {"type", f.type},        {"primaryKey", f.primary},
                 {"autoId", f.auto_id},    {"partitionKey", false}, {"clusteringKey", false},
                 {"nullable", f.nullable}, {"description", ""},     {"id", id++}};
      if (!f.type_params.empty()) fj["params"] = f.type_params;
      fields.push_back(fj);
    }
    json indexes = json::array();
    for (const Index& i : c->indexes) {
      indexes.push_back({{"fieldName", i.field}, {"indexName", i.name}, {"metricType", i.metric}});
    }
    const Field* pk = c->pk();
    json data = {{"collectionName", c->name},
                 {"collectionID", c->id},
                 {"description", c->description},
                 {"autoId", pk && pk->auto_id},
                 {"fields", fields},
                 {"indexes", indexes},
                 {"load", LoadStateName(c->load)},
                 {"shardsNum", 1},
                 {"partitionsNum", 1},
                 {"consistencyLevel", c->consistency},
                 {"enableDynamicField", c->dynamic},
                 {"aliases", json::array()},
                 {"properties", json::array()}};
    return Ok(data, true);
  }

  // Idempotent, as rootcoord's dropCollectionTask ("make dropping collection idempotent").
  Reply Drop(Ctx& ctx) {
    std::string name = ctx.body.Str("collectionName");
    if (!ctx.body.ok()) return ctx.body.Error();
    if (name.empty()) return Missing("CollectionNameReq", "CollectionName");
    collections.erase(
        std::remove_if(collections.begin(), collections.end(), [&](const Collection& c) { return c.name == name; }),
        collections.end());
    return Ok(json::object(), false);
  }

  Reply Load(Ctx& ctx) {
    Collection* c;
    if (Reply r = Named(ctx, "CollectionNameReq", &c); r.code) return r;
    std::string missing = c->UnindexedVectorField();
    if (!missing.empty()) {
      return Err(kCodeIndexNotFound, "there is no vector index on field: [" + missing +
                                         "], please create index firstly: index not found[collection=" + c->name + "]");
    }
    StartLoad(c);
    return Ok(json::object(), false);
  }

  Reply Release(Ctx& ctx) {
    Collection* c;
    if (Reply r = Named(ctx, "CollectionNameReq", &c); r.code) return r;
    c->load = LoadState::kNotLoad;
    c->loading_left = 0;
    return Ok(json::object(), false);
  }

  // getCollectionLoadState (handler_v2.go): NotLoad carries no progress; Loading and Loaded do.
  Reply LoadStateOf(Ctx& ctx) {
    Collection* c;
    if (Reply r = Named(ctx, "CollectionNameReq", &c); r.code) return r;
    if (c->load == LoadState::kNotLoad) return Ok(json{{"loadState", LoadStateName(c->load)}}, true);
    if (c->load == LoadState::kLoading) {
      int total = std::max(options.load_delay_requests, 1);
      int progress = 100 * (total - c->loading_left) / total;
      if (--c->loading_left <= 0) c->load = LoadState::kLoaded;
      return Ok(json{{"loadState", "LoadStateLoading"}, {"loadProgress", std::min(progress, 99)}}, true);
    }
    return Ok(json{{"loadState", LoadStateName(c->load)}, {"loadProgress", 100}}, true);
  }

  // wrapperReturnRowCount (utils.go) over the collection's statistics: every row written, deleted or replaced ones
  // included. Milvus counts them until compaction drops them; the fake never compacts.
  Reply Stats(Ctx& ctx) {
    Collection* c;
    if (Reply r = Named(ctx, "CollectionNameReq", &c); r.code) return r;
    return Ok(json{{"rowCount", c->stats_rows}}, true);
  }

  Reply CreateIndex(Ctx& ctx) {
    Collection* c;
    if (Reply r = Named(ctx, "IndexParamReq", &c); r.code) return r;
    const json* list = ctx.body.Array("indexParams");
    if (!ctx.body.ok()) return ctx.body.Error();
    if (!list) return Missing("IndexParamReq", "IndexParams");
    std::vector<Index> parsed;
    for (const json& ij : *list) {
      Index idx;
      if (Reply r = ParseIndex(*c, ij, &idx); r.code) return r;
      parsed.push_back(idx);
    }
    for (const Index& idx : parsed) {
      if (Reply r = AddIndex(c, idx); r.code) return r;
    }
    return Ok(json::object(), false);
  }

  Reply ListIndexes(Ctx& ctx) {
    Collection* c;
    if (Reply r = Named(ctx, "CollectionNameReq", &c); r.code) return r;
    json names = json::array();
    for (const Index& i : c->indexes) names.push_back(i.name);
    return Ok(names, true);
  }

  // --- Writes ----------------------------------------------------------------------------------------------------

  // A scalar of an inserted row, converted as checkAndSetData (utils.go) converts the field's text: numbers may come
  // as JSON strings, VarChar takes any scalar's text.
  static bool ConvertScalar(const Field& f, const json& v, json* out, std::string* why) {
    auto fail = [&](const std::string& detail) {
      *why = "invalid parameter[expected=" + f.type + "][actual=" + (v.is_string() ? v.get<std::string>() : v.dump()) +
             "]: " + detail;
      return false;
    };
    if (f.type == "VarChar") {
      *out = v.is_string() ? v.get<std::string>() : v.dump();
      return true;
    }
    if (f.type == "JSON") {
      *out = v;
      return true;
    }
    if (f.type == "Bool") {
      if (v.is_boolean()) return *out = v, true;
      std::string s = v.is_string() ? v.get<std::string>() : v.dump();
      if (GoParseBool(s)) return *out = true, true;
      if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") return *out = false, true;
      return fail("strconv.ParseBool: parsing \"" + s + "\": invalid syntax");
    }
    if (f.IsInt()) {
      int64_t n = 0;
      if (v.is_number_integer()) {
        n = v.get<int64_t>();
      } else if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        auto r = std::from_chars(s.data(), s.data() + s.size(), n);
        if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return fail("unable to cast \"" + s + "\" to int");
      } else {
        return fail("unable to cast " + v.dump() + " to int");
      }
      int bits = f.type == "Int8" ? 8 : f.type == "Int16" ? 16 : f.type == "Int32" ? 32 : 64;
      if (bits < 64 && (n < -(int64_t{1} << (bits - 1)) || n >= (int64_t{1} << (bits - 1)))) {
        return fail("value " + std::to_string(n) + " out of range of " + f.type);
      }
      *out = n;
      return true;
    }
    // Float, Double.
    double d = 0;
    if (v.is_number()) {
      d = v.get<double>();
    } else if (v.is_string()) {
      char* end = nullptr;
      d = std::strtod(v.get_ref<const std::string&>().c_str(), &end);
      if (v.get_ref<const std::string&>().empty() || *end) return fail("unable to cast to float");
    } else {
      return fail("unable to cast " + v.dump() + " to float");
    }
    *out = f.type == "Float" ? Float32Json(static_cast<float>(d)) : json(d);
    return true;
  }

  // A vector of an inserted row or of a search: FloatVector as an array of numbers; BinaryVector as what Go's
  // json.Unmarshal takes for []byte: a base64 string or an array of byte values (utils.go, checkAndSetData and
  // serializeByteVectors).
  static bool ConvertVector(const Field& f, const json& v, std::vector<float>* floats, std::string* bits,
                            std::string* why) {
    if (f.type == "FloatVector") {
      if (!v.is_array())
        return *why = "json: cannot unmarshal " + std::string(JsonTypeName(v)) + " into Go value of type []float32",
               false;
      for (const json& e : v) {
        if (!e.is_number())
          return *why = "json: cannot unmarshal " + std::string(JsonTypeName(e)) + " into Go value of type float32",
                 false;
        floats->push_back(static_cast<float>(e.get<double>()));
      }
      if (static_cast<int64_t>(floats->size()) != f.dim) {
        *why = "[]float32 size " + std::to_string(floats->size()) + " doesn't equal to vector dimension " +
               std::to_string(f.dim) + " of FloatVector";
        return false;
      }
      return true;
    }
    if (v.is_string()) {
      if (!Base64Decode(v.get<std::string>(), bits)) return *why = "illegal base64 data", false;
    } else if (v.is_array()) {
      for (const json& e : v) {
        if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() > 255) {
          return *why = "json: cannot unmarshal " + e.dump() + " into Go value of type uint8", false;
        }
        bits->push_back(static_cast<char>(e.get<int64_t>()));
      }
    } else {
      return *why = "json: cannot unmarshal " + std::string(JsonTypeName(v)) + " into Go value of type []uint8", false;
    }
    if (static_cast<int64_t>(bits->size()) != f.dim / 8) {
      *why = "[]byte size " + std::to_string(bits->size()) + " doesn't equal to vector dimension " +
             std::to_string(f.dim) + " of BinaryVector";
      return false;
    }
    return true;
  }

  // Rows of an insert or upsert body, checked as checkAndSetData and anyToColumns (utils.go) and the proxy's
  // validation check them.
  Reply ParseRows(const Collection& c, const json& data, bool upsert, std::vector<Row>* rows) {
    for (size_t i = 0; i < data.size(); ++i) {
      const json& in = data[i];
      if (!in.is_object()) {
        return InsertDataError("invalid parameter[expected=5][actual=" + std::to_string(static_cast<int>(in.type())) +
                               "]: NULL:0, FALSE:1, NUMBER:2, STRING:3, TRUE:4, JSON:5");
      }
      Row row;
      for (const Field& f : c.fields) {
        auto it = in.find(f.name);
        bool absent = it == in.end() || it->is_null();
        if (f.primary && f.auto_id) {
          if (!absent && !upsert)
            return InsertDataError("no need to pass pk field(" + f.name + ") when autoid==true in insert");
          continue;  // assigned when stored
        }
        std::string why;
        if (f.IsVector()) {
          if (absent)
            return InsertDataError("invalid parameter[expected=" + f.type +
                                   "][actual=]: missing vector field: " + f.name);
          std::vector<float> floats;
          std::string bits;
          if (!ConvertVector(f, *it, &floats, &bits, &why)) return InsertDataError(why);
          if (f.type == "FloatVector") row.floats[f.name] = std::move(floats);
          else row.bits[f.name] = std::move(bits);
          continue;
        }
        if (absent) {
          if (f.nullable) {
            row.values[f.name] = nullptr;
            continue;
          }
          // checkAndSetData reads an absent field as the empty text: VarChar takes it as "", other types fail.
          if (f.type == "VarChar") {
            row.values[f.name] = "";
            continue;
          }
          return InsertDataError("row " + std::to_string(i) + " does not has field " + f.name);
        }
        json value;
        if (!ConvertScalar(f, *it, &value, &why)) return InsertDataError(why);
        if (f.type == "VarChar" && static_cast<int64_t>(value.get_ref<const std::string&>().size()) > f.max_length) {
          return Err(kCodeParameterInvalid,
                     "length of varchar field " + f.name + " exceeds max length, row number: " + std::to_string(i) +
                         ", length: " + std::to_string(value.get_ref<const std::string&>().size()) +
                         ", max length: " + std::to_string(f.max_length) + ": invalid parameter");
        }
        row.values[f.name] = value;
      }
      for (auto it = in.begin(); it != in.end(); ++it) {
        if (c.FindField(it.key())) continue;
        if (!c.dynamic)
          return InsertDataError("invalid parameter: has pass more field without dynamic schema, please check it");
        if (it.key() == "$meta") return InsertDataError("use the invalid field name($meta) when enable dynamicField");
        if (!it->is_null()) row.values["$meta"][it.key()] = *it;
      }
      rows->push_back(std::move(row));
    }
    return Reply();
  }

  // entities/insert and entities/upsert. Insert keeps duplicate primary keys as separate rows; upsert replaces every
  // row with the key (delete + insert).
  Reply Write(Ctx& ctx, bool upsert) {
    const char* type = "CollectionDataReq";
    Collection* c;
    if (Reply r = Named(ctx, type, &c); r.code) return r;
    const json* data = ctx.body.Array("data");
    if (!ctx.body.ok()) return ctx.body.Error();
    if (!data) return Missing(type, "Data");
    if (data->empty()) return InsertDataError(kMsgMissing);
    const Field* pk = c->pk();
    if (upsert && pk->auto_id) {
      return Err(kCodeParameterInvalid,
                 "cannot upsert an autoID collection: invalid parameter[expected=autoID: false][actual=autoID: true]");
    }
    std::vector<Row> rows;
    if (Reply r = ParseRows(*c, *data, upsert, &rows); r.code) return r;
    size_t keep = ctx.half_accept ? rows.size() / 2 : rows.size();
    json ids = json::array();
    for (size_t i = 0; i < keep; ++i) {
      Row& row = rows[i];
      if (pk->auto_id) {
        int64_t id = next_auto_id++;
        row.values[pk->name] = pk->type == "Int64" ? json(id) : json(std::to_string(id));
      }
      const json& key = row.values[pk->name];
      if (upsert) {
        for (Row& old : c->rows) {
          if (old.deleted == std::numeric_limits<int64_t>::max() && old.values[pk->name] == key) old.deleted = ctx.seq;
        }
      }
      row.written = ctx.seq;
      ids.push_back(key.is_number_integer() ? OutInt64(key.get<int64_t>(), ctx.int64_numbers) : key);
      c->rows.push_back(std::move(row));
      ++c->stats_rows;
    }
    if (ctx.half_accept) {
      return Err(kCodeUnexpected, "fake milvus: injected fault: stored the first " + std::to_string(keep) + " of " +
                                      std::to_string(rows.size()) + " rows");
    }
    Reply r = Ok(json{{upsert ? "upsertCount" : "insertCount", keep}, {upsert ? "upsertIds" : "insertIds", ids}}, true);
    r.extra["cost"] = 0;
    return r;
  }

  Reply Insert(Ctx& ctx) { return Write(ctx, false); }
  Reply Upsert(Ctx& ctx) { return Write(ctx, true); }

  // The primary keys of a get (or of a delete in the older `id` form), as checkGetPrimaryKey / convertRange
  // (utils.go) read them: a scalar or an array; Int64 keys as numbers or numeric strings; VarChar keys from string
  // values only (gjson's .Str: any other JSON value reads as "").
  Reply PrimaryKeys(const Field& pk, const json& id, std::vector<json>* keys) {
    json list = id.is_array() ? id : json::array({id});
    for (const json& e : list) {
      if (pk.type == "VarChar") {
        keys->push_back(e.is_string() ? e.get<std::string>() : "");
        continue;
      }
      int64_t n = 0;
      bool ok = e.is_number_integer();
      if (ok) n = e.get<int64_t>();
      if (e.is_string()) {
        const std::string& s = e.get_ref<const std::string&>();
        auto r = std::from_chars(s.data(), s.data() + s.size(), n);
        ok = r.ec == std::errc() && r.ptr == s.data() + s.size();
      }
      if (!ok) {
        return Err(kCodeCheckPrimaryKey, std::string(kMsgCheckPk) + ", error: unable to cast " + e.dump() +
                                             " of type " + JsonTypeName(e) + " to int64");
      }
      keys->push_back(n);
    }
    return Reply();
  }

  Reply ParseFilter(const Collection& c, const std::string& text, const char* plan, Filter* out) {
    std::string why;
    if (Filter::Parse(text, c.Schema(), out, &why)) return Reply();
    return Err(kCodeParameterInvalid, std::string("failed to create ") + plan + " plan: cannot parse expression: " +
                                          text + ", error: " + why + ": invalid parameter");
  }

  // entities/delete: by filter, or (the older form) by `id` when the filter is empty. A filter other than a plain
  // primary-key term needs the collection loaded, since Milvus runs a query to find the rows.
  Reply Delete(Ctx& ctx) {
    const char* type = "CollectionFilterReq";
    Collection* c;
    if (Reply r = Named(ctx, type, &c); r.code) return r;
    std::string text = ctx.body.Str("filter");
    if (!ctx.body.ok()) return ctx.body.Error();
    const Field* pk = c->pk();
    Filter filter;
    std::vector<json> keys;
    bool by_keys = text.empty();
    if (by_keys) {
      const json* id = ctx.body.Find("id");
      if (!id) return Missing(type, "Filter");
      if (Reply r = PrimaryKeys(*pk, *id, &keys); r.code) return r;
    } else {
      if (Reply r = ParseFilter(*c, text, "delete", &filter); r.code) return r;
      if (c->load != LoadState::kLoaded && !filter.IsPrimaryKeyTerm(pk->name)) return NotLoaded(c->name);
    }
    for (Row& row : c->rows) {
      if (!row.VisibleAt(ctx.seq - 1)) continue;
      bool hit = by_keys ? std::find(keys.begin(), keys.end(), row.values[pk->name]) != keys.end()
                         : filter.Matches(row.values);
      if (hit) row.deleted = ctx.seq;
    }
    Reply r = Ok(json::object(), false);
    r.extra["cost"] = 0;
    return r;
  }

  // --- Reads -----------------------------------------------------------------------------------------------------

  // The fields a read returns: translateOutputFields (proxy). "*" is every field, vectors included, and every
  // dynamic key; a name that is not a field is a dynamic key when the collection has dynamic fields.
  struct Output {
    std::vector<const Field*> fields;
    bool all_dynamic = false;
    std::vector<std::string> dynamic_keys;
  };

  Reply ResolveOutput(const Collection& c, const std::vector<std::string>& names, bool with_pk, Output* out) {
    std::set<std::string> seen;
    auto add = [&](const Field& f) {
      if (seen.insert(f.name).second) out->fields.push_back(&f);
    };
    if (with_pk) add(*c.pk());
    for (const std::string& n : names) {
      if (n == "*") {
        for (const Field& f : c.fields) add(f);
        out->all_dynamic = c.dynamic;
      } else if (const Field* f = c.FindField(n)) {
        add(*f);
      } else if (c.dynamic && n == "$meta") {
        out->all_dynamic = true;
      } else if (c.dynamic) {
        out->dynamic_keys.push_back(n);
      } else {
        return Err(kCodeUnexpected, "field " + n + " not exist");
      }
    }
    return Reply();
  }

  // One result row as buildQueryResp (utils.go) writes it: Int64 as strings unless allowed as numbers, a JSON field
  // as its JSON text in a string, BinaryVector as base64 (Go's []byte), dynamic keys merged into the row.
  static json OutRow(const Row& row, const Output& out, bool int64_numbers) {
    json o = json::object();
    for (const Field* f : out.fields) {
      if (f->type == "FloatVector") {
        json v = json::array();
        for (float x : row.floats.at(f->name)) v.push_back(Float32Json(x));
        o[f->name] = v;
        continue;
      }
      if (f->type == "BinaryVector") {
        o[f->name] = Base64Encode(row.bits.at(f->name));
        continue;
      }
      const json& v = row.values.at(f->name);
      if (v.is_null()) o[f->name] = nullptr;
      else if (f->type == "Int64") o[f->name] = OutInt64(v.get<int64_t>(), int64_numbers);
      else if (f->type == "JSON") o[f->name] = v.dump();
      else o[f->name] = v;
    }
    auto meta = row.values.find("$meta");
    if (meta != row.values.end()) {
      for (auto it = meta->begin(); it != meta->end(); ++it) {
        bool wanted = out.all_dynamic ||
                      std::find(out.dynamic_keys.begin(), out.dynamic_keys.end(), it.key()) != out.dynamic_keys.end();
        if (wanted && !o.contains(it.key())) o[it.key()] = *it;
      }
    }
    return o;
  }

  // The level of a read: the request's consistencyLevel, else the collection's.
  Reply Level(Ctx& ctx, const Collection& c, std::string* level) {
    *level = ctx.body.Str("consistencyLevel");
    if (!ctx.body.ok()) return ctx.body.Error();
    if (level->empty()) *level = c.consistency;
    else if (!ValidLevel(*level)) return BadLevel(*level);
    return Reply();
  }

  // Rows a read sees, one per primary key (the latest written; Milvus's reduce drops duplicate keys), in key order.
  std::vector<const Row*> Latest(const Collection& c, int64_t snapshot, const Filter& filter) {
    const std::string& pk = c.pk()->name;
    std::map<std::string, const Row*> by_key;  // dump of the key -> row
    std::vector<const Row*> order;
    for (const Row& row : c.rows) {
      if (!row.VisibleAt(snapshot) || !filter.Matches(row.values)) continue;
      std::string key = row.values.at(pk).dump();
      auto it = by_key.find(key);
      if (it == by_key.end()) {
        by_key[key] = &row;
        order.push_back(&row);
      } else if (row.written >= it->second->written) {
        std::replace(order.begin(), order.end(), it->second, &row);
        it->second = &row;
      }
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](const Row* a, const Row* b) { return PkLess(a->values.at(pk), b->values.at(pk)); });
    return order;
  }

  Reply Get(Ctx& ctx) {
    const char* type = "CollectionIDReq";
    Collection* c;
    if (Reply r = Named(ctx, type, &c); r.code) return r;
    bool has_outputs = false;
    std::vector<std::string> outputs = ctx.body.Strings("outputFields", &has_outputs);
    if (!has_outputs) outputs = {"*"};
    std::string level;
    if (Reply r = Level(ctx, *c, &level); r.code) return r;
    const json* id = ctx.body.Find("id");
    if (!ctx.body.ok()) return ctx.body.Error();
    if (!id) return Missing(type, "ID");
    std::vector<json> keys;
    if (Reply r = PrimaryKeys(*c->pk(), *id, &keys); r.code) return r;
    if (c->load != LoadState::kLoaded) return NotLoaded(c->name);
    Output out;
    if (Reply r = ResolveOutput(*c, outputs, true, &out); r.code) return r;
    json rows = json::array();
    const std::string& pk = c->pk()->name;
    for (const Row* row : Latest(*c, Snapshot(level, ctx.seq), Filter())) {
      if (std::find(keys.begin(), keys.end(), row->values.at(pk)) != keys.end()) {
        rows.push_back(OutRow(*row, out, ctx.int64_numbers));
      }
    }
    Reply r = Ok(rows, true);
    r.extra["cost"] = 0;
    return r;
  }

  // entities/query (query in handler_v2.go, queryTask in the proxy). limit defaults to 100 and is only passed on
  // when > 0 (0 means no limit, which needs a filter); offset only when > 0. ["count(*)"] counts every matching
  // row, duplicate keys included, and answers an Int64 (a string unless allowed as a number).
  Reply Query(Ctx& ctx) {
    const char* type = "QueryReqV2";
    Collection* c;
    if (Reply r = Named(ctx, type, &c); r.code) return r;
    std::string text = ctx.body.Str("filter");
    bool has_outputs = false;
    std::vector<std::string> outputs = ctx.body.Strings("outputFields", &has_outputs);
    if (!has_outputs) outputs = {"*"};
    int64_t limit = ctx.body.Int("limit", 100);
    int64_t offset = ctx.body.Int("offset", 0);
    std::string level;
    if (Reply r = Level(ctx, *c, &level); r.code) return r;
    if (!ctx.body.ok()) return ctx.body.Error();
    if (c->load != LoadState::kLoaded) return NotLoaded(c->name);
    Filter filter;
    if (Reply r = ParseFilter(*c, text, "query", &filter); r.code) return r;
    // matchCountRule (task_query.go): exactly one output, "count(*)" in any case, spaces around ignored.
    bool count = outputs.size() == 1 && EqualFold(Trim(outputs[0]), "count(*)");
    int64_t snapshot = Snapshot(level, ctx.seq);
    if (count) {
      int64_t n = 0;
      for (const Row& row : c->rows) n += row.VisibleAt(snapshot) && filter.Matches(row.values);
      Reply r = Ok(json::array({json{{"count(*)", OutInt64(n, ctx.int64_numbers)}}}), true);
      r.extra["cost"] = 0;
      return r;
    }
    if (offset < 0) offset = 0;
    if (limit > 0 && offset + limit > kMaxWindow) {
      // validateMaxQueryResultWindow (proxy/util.go), wrapped by task_query.go: a plain error in 2.4 (65535).
      return Err(kCodeUnexpected, "invalid max query result window, (offset+limit) should be in range [1, " +
                                      std::to_string(kMaxWindow) + "], but got " + std::to_string(offset + limit));
    }
    if (limit <= 0 && text.find_first_not_of(" \t\r\n") == std::string::npos) {
      return Err(kCodeParameterInvalid, "empty expression should be used with limit: invalid parameter");
    }
    Output out;
    if (Reply r = ResolveOutput(*c, outputs, true, &out); r.code) return r;
    std::vector<const Row*> hits = Latest(*c, snapshot, filter);
    json rows = json::array();
    for (size_t i = static_cast<size_t>(offset); i < hits.size(); ++i) {
      if (limit > 0 && static_cast<int64_t>(rows.size()) >= limit) break;
      rows.push_back(OutRow(*hits[i], out, ctx.int64_numbers));
    }
    Reply r = Ok(rows, true);
    r.extra["cost"] = 0;
    return r;
  }

  static double Distance(const std::string& metric, const std::vector<float>& a, const std::vector<float>& b) {
    double dot = 0, na = 0, nb = 0, l2 = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      double x = a[i], y = b[i];
      dot += x * y;
      na += x * x;
      nb += y * y;
      l2 += (x - y) * (x - y);
    }
    if (metric == "L2") return l2;  // squared, as knowhere (faiss fvec_L2sqr) reports it
    if (metric == "IP") return dot;
    return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0;  // COSINE
  }

  static double BitDistance(const std::string& metric, const std::string& a, const std::string& b) {
    int64_t diff = 0, both = 0, either = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      uint8_t x = static_cast<uint8_t>(a[i]), y = static_cast<uint8_t>(b[i]);
      diff += __builtin_popcount(x ^ y);
      both += __builtin_popcount(x & y);
      either += __builtin_popcount(x | y);
    }
    if (metric == "HAMMING") return static_cast<double>(diff);
    return either == 0 ? 0 : 1.0 - static_cast<double>(both) / static_cast<double>(either);  // JACCARD
  }

  // entities/search: exact brute force over the rows the read sees, filter first, then top-k per query vector.
  // L2, HAMMING and JACCARD rank ascending, IP and COSINE descending; a primary key appears once per query (the
  // proxy's reduce removes duplicates, keeping the best). Rows are concatenated per query, with "topks" telling
  // how many belong to each; no hit at all answers [] (TopK == 0 in handler_v2.go).
  Reply Search(Ctx& ctx) {
    const char* type = "SearchReqV2";
    Collection* c;
    if (Reply r = Named(ctx, type, &c); r.code) return r;
    const json* data = ctx.body.Array("data");
    std::string anns = ctx.body.Str("annsField");
    std::string text = ctx.body.Str("filter");
    int64_t limit = ctx.body.Int("limit", 100);
    int64_t offset = ctx.body.Int("offset", 0);
    bool has_outputs = false;
    std::vector<std::string> outputs = ctx.body.Strings("outputFields", &has_outputs);
    Body sp(ctx.body.Object("searchParams"), "searchParams");
    std::string metric = Upper(sp.Str("metricType"));
    const json* params = sp.Object("params");
    if (!sp.ok()) return sp.Error();
    std::string level;
    if (Reply r = Level(ctx, *c, &level); r.code) return r;
    if (!ctx.body.ok()) return ctx.body.Error();
    if (!data) return Missing(type, "Data");
    // generatePlaceholderGroup (handler_v2.go): the vector field, then the vectors; failures are code 1801.
    const Field* vf = nullptr;
    for (const Field& f : c->fields) {
      if (!f.IsVector() || (!anns.empty() && f.name != anns)) continue;
      if (vf) {
        return Err(kCodeBadFormat,
                   std::string(kMsgBadFormat) +
                       ", error: search without annsField, but already found multiple vector fields: [" + vf->name +
                       ", " + f.name + ",,,]");
      }
      vf = &f;
    }
    if (!vf)
      return Err(kCodeBadFormat, std::string(kMsgBadFormat) + ", error: cannot find a vector field named: " + anns);
    std::vector<std::vector<float>> fqueries;
    std::vector<std::string> bqueries;
    for (const json& q : *data) {
      std::vector<float> floats;
      std::string bits, why;
      if (!ConvertVector(*vf, q, &floats, &bits, &why)) {
        return Err(kCodeBadFormat, std::string(kMsgBadFormat) + ", error: " + vf->type + ": " + why);
      }
      fqueries.push_back(std::move(floats));
      bqueries.push_back(std::move(bits));
    }
    // The proxy's checks (task_search.go parseSearchInfo, proxy/util.go validateLimit / validateNQLimit): plain
    // errors in 2.4, hence 65535. Note the bound is inclusive: offset+limit == 16384 is accepted.
    auto range = [](const std::string& what, int64_t v) {
      return what + " [" + std::to_string(v) + "] is invalid, it should be in range [1, " + std::to_string(kMaxWindow) +
             "], but got " + std::to_string(v);
    };
    if (data->empty() || static_cast<int64_t>(data->size()) > kMaxWindow) {
      return Err(kCodeUnexpected, "nq (number of search vector per search request) should be in range [1, " +
                                      std::to_string(kMaxWindow) + "], but got " + std::to_string(data->size()));
    }
    if (limit <= 0 || limit > kMaxWindow) return Err(kCodeUnexpected, range("topk", limit));
    if (offset != 0 && (offset < 0 || offset > kMaxWindow)) return Err(kCodeUnexpected, range("offset", offset));
    if (offset + limit > kMaxWindow) return Err(kCodeUnexpected, range("offset+topk", offset + limit));
    if (c->load != LoadState::kLoaded) return NotLoaded(c->name);
    const Index* index = c->FindIndex(vf->name);
    if (!metric.empty() && metric != index->metric) {
      return Err(kCodeParameterInvalid,
                 "metric type not match: invalid parameter[expected=" + index->metric + "][actual=" + metric + "]");
    }
    // HNSW needs ef >= k (the reference notes it; knowhere's check). k is what the segments are asked for.
    if (params && index->type == "HNSW" && params->contains("ef") && (*params)["ef"].is_number_integer() &&
        (*params)["ef"].get<int64_t>() < limit + offset) {
      return Err(kCodeUnexpected, "ef(" + std::to_string((*params)["ef"].get<int64_t>()) +
                                      ") should be larger than k(" + std::to_string(limit + offset) + ")");
    }
    Filter filter;
    if (Reply r = ParseFilter(*c, text, "query", &filter); r.code) return r;
    Output out;
    if (Reply r = ResolveOutput(*c, outputs, false, &out); r.code) return r;
    const Field* pk = c->pk();
    int64_t snapshot = Snapshot(level, ctx.seq);
    std::vector<const Row*> candidates;
    for (const Row& row : c->rows) {
      if (row.VisibleAt(snapshot) && filter.Matches(row.values)) candidates.push_back(&row);
    }
    const std::string& m = index->metric;
    bool descending = m == "IP" || m == "COSINE";
    json rows = json::array();
    json topks = json::array();
    for (size_t q = 0; q < data->size(); ++q) {
      std::vector<std::pair<double, const Row*>> scored;
      for (const Row* row : candidates) {
        double d = vf->type == "FloatVector" ? Distance(m, fqueries[q], row->floats.at(vf->name))
                                             : BitDistance(m, bqueries[q], row->bits.at(vf->name));
        scored.push_back({static_cast<float>(d), row});
      }
      std::stable_sort(scored.begin(), scored.end(), [&](const auto& a, const auto& b) {
        return descending ? a.first > b.first : a.first < b.first;
      });
      std::set<std::string> seen;
      int64_t skipped = 0, taken = 0;
      for (const auto& [d, row] : scored) {
        if (taken == limit) break;
        if (!seen.insert(row->values.at(pk->name).dump()).second) continue;
        if (skipped++ < offset) continue;
        json o = OutRow(*row, out, ctx.int64_numbers);
        const json& key = row->values.at(pk->name);
        o[pk->name] = key.is_number_integer() ? OutInt64(key.get<int64_t>(), ctx.int64_numbers) : key;
        o["distance"] = Float32Json(static_cast<float>(d));
        rows.push_back(o);
        ++taken;
      }
      topks.push_back(taken);
    }
    Reply r = Ok(rows, true);
    r.extra["cost"] = 0;
    if (!rows.empty() && options.search_topks) r.extra["topks"] = topks;
    return r;
  }
};

const std::map<std::string, std::pair<FakeMilvus::Impl::Handler, const char*>>& FakeMilvus::Impl::Routes() {
  static const std::map<std::string, std::pair<Handler, const char*>> kRoutes = {
      {"collections/create", {&Impl::Create, "CollectionReq"}},
      {"collections/list", {&Impl::List, "DatabaseReq"}},
      {"collections/has", {&Impl::Has, "CollectionNameReq"}},
      {"collections/describe", {&Impl::Describe, "CollectionNameReq"}},
      {"collections/drop", {&Impl::Drop, "CollectionNameReq"}},
      {"collections/load", {&Impl::Load, "CollectionNameReq"}},
      {"collections/release", {&Impl::Release, "CollectionNameReq"}},
      {"collections/get_load_state", {&Impl::LoadStateOf, "CollectionNameReq"}},
      {"collections/get_stats", {&Impl::Stats, "CollectionNameReq"}},
      {"indexes/create", {&Impl::CreateIndex, "IndexParamReq"}},
      {"indexes/list", {&Impl::ListIndexes, "CollectionNameReq"}},
      {"entities/insert", {&Impl::Insert, "CollectionDataReq"}},
      {"entities/upsert", {&Impl::Upsert, "CollectionDataReq"}},
      {"entities/delete", {&Impl::Delete, "CollectionFilterReq"}},
      {"entities/get", {&Impl::Get, "CollectionIDReq"}},
      {"entities/query", {&Impl::Query, "QueryReqV2"}},
      {"entities/search", {&Impl::Search, "SearchReqV2"}},
  };
  return kRoutes;
}

FakeMilvus::FakeMilvus(FakeMilvusOptions options) : impl_(std::make_unique<Impl>()) {
  Impl* impl = impl_.get();
  impl->options = std::move(options);
  impl->svr.set_payload_max_length(static_cast<size_t>(impl->options.max_request_bytes));
  // An idle keep-alive connection is closed after a second, which also bounds how long Stop() waits for one.
  impl->svr.set_keep_alive_timeout(1);
  impl->svr.set_tcp_nodelay(true);  // as Milvus (Go net/http sets TCP_NODELAY): no Nagle + delayed-ACK stalls
  impl->svr.Post(R"(/v2/vectordb/.*)",
                 [impl](const httplib::Request& req, httplib::Response& res) { impl->Serve(req, res); });
  // Answers cpp-httplib makes itself: a body over the limit (413) and unknown routes (404, as gin says it).
  impl->svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 413) {
      res.set_content(json{{"code", kCodeBadFormat},
                           {"message", std::string(kMsgBadFormat) + ", error: http: request body too large"}}
                          .dump(),
                      "application/json");
    } else {
      res.set_content(res.status == 404 ? "404 page not found" : "", "text/plain");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  impl->port = impl->svr.bind_to_any_port("127.0.0.1");
  if (impl->port <= 0) return;  // port() reports it
  impl->thread = std::thread([impl] { impl->svr.listen_after_bind(); });
  for (int i = 0; i < 5000 && !impl->svr.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeMilvus::~FakeMilvus() { Stop(); }

int FakeMilvus::port() const { return impl_->port; }

std::string FakeMilvus::uri() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

void FakeMilvus::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->svr.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void FakeMilvus::FailNext(const std::string& path_suffix, int count, int http_status, const std::string& body) {
  Fault f;
  f.kind = Fault::Kind::kFail;
  f.suffix = path_suffix;
  f.remaining = count;
  f.http_status = http_status;
  f.body = body;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (count > 0) impl_->faults.push_back(f);
}

void FakeMilvus::DelayNext(const std::string& path_suffix, int count, int delay_ms) {
  Fault f;
  f.kind = Fault::Kind::kDelay;
  f.suffix = path_suffix;
  f.remaining = count;
  f.delay_ms = delay_ms;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (count > 0) impl_->faults.push_back(f);
}

void FakeMilvus::MalformedNext(const std::string& path_suffix, int count) {
  Fault f;
  f.kind = Fault::Kind::kMalformed;
  f.suffix = path_suffix;
  f.remaining = count;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (count > 0) impl_->faults.push_back(f);
}

void FakeMilvus::HalfAcceptNext(const std::string& path_suffix) {
  Fault f;
  f.kind = Fault::Kind::kHalfAccept;
  f.suffix = path_suffix;
  f.remaining = 1;
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.push_back(f);
}

int64_t FakeMilvus::Requests(const std::string& path_suffix) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  int64_t n = 0;
  for (const auto& [path, count] : impl_->counts) {
    if (EndsWith(path, path_suffix)) n += count;
  }
  return n;
}

std::string FakeMilvus::LastBody(const std::string& path_suffix) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  int64_t best = -1;
  std::string body;
  for (const auto& [path, entry] : impl_->bodies) {
    if (EndsWith(path, path_suffix) && entry.first > best) {
      best = entry.first;
      body = entry.second;
    }
  }
  return body;
}

int64_t FakeMilvus::Rows(const std::string& collection) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const Collection& c : impl_->collections) {
    if (c.name != collection) continue;
    int64_t n = 0;
    for (const Row& row : c.rows) n += row.VisibleAt(std::numeric_limits<int64_t>::max() - 1);
    return n;
  }
  return -1;
}

}  // namespace doppel::testing
