// The Milvus store (milvus_store.h): doppel's collections as Milvus collections, one call of the REST v2 API at a
// time through RestClient. The mapping (docs/STORE.md):
//   - fields: "id" Int64 primary key (autoID for auto_id collections), "vector" FloatVector/BinaryVector of `dim`,
//     then the scalar fields: INT64 -> Int64, DOUBLE -> Double, BOOL -> Bool, STRING -> VarChar(65535), JSON -> JSON,
//     nullable as declared (null values need Milvus 2.5+);
//   - the index: FLAT, HNSW (M, efConstruction), IVF_FLAT / IVF_SQ8 (nlist), IVF_PQ (nlist, m, nbits); binary
//     vectors: BIN_FLAT (FLAT) or BIN_IVF_FLAT (IVF_FLAT); metrics L2 (squared, like the embedded store), IP, COSINE,
//     HAMMING;
//   - doppel's schema (with its index parameters) and the per-collection metadata (the model fingerprint) are rows of
//     one extra collection, "doppel_metadata" (key VarChar primary key, value VarChar, a 2-d dummy vector: Milvus
//     requires one);
//   - reads that must see this client's writes ask for Strong consistency; queries page by primary key
//     (`id > cursor`, 4096 rows a request) because Milvus caps offset + limit below 16384.
#include "doppel/milvus/milvus_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include <openssl/evp.h>

#include "doppel/store/filter.h"
#include "milvus/expr.h"
#include "milvus/rest_client.h"
#include "store/schema_codec.h"

namespace doppel {

using nlohmann::json;
using milvus::Idempotent;
using milvus::RestClient;

namespace {

constexpr char kMetaCollection[] = "doppel_metadata";
constexpr int64_t kPageRows = 4096;       // rows per query request (Milvus: offset + limit < 16384)
constexpr size_t kIdsPerRequest = 1000;   // ids per "id in [...]" filter
constexpr int kMaxTopK = 16383;           // Milvus: limit + offset < 16384
constexpr int kMaxEf = 32768;             // Milvus's HNSW ef range ends here

// An int64 id from a JSON number or string (servers answer strings unless asked for numbers).
Result<int64_t> IdFromJson(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    char* end = nullptr;
    errno = 0;
    long long x = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0' && errno == 0) return static_cast<int64_t>(x);
  }
  return Status::Internal("Milvus answered an id that is not an int64: " + v.dump().substr(0, 40));
}

json ValueToJson(const FieldValue& v, FieldType type) {
  if (std::holds_alternative<std::monostate>(v)) return nullptr;
  if (auto* i = std::get_if<int64_t>(&v)) return type == FieldType::kDouble ? json(double(*i)) : json(*i);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* b = std::get_if<bool>(&v)) return *b;
  const std::string& s = std::get<std::string>(v);
  if (type == FieldType::kJson) return json::parse(s, nullptr, false);  // checked valid before
  return s;
}

FieldValue ValueFromJson(const json& v, FieldType type) {
  if (v.is_null()) return std::monostate{};
  switch (type) {
    case FieldType::kInt64:
      if (v.is_number_integer()) return v.get<int64_t>();
      if (v.is_string()) {
        auto id = IdFromJson(v);
        if (id.ok()) return *id;
      }
      return std::monostate{};
    case FieldType::kDouble: return v.is_number() ? FieldValue(v.get<double>()) : FieldValue(std::monostate{});
    case FieldType::kBool: return v.is_boolean() ? FieldValue(v.get<bool>()) : FieldValue(std::monostate{});
    case FieldType::kString: return v.is_string() ? FieldValue(v.get<std::string>()) : FieldValue(std::monostate{});
    case FieldType::kJson: return v.is_string() ? v.get<std::string>() : v.dump();  // Milvus answers JSON text
  }
  return std::monostate{};
}

// Binary vectors travel as base64 text: Milvus decodes them with Go's json.Unmarshal into []byte (which takes
// base64) and answers them the same way (utils.go: checkAndSetData, buildQueryResp). OpenSSL does the coding.
json BinaryToJson(const std::vector<uint8_t>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), int(bytes.size()));
  out.resize(size_t(std::max(n, 0)));
  return out;
}

// Accepts base64 text or, as some servers may answer, an array of byte values.
std::vector<uint8_t> BinaryFromJson(const json& v) {
  std::vector<uint8_t> out;
  if (v.is_array()) {
    for (const auto& b : v) out.push_back(static_cast<uint8_t>(b.is_number_integer() ? b.get<int>() : 0));
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    out.resize(3 * (s.size() / 4) + 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
    if (n < 0) return {};
    size_t pad = 0;  // EVP_DecodeBlock counts the padding's zero bytes
    for (size_t i = s.size(); i > 0 && s[i - 1] == '='; --i) ++pad;
    out.resize(size_t(n) - std::min(pad, size_t(n)));
  }
  return out;
}

const char* DataType(FieldType t) {
  switch (t) {
    case FieldType::kInt64: return "Int64";
    case FieldType::kDouble: return "Double";
    case FieldType::kBool: return "Bool";
    case FieldType::kString: return "VarChar";
    case FieldType::kJson: return "JSON";
  }
  return "VarChar";
}

// Milvus's index type and build parameters for a doppel index.
Result<json> IndexParams(const CollectionSchema& s) {
  const bool binary = s.vector_type == VectorType::kBinary;
  const IndexSpec& ix = s.index;
  json params = json::object();
  std::string type;
  const int nlist = ix.ivf_nlist > 0 ? ix.ivf_nlist : 1024;
  switch (ix.kind) {
    case IndexKind::kFlat: type = binary ? "BIN_FLAT" : "FLAT"; break;
    case IndexKind::kHnsw:
      if (binary)
        return Status::Unsupported("collection '" + s.name +
                                   "': Milvus indexes binary vectors with BIN_FLAT or BIN_IVF_FLAT: use FLAT or "
                                   "IVF_FLAT");
      type = "HNSW";
      params = {{"M", ix.hnsw_m}, {"efConstruction", ix.hnsw_ef_construction}};
      break;
    case IndexKind::kIvfFlat:
      type = binary ? "BIN_IVF_FLAT" : "IVF_FLAT";
      params = {{"nlist", nlist}};
      break;
    case IndexKind::kIvfSq8:
      type = "IVF_SQ8";
      params = {{"nlist", nlist}};
      break;
    case IndexKind::kIvfPq:
      type = "IVF_PQ";
      params = {{"nlist", nlist}, {"m", ix.pq_m > 0 ? ix.pq_m : s.dim / 8}, {"nbits", ix.pq_nbits}};
      break;
  }
  params["index_type"] = type;
  return json{{"fieldName", "vector"},
              {"indexName", "vector"},
              {"metricType", MetricName(s.metric)},
              {"indexType", type},
              {"params", params}};
}

json CreateBody(const CollectionSchema& s, const json& index) {
  json fields = json::array();
  json id = {{"fieldName", "id"}, {"dataType", "Int64"}, {"isPrimary", true}};
  if (s.auto_id) id["autoID"] = true;
  fields.push_back(id);
  fields.push_back({{"fieldName", "vector"},
                    {"dataType", s.vector_type == VectorType::kBinary ? "BinaryVector" : "FloatVector"},
                    {"elementTypeParams", {{"dim", std::to_string(s.dim)}}}});
  for (const auto& f : s.fields) {
    json j = {{"fieldName", f.name}, {"dataType", DataType(f.type)}};
    if (f.type == FieldType::kString) j["elementTypeParams"] = {{"max_length", "65535"}};
    if (f.nullable) j["nullable"] = true;
    fields.push_back(j);
  }
  return json{{"collectionName", s.name},
              {"description", s.description},
              {"schema", {{"autoID", s.auto_id}, {"enableDynamicField", false}, {"fields", fields}}},
              {"indexParams", json::array({index})},
              {"params", {{"consistencyLevel", "Bounded"}}}};
}

class MilvusStore;

// One Milvus collection. The schema is fixed for the handle's life; `dropped` turns every call into NotFound.
class MilvusCollection : public Collection {
 public:
  MilvusCollection(MilvusStore* store, std::shared_ptr<RestClient> rest, CollectionSchema schema)
      : store_(store), rest_(std::move(rest)), schema_(std::move(schema)) {}

  const CollectionSchema& schema() const override { return schema_; }
  void MarkDropped() { dropped_ = true; }

  Result<CollectionInfo> Describe() override {
    DOPPEL_RETURN_IF_ERROR(CheckOpen());
    CollectionInfo info;
    info.schema = schema_;
    DOPPEL_ASSIGN_OR_RETURN(info.count, Count(""));
    return info;
  }

  Result<std::vector<int64_t>> Insert(const std::vector<Entity>& entities) override {
    DOPPEL_RETURN_IF_ERROR(CheckOpen());
    DOPPEL_RETURN_IF_ERROR(Validate(entities, schema_.auto_id ? kMustNotHaveIds : kMustHaveIds));
    if (!schema_.auto_id) {
      std::vector<int64_t> ids;
      for (const auto& e : entities) ids.push_back(e.id);
      DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> existing, Get(ids, {std::string(kIdFieldName)}));
      if (!existing.empty())
        return Status::AlreadyExists(Where() + ": id " + std::to_string(existing[0].id) + " already exists");
    }
    return Write("entities/insert", entities, Idempotent::kNo);
  }

  Result<std::vector<int64_t>> Upsert(const std::vector<Entity>& entities) override {
    DOPPEL_RETURN_IF_ERROR(CheckOpen());
    DOPPEL_RETURN_IF_ERROR(Validate(entities, kMustHaveIds));
    return Write("entities/upsert", entities, Idempotent::kYes);
  }

  Result<int64_t> Delete(const std::vector<int64_t>& ids) override {
    DOPPEL_RETURN_IF_ERROR(CheckOpen());
    std::vector<int64_t> unique(ids.begin(), ids.end());
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    int64_t deleted = 0;
    for (size_t at = 0; at < unique.size(); at += kIdsPerRequest) {
      std::vector<int64_t> part(unique.begin() + at, unique.begin() + std::min(unique.size(), at + kIdsPerRequest));
      const std::string expr = IdIn(part);
      DOPPEL_ASSIGN_OR_RETURN(int64_t n, CountExpr(expr));
      if (n == 0) continue;
      DOPPEL_RETURN_IF_ERROR(
          rest_->Call("entities/delete", {{"collectionName", schema_.name}, {"filter", expr}}, Idempotent::kYes)
              .status());
      deleted += n;
    }
    return deleted;
  }

  Result<int64_t> DeleteByFilter(const std::string& filter) override {
    DOPPEL_RETURN_IF_ERROR(CheckOpen());
    if (filter.find_first_not_of(" \t\r\n") == std::string::npos)
      return Status::InvalidArgument(Where() + ": DeleteByFilter needs a filter");
    DOPPEL_ASSIGN_OR_RETURN(std::string expr, Expr(filter));
    DOPPEL_ASSIGN_OR_RETURN(int64_t n, CountExpr(expr));
    if (n == 0) return n;
    DOPPEL_RETURN_IF_ERROR(
        rest_->Call("entities/delete", {{"collectionName", schema_.name}, {"filter", expr}}, Idempotent::kYes)
            .status());
    return n;
  }

  Result<std::vector<Entity>> Get(const std::vector<int64_t>& ids,
                                  const std::vector<std::string>& output_fields) override {
    DOPPEL_RETURN_IF_ERROR(CheckOpen());
    std::map<int64_t, Entity> found;
    for (size_t at = 0; at < ids.size(); at += kIdsPerRequest) {
      std::vector<int64_t> part(ids.begin() + at, ids.begin() + std::min(ids.size(), at + kIdsPerRequest));
      QueryRequest q;
      q.output_fields = output_fields;
      DOPPEL_ASSIGN_OR_RETURN(std::vector<Entity> rows, QueryExpr(IdIn(part), q));
      for (auto& e : rows) found[e.id] = std::move(e);
    }
    std::vector<Entity> out;
    for (int64_t id : ids) {
      auto it = found.find(id);
      if (it != found.end()) out.push_back(it->second);
    }
    return out;
  }

  Result<std::vector<Entity>> Query(const QueryRequest& request) override {
    DOPPEL_RETURN_IF_ERROR(CheckOpen());
    DOPPEL_ASSIGN_OR_RETURN(std::string expr, Expr(request.filter));
    return QueryExpr(expr, request);
  }

  Result<int64_t> Count(const std::string& filter) override {
    DOPPEL_RETURN_IF_ERROR(CheckOpen());
    DOPPEL_ASSIGN_OR_RETURN(std::string expr, Expr(filter));
    return CountExpr(expr);
  }

  Result<SearchResults> Search(const SearchRequest& r) override {
    DOPPEL_RETURN_IF_ERROR(CheckOpen());
    if (r.k < 1 || r.k > kMaxTopK)
      return Status::InvalidArgument(Where() + ": k must be in 1.." + std::to_string(kMaxTopK) + " (Milvus's limit)");
    const bool binary = schema_.vector_type == VectorType::kBinary;
    const size_t width = binary ? size_t(schema_.dim / 8) : size_t(schema_.dim);
    const size_t total = binary ? r.binary_queries.size() : r.queries.size();
    if (total == 0 || total % width != 0)
      return Status::InvalidArgument(Where() + ": queries have " + std::to_string(total) +
                                     (binary ? " bytes, not a positive multiple of " : " floats, not a positive "
                                                                                       "multiple of dimension ") +
                                     std::to_string(width));
    for (const auto& f : r.output_fields)
      if (f != kIdFieldName && !schema_.FindField(f))
        return Status::InvalidArgument(Where() + ": unknown output field '" + f + "'");
    DOPPEL_ASSIGN_OR_RETURN(std::string expr, Expr(r.filter));
    json params = json::object();
    if (schema_.index.kind == IndexKind::kHnsw)
      params["ef"] = std::min(kMaxEf, std::max(r.k, r.ef > 0 ? r.ef : schema_.index.hnsw_ef));
    if (schema_.index.kind == IndexKind::kIvfFlat || schema_.index.kind == IndexKind::kIvfSq8 ||
        schema_.index.kind == IndexKind::kIvfPq)
      params["nprobe"] = r.nprobe > 0 ? r.nprobe : schema_.index.ivf_nprobe;
    std::vector<std::string> outputs;
    for (const auto& f : r.output_fields)
      if (f != kIdFieldName) outputs.push_back(f);
    SearchResults results;
    // One request per query vector: servers without "topks" cannot split a multi-vector answer.
    for (size_t q = 0; q * width < total; ++q) {
      json vec;
      if (binary) {
        vec = BinaryToJson(std::vector<uint8_t>(r.binary_queries.begin() + q * width,
                                                r.binary_queries.begin() + (q + 1) * width));
      } else {
        std::vector<float> v(r.queries.begin() + q * width, r.queries.begin() + (q + 1) * width);
        for (float x : v)
          if (!std::isfinite(x)) return Status::InvalidArgument(Where() + ": a query holds NaN or infinity");
        vec = v;
      }
      json body = {{"collectionName", schema_.name},
                   {"data", json::array({vec})},
                   {"annsField", "vector"},
                   {"limit", r.k},
                   {"outputFields", outputs},
                   {"searchParams", {{"metricType", MetricName(schema_.metric)}, {"params", params}}},
                   {"consistencyLevel", rest_->options().consistency}};
      if (!expr.empty()) body["filter"] = expr;
      DOPPEL_ASSIGN_OR_RETURN(json answer, CallLoaded("entities/search", body));
      std::vector<SearchHit> hits;
      if (answer.contains("data") && answer["data"].is_array()) {
        for (const auto& row : answer["data"]) {
          SearchHit h;
          DOPPEL_ASSIGN_OR_RETURN(h.id, IdFromJson(row.value("id", json())));
          h.distance = row.contains("distance") && row["distance"].is_number() ? row["distance"].get<float>() : 0.f;
          for (const auto& f : outputs)
            if (row.contains(f)) h.fields[f] = ValueFromJson(row[f], schema_.FindField(f)->type);
          hits.push_back(std::move(h));
        }
      }
      results.push_back(std::move(hits));
    }
    return results;
  }

  Result<std::string> GetMetadata(const std::string& key) override;
  Status SetMetadata(const std::string& key, const std::string& value) override;

  Status Flush() override { return CheckOpen(); }    // Milvus seals and persists segments itself
  Status Compact() override { return CheckOpen(); }  // and compacts them

 private:
  enum IdRule { kMustHaveIds, kMustNotHaveIds };

  std::string Where() const { return "collection '" + schema_.name + "' (Milvus at " + rest_->endpoint() + ")"; }
  Status CheckOpen() const {
    if (dropped_) return Status::NotFound("collection '" + schema_.name + "' was dropped");
    return Status::OK();
  }

  Status Validate(const std::vector<Entity>& entities, IdRule rule) const {
    std::set<int64_t> seen;
    for (size_t i = 0; i < entities.size(); ++i) {
      const Entity& e = entities[i];
      const std::string where = Where() + ", entity #" + std::to_string(i) + " (id " + std::to_string(e.id) + ")";
      if (rule == kMustHaveIds && schema_.auto_id && e.id == 0)
        return Status::InvalidArgument(where + ": an upsert needs every entity's id");
      if (rule == kMustNotHaveIds && e.id != 0)
        return Status::InvalidArgument(where + ": ids are assigned in an auto_id collection: leave it 0");
      if (rule == kMustHaveIds && !seen.insert(e.id).second)
        return Status::InvalidArgument(Where() + ": id " + std::to_string(e.id) + " appears twice in the batch");
      if (schema_.vector_type == VectorType::kFloat32) {
        if (e.vector.size() != size_t(schema_.dim))
          return Status::InvalidArgument(where + ": vector has dimension " + std::to_string(e.vector.size()) +
                                         ", expected " + std::to_string(schema_.dim));
        double norm = 0;
        for (size_t j = 0; j < e.vector.size(); ++j) {
          const float x = e.vector[j];
          if (!std::isfinite(x))
            return Status::InvalidArgument(where + ": vector component " + std::to_string(j) + " is " +
                                           (std::isnan(x) ? "NaN" : "infinite"));
          norm += double(x) * x;
        }
        if (schema_.metric == Metric::kCosine && norm == 0)
          return Status::InvalidArgument(where + ": a zero vector has no cosine similarity");
      } else if (e.binary_vector.size() != size_t(schema_.dim / 8)) {
        return Status::InvalidArgument(where + ": binary vector has " + std::to_string(e.binary_vector.size()) +
                                       " bytes, expected " + std::to_string(schema_.dim / 8));
      }
      DOPPEL_RETURN_IF_ERROR(CheckEntityFields(schema_, e, where));
    }
    return Status::OK();
  }

  json Row(const Entity& e) const {
    json row = json::object();
    if (!(schema_.auto_id && e.id == 0)) row["id"] = e.id;
    if (schema_.vector_type == VectorType::kBinary) {
      row["vector"] = BinaryToJson(e.binary_vector);
    } else if (schema_.metric == Metric::kCosine) {  // stored unit length, as the embedded store does
      double norm = 0;
      for (float x : e.vector) norm += double(x) * x;
      std::vector<float> v(e.vector);
      for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
      row["vector"] = v;
    } else {
      row["vector"] = e.vector;
    }
    for (const auto& f : schema_.fields) {
      auto it = e.fields.find(f.name);
      row[f.name] = it == e.fields.end() ? json(nullptr) : ValueToJson(it->second, f.type);
    }
    return row;
  }

  // Writes rows in requests of at most max_request_bytes; returns the ids Milvus acknowledged, in input order.
  Result<std::vector<int64_t>> Write(const std::string& path, const std::vector<Entity>& entities, Idempotent idem) {
    std::vector<int64_t> ids;
    json rows = json::array();
    size_t bytes = 0;
    auto send = [&]() -> Status {
      if (rows.empty()) return Status::OK();
      const size_t sent = rows.size();
      DOPPEL_ASSIGN_OR_RETURN(json answer,
                              rest_->Call(path, {{"collectionName", schema_.name}, {"data", std::move(rows)}}, idem));
      rows = json::array();
      bytes = 0;
      const json& data = answer.contains("data") ? answer["data"] : json();
      const char* count_key = path == "entities/insert" ? "insertCount" : "upsertCount";
      const char* ids_key = path == "entities/insert" ? "insertIds" : "upsertIds";
      if (!data.is_object() || !data.contains(count_key) || !data[count_key].is_number_integer() ||
          data[count_key].get<int64_t>() != int64_t(sent))
        return Status::Internal(Where() + ": Milvus acknowledged " +
                                (data.is_object() && data.contains(count_key) ? data[count_key].dump() : "no count") +
                                " of " + std::to_string(sent) + " rows; the batch is not acknowledged");
      if (data.contains(ids_key) && data[ids_key].is_array() && data[ids_key].size() == sent) {
        for (const auto& v : data[ids_key]) {
          DOPPEL_ASSIGN_OR_RETURN(int64_t id, IdFromJson(v));
          ids.push_back(id);
        }
      } else if (schema_.auto_id) {
        return Status::Internal(Where() + ": Milvus did not return the assigned ids");
      }  // otherwise the input's ids are the answer (below)
      return Status::OK();
    };
    for (const auto& e : entities) {
      json row = Row(e);
      const size_t size = row.dump().size() + 1;
      if (!rows.empty() && bytes + size > size_t(rest_->options().max_request_bytes)) DOPPEL_RETURN_IF_ERROR(send());
      rows.push_back(std::move(row));
      bytes += size;
    }
    DOPPEL_RETURN_IF_ERROR(send());
    if (!schema_.auto_id) {  // the input's ids, in input order
      ids.clear();
      for (const auto& e : entities) ids.push_back(e.id);
    }
    return ids;
  }

  Result<std::string> Expr(const std::string& filter) const {
    if (filter.find_first_not_of(" \t\r\n") == std::string::npos) return std::string();
    DOPPEL_ASSIGN_OR_RETURN(std::unique_ptr<FilterNode> tree, ParseFilter(filter, schema_));
    auto e = milvus::ToMilvusExpr(*tree);
    if (!e.ok()) return e.status().WithContext(Where() + ": filter '" + filter + "'");
    return e;
  }

  static std::string IdIn(const std::vector<int64_t>& ids) {
    std::string s = "id in [";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
    return s + "]";
  }

  // A call on a loaded collection: when Milvus says it is not loaded (released behind our back), load and retry.
  Result<json> CallLoaded(const std::string& path, const json& body);

  Result<int64_t> CountExpr(const std::string& expr) {
    json body = {{"collectionName", schema_.name},
                 {"filter", expr},
                 {"outputFields", json::array({"count(*)"})},
                 {"consistencyLevel", rest_->options().consistency}};
    DOPPEL_ASSIGN_OR_RETURN(json answer, CallLoaded("entities/query", body));
    const json& data = answer.contains("data") ? answer["data"] : json();
    if (!data.is_array() || data.empty() || !data[0].contains("count(*)"))
      return Status::Internal(Where() + ": Milvus answered a count without count(*)");
    return IdFromJson(data[0]["count(*)"]);
  }

  // Rows matching `expr` in ascending id order, paged by primary key (id > cursor), then offset/limit applied.
  Result<std::vector<Entity>> QueryExpr(const std::string& expr, const QueryRequest& q) {
    bool want_vector = false;
    std::vector<std::string> outputs;
    for (const auto& f : q.output_fields) {
      if (f == kVectorFieldName) {
        want_vector = true;
        outputs.push_back(f);
      } else if (f != kIdFieldName) {
        if (!schema_.FindField(f)) return Status::InvalidArgument(Where() + ": unknown output field '" + f + "'");
        outputs.push_back(f);
      }
    }
    if (q.output_fields.empty())
      for (const auto& f : schema_.fields) outputs.push_back(f.name);
    outputs.push_back("id");
    std::vector<Entity> out;
    int64_t skip = q.offset;
    bool first = true;
    int64_t cursor = 0;
    while (q.limit < 0 || int64_t(out.size()) < q.limit) {
      std::string page = expr;
      if (!first) page = (expr.empty() ? "" : "(" + expr + ") and ") + "id > " + std::to_string(cursor);
      json body = {{"collectionName", schema_.name},
                   {"filter", page},
                   {"outputFields", outputs},
                   {"limit", kPageRows},
                   {"consistencyLevel", rest_->options().consistency}};
      DOPPEL_ASSIGN_OR_RETURN(json answer, CallLoaded("entities/query", body));
      const json& data = answer.contains("data") ? answer["data"] : json();
      if (!data.is_array()) return Status::Internal(Where() + ": Milvus answered a query without rows");
      std::vector<Entity> rows;
      for (const auto& row : data) {
        Entity e;
        DOPPEL_ASSIGN_OR_RETURN(e.id, IdFromJson(row.value("id", json())));
        if (want_vector && row.contains("vector")) {
          if (schema_.vector_type == VectorType::kBinary) e.binary_vector = BinaryFromJson(row["vector"]);
          else if (row["vector"].is_array()) e.vector = row["vector"].get<std::vector<float>>();
        }
        for (const auto& f : schema_.fields)
          if (row.contains(f.name)) e.fields[f.name] = ValueFromJson(row[f.name], f.type);
        rows.push_back(std::move(e));
      }
      std::sort(rows.begin(), rows.end(), [](const Entity& a, const Entity& b) { return a.id < b.id; });
      for (auto& e : rows) {
        if (skip > 0) {
          --skip;
          continue;
        }
        if (q.limit >= 0 && int64_t(out.size()) >= q.limit) break;
        out.push_back(std::move(e));
      }
      if (int64_t(rows.size()) < kPageRows) break;
      cursor = rows.back().id;
      first = false;
    }
    return out;
  }

  MilvusStore* store_;
  std::shared_ptr<RestClient> rest_;
  const CollectionSchema schema_;
  std::atomic<bool> dropped_{false};
};

class MilvusStore : public VectorStore {
 public:
  explicit MilvusStore(std::shared_ptr<RestClient> rest) : rest_(std::move(rest)) {}

  Status Connect() {
    // The first call checks the server, the credentials and the database.
    DOPPEL_ASSIGN_OR_RETURN(bool has, Has(kMetaCollection));
    if (!has) {
      json index = {{"fieldName", "vector"}, {"indexName", "vector"}, {"metricType", "L2"}, {"indexType", "FLAT"},
                    {"params", {{"index_type", "FLAT"}}}};
      json body = {{"collectionName", kMetaCollection},
                   {"description", "doppel: collection schemas and metadata (model fingerprints)"},
                   {"schema",
                    {{"autoID", false},
                     {"enableDynamicField", false},
                     {"fields", json::array({{{"fieldName", "key"}, {"dataType", "VarChar"}, {"isPrimary", true},
                                              {"elementTypeParams", {{"max_length", "512"}}}},
                                             {{"fieldName", "value"}, {"dataType", "VarChar"},
                                              {"elementTypeParams", {{"max_length", "65535"}}}},
                                             {{"fieldName", "vector"}, {"dataType", "FloatVector"},
                                              {"elementTypeParams", {{"dim", "2"}}}}})}}},
                   {"indexParams", json::array({index})}};
      auto created = rest_->Call("collections/create", body, Idempotent::kNo);
      // Another client may have created it meanwhile.
      if (!created.ok() && !*Has(kMetaCollection)) return created.status();
    }
    return EnsureLoaded(kMetaCollection);
  }

  Result<bool> Has(const std::string& name) {
    DOPPEL_ASSIGN_OR_RETURN(json a, rest_->Call("collections/has", {{"collectionName", name}}, Idempotent::kYes));
    return a.contains("data") && a["data"].is_object() && a["data"].value("has", false);
  }

  Status EnsureLoaded(const std::string& name) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(rest_->options().timeout_ms);
    bool asked = false;
    for (int pause = 20;; pause = std::min(pause * 2, 1000)) {
      DOPPEL_ASSIGN_OR_RETURN(json a, rest_->Call("collections/get_load_state", {{"collectionName", name}},
                                                  Idempotent::kYes));
      const std::string state = a.contains("data") && a["data"].is_object() ? a["data"].value("loadState", "") : "";
      if (state == "LoadStateLoaded") return Status::OK();
      if (state == "LoadStateNotLoad" && !asked) {
        DOPPEL_RETURN_IF_ERROR(rest_->Call("collections/load", {{"collectionName", name}}, Idempotent::kYes).status());
        asked = true;
      }
      if (std::chrono::steady_clock::now() > deadline)
        return Status::DeadlineExceeded("collection '" + name + "' (Milvus at " + rest_->endpoint() +
                                        "): not loaded after " + std::to_string(rest_->options().timeout_ms) +
                                        " ms (state " + state + ")");
      std::this_thread::sleep_for(std::chrono::milliseconds(pause));
    }
  }

  // doppel_metadata rows: "<collection>|schema" and "<collection>|meta|<key>".
  Result<std::string> GetMeta(const std::string& key) {
    json body = {{"collectionName", kMetaCollection},
                 {"filter", "key == " + milvus::QuoteString(key)},
                 {"outputFields", json::array({"key", "value"})},
                 {"limit", 1},
                 {"consistencyLevel", rest_->options().consistency}};
    DOPPEL_ASSIGN_OR_RETURN(json a, rest_->Call("entities/query", body, Idempotent::kYes));
    if (!a.contains("data") || !a["data"].is_array() || a["data"].empty()) return Status::NotFound(key);
    const json& v = a["data"][0].value("value", json());
    if (!v.is_string()) return Status::Internal("doppel_metadata row '" + key + "' has no value");
    return v.get<std::string>();
  }

  Status SetMeta(const std::string& key, const std::string& value) {
    json row = {{"key", key}, {"value", value}, {"vector", json::array({0.0, 0.0})}};
    json body = {{"collectionName", kMetaCollection}, {"data", json::array({row})}};
    return rest_->Call("entities/upsert", body, Idempotent::kYes).status();
  }

  Status CreateCollection(const CollectionSchema& schema) override {
    DOPPEL_RETURN_IF_ERROR(schema.Validate());
    if (schema.name == kMetaCollection) return Status::InvalidArgument("collection name 'doppel_metadata' is reserved");
    DOPPEL_ASSIGN_OR_RETURN(json index, IndexParams(schema));
    DOPPEL_ASSIGN_OR_RETURN(bool has, Has(schema.name));
    if (has) return Status::AlreadyExists("collection '" + schema.name + "' already exists (Milvus at " + rest_->endpoint() + ")");
    // The schema first: a collection that exists always has it (a failed create leaves only a row the next create
    // overwrites).
    DOPPEL_RETURN_IF_ERROR(SetMeta(schema.name + "|schema", SchemaToJson(schema)));
    auto created = rest_->Call("collections/create", CreateBody(schema, index), Idempotent::kNo);
    if (!created.ok()) {
      auto again = Has(schema.name);
      if (again.ok() && *again) return Status::AlreadyExists("collection '" + schema.name + "' already exists");
      return created.status();
    }
    return EnsureLoaded(schema.name);
  }

  Status DropCollection(const std::string& name) override {
    DOPPEL_ASSIGN_OR_RETURN(bool has, Has(name));
    if (!has || name == kMetaCollection) return Status::NotFound("no collection '" + name + "'");
    DOPPEL_RETURN_IF_ERROR(rest_->Call("collections/drop", {{"collectionName", name}}, Idempotent::kYes).status());
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = open_.find(name);
      if (it != open_.end()) {
        it->second->MarkDropped();
        open_.erase(it);
      }
    }
    // Its metadata rows: the keys between "<name>|" and "<name>}" ('}' follows '|').
    json body = {{"collectionName", kMetaCollection},
                 {"filter", "key >= " + milvus::QuoteString(name + "|") + " and key < " + milvus::QuoteString(name + "}")}};
    return rest_->Call("entities/delete", body, Idempotent::kYes).status();
  }

  Result<std::vector<std::string>> ListCollections() override {
    DOPPEL_ASSIGN_OR_RETURN(json a, rest_->Call("collections/list", json::object(), Idempotent::kYes));
    std::vector<std::string> names;
    if (a.contains("data") && a["data"].is_array())
      for (const auto& n : a["data"])
        if (n.is_string() && n.get<std::string>() != kMetaCollection) names.push_back(n.get<std::string>());
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<bool> HasCollection(const std::string& name) override {
    if (name == kMetaCollection) return false;
    return Has(name);
  }

  Result<CollectionInfo> DescribeCollection(const std::string& name) override {
    DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, GetCollection(name));
    return c->Describe();
  }

  Result<std::shared_ptr<Collection>> GetCollection(const std::string& name) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = open_.find(name);
      if (it != open_.end()) return std::shared_ptr<Collection>(it->second);
    }
    DOPPEL_ASSIGN_OR_RETURN(bool has, HasCollection(name));
    if (!has) return Status::NotFound("no collection '" + name + "' (Milvus at " + rest_->endpoint() + ")");
    auto text = GetMeta(name + "|schema");
    if (!text.ok() && text.status().code() == Status::Code::kNotFound)
      return Status::FailedPrecondition("collection '" + name + "' (Milvus at " + rest_->endpoint() +
                                        ") was not made by doppel: no schema in doppel_metadata");
    if (!text.ok()) return text.status();
    DOPPEL_ASSIGN_OR_RETURN(CollectionSchema schema, SchemaFromJson(*text));
    DOPPEL_RETURN_IF_ERROR(EnsureLoaded(name));
    std::lock_guard<std::mutex> l(mu_);
    auto& slot = open_[name];
    if (!slot) slot = std::make_shared<MilvusCollection>(this, rest_, std::move(schema));
    return std::shared_ptr<Collection>(slot);
  }

 private:
  std::shared_ptr<RestClient> rest_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<MilvusCollection>> open_;  // guarded by mu_
};

Result<std::string> MilvusCollection::GetMetadata(const std::string& key) {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  auto v = store_->GetMeta(schema_.name + "|meta|" + key);
  if (!v.ok() && v.status().code() == Status::Code::kNotFound)
    return Status::NotFound(Where() + ": no metadata '" + key + "'");
  return v;
}

Status MilvusCollection::SetMetadata(const std::string& key, const std::string& value) {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  return store_->SetMeta(schema_.name + "|meta|" + key, value);
}

Result<json> MilvusCollection::CallLoaded(const std::string& path, const json& body) {
  auto r = rest_->Call(path, body, Idempotent::kYes);
  if (!r.ok() && r.status().code() == Status::Code::kFailedPrecondition &&
      r.status().message().find("Milvus error " + std::to_string(milvus::kCodeCollectionNotLoaded)) !=
          std::string::npos) {
    DOPPEL_RETURN_IF_ERROR(store_->EnsureLoaded(schema_.name));
    return rest_->Call(path, body, Idempotent::kYes);
  }
  if (!r.ok() && r.status().code() == Status::Code::kNotFound) {
    MarkDropped();  // dropped by another client
    return Status::NotFound(Where() + ": the collection no longer exists");
  }
  return r;
}

}  // namespace

Result<MilvusOptions> ParseMilvusUri(const std::string& uri) {
  MilvusOptions o;
  std::string rest;
  std::string scheme;
  for (const char* s : {"milvus://", "milvuss://", "http://", "https://"})
    if (uri.rfind(s, 0) == 0) {
      scheme = s;
      rest = uri.substr(scheme.size());
    }
  if (scheme.empty())
    return Status::InvalidArgument("store URI '" + uri.substr(0, 80) +
                                   "': expected milvus://HOST[:PORT][/DATABASE] (or milvuss://, http://, https://)");
  const bool tls = scheme == "milvuss://" || scheme == "https://";
  const size_t at = rest.find('@');
  const size_t slash = rest.find('/');
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    o.token = rest.substr(0, at);
    rest = rest.substr(at + 1);
  }
  std::string hostport = rest.substr(0, rest.find('/'));
  if (rest.find('/') != std::string::npos) o.database = rest.substr(rest.find('/') + 1);
  while (!o.database.empty() && o.database.back() == '/') o.database.pop_back();
  if (hostport.empty()) return Status::InvalidArgument("store URI '" + scheme + "...': no host");
  std::string host = hostport, port = "19530";
  const size_t bracket = hostport.find(']');  // [IPv6]:port
  const size_t colon = hostport.rfind(':');
  if (colon != std::string::npos && (hostport[0] != '[' || (bracket != std::string::npos && colon > bracket))) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) < 1 || std::stoi(port) > 65535)
    return Status::InvalidArgument("store URI: port '" + port.substr(0, 10) + "' is not a port number");
  o.endpoint = std::string(tls ? "https://" : "http://") + host + ":" + port;
  if (o.token.empty())
    if (const char* t = std::getenv("DOPPEL_MILVUS_TOKEN")) o.token = t;
  return o;
}

Result<std::unique_ptr<VectorStore>> OpenMilvusStore(const MilvusOptions& options) {
  if (options.endpoint.empty()) return Status::InvalidArgument("Milvus: no endpoint");
  auto store = std::make_unique<MilvusStore>(std::make_shared<RestClient>(options));
  DOPPEL_RETURN_IF_ERROR(store->Connect());
  return std::unique_ptr<VectorStore>(std::move(store));
}

}  // namespace doppel
