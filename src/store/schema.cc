// Names, parsing and validation of the plain schema types (schema.h), and their JSON form (schema_codec.h).
#include "doppel/store/schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

#include "store/schema_codec.h"

namespace doppel {
namespace {

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

const char* VectorTypeName(VectorType t) { return t == VectorType::kFloat32 ? "FLOAT32" : "BINARY"; }

const char* MetricName(Metric m) {
  switch (m) {
    case Metric::kL2: return "L2";
    case Metric::kIP: return "IP";
    case Metric::kCosine: return "COSINE";
    case Metric::kHamming: return "HAMMING";
  }
  return "?";
}

const char* FieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::kInt64: return "INT64";
    case FieldType::kDouble: return "DOUBLE";
    case FieldType::kBool: return "BOOL";
    case FieldType::kString: return "STRING";
    case FieldType::kJson: return "JSON";
  }
  return "?";
}

const char* IndexKindName(IndexKind k) {
  switch (k) {
    case IndexKind::kFlat: return "FLAT";
    case IndexKind::kHnsw: return "HNSW";
    case IndexKind::kIvfFlat: return "IVF_FLAT";
    case IndexKind::kIvfSq8: return "IVF_SQ8";
    case IndexKind::kIvfPq: return "IVF_PQ";
  }
  return "?";
}

Result<Metric> ParseMetric(std::string_view s) {
  std::string u = Upper(Trim(s));
  if (u == "L2") return Metric::kL2;
  if (u == "IP") return Metric::kIP;
  if (u == "COSINE") return Metric::kCosine;
  if (u == "HAMMING") return Metric::kHamming;
  return Status::InvalidArgument("unknown metric '" + std::string(s) + "' (expected L2, IP, COSINE or HAMMING)");
}

Result<FieldType> ParseFieldType(std::string_view s) {
  std::string u = Upper(Trim(s));
  if (u == "INT64") return FieldType::kInt64;
  if (u == "DOUBLE") return FieldType::kDouble;
  if (u == "BOOL") return FieldType::kBool;
  if (u == "STRING") return FieldType::kString;
  if (u == "JSON") return FieldType::kJson;
  return Status::InvalidArgument("unknown field type '" + std::string(s) +
                                 "' (expected INT64, DOUBLE, BOOL, STRING or JSON)");
}

Result<VectorType> ParseVectorType(std::string_view s) {
  std::string u = Upper(Trim(s));
  if (u == "FLOAT32") return VectorType::kFloat32;
  if (u == "BINARY") return VectorType::kBinary;
  return Status::InvalidArgument("unknown vector type '" + std::string(s) + "' (expected FLOAT32 or BINARY)");
}

Result<IndexSpec> IndexSpec::Parse(std::string_view description) {
  IndexSpec spec;
  std::string_view rest = description;
  bool first = true;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view part = Trim(rest.substr(0, comma));
    if (first) {
      std::string kind = Upper(part);
      if (kind == "FLAT") spec.kind = IndexKind::kFlat;
      else if (kind == "HNSW") spec.kind = IndexKind::kHnsw;
      else if (kind == "IVF_FLAT") spec.kind = IndexKind::kIvfFlat;
      else if (kind == "IVF_SQ8") spec.kind = IndexKind::kIvfSq8;
      else if (kind == "IVF_PQ") spec.kind = IndexKind::kIvfPq;
      else
        return Status::InvalidArgument("index description '" + std::string(description) + "': unknown index '" +
                                       std::string(part) + "' (expected FLAT, HNSW, IVF_FLAT, IVF_SQ8 or IVF_PQ)");
      first = false;
    } else {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos)
        return Status::InvalidArgument("index description '" + std::string(description) + "': parameter '" +
                                       std::string(part) + "' is not key=value");
      std::string key = Upper(Trim(part.substr(0, eq)));
      std::string_view val = Trim(part.substr(eq + 1));
      int v = 0;
      auto [p, ec] = std::from_chars(val.data(), val.data() + val.size(), v);
      if (ec != std::errc() || p != val.data() + val.size() || v < 0)
        return Status::InvalidArgument("index description '" + std::string(description) + "': value '" +
                                       std::string(val) + "' of " + key + " is not a non-negative integer");
      if (key == "M" && spec.kind == IndexKind::kIvfPq) spec.pq_m = v;  // FAISS's and Milvus's spelling
      else if (key == "M") spec.hnsw_m = v;
      else if (key == "EFCONSTRUCTION" || key == "EF_CONSTRUCTION") spec.hnsw_ef_construction = v;
      else if (key == "EF") spec.hnsw_ef = v;
      else if (key == "NLIST") spec.ivf_nlist = v;
      else if (key == "NPROBE") spec.ivf_nprobe = v;
      else if (key == "PQ_M") spec.pq_m = v;
      else if (key == "NBITS") spec.pq_nbits = v;
      else
        return Status::InvalidArgument("index description '" + std::string(description) + "': unknown parameter '" +
                                       key + "'");
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return spec;
}

std::string IndexSpec::ToString() const {
  std::string s = IndexKindName(kind);
  switch (kind) {
    case IndexKind::kFlat: break;
    case IndexKind::kHnsw:
      s += ",M=" + std::to_string(hnsw_m) + ",efConstruction=" + std::to_string(hnsw_ef_construction) +
           ",ef=" + std::to_string(hnsw_ef);
      break;
    case IndexKind::kIvfPq:
      s += ",pq_m=" + std::to_string(pq_m) + ",nbits=" + std::to_string(pq_nbits);
      [[fallthrough]];
    case IndexKind::kIvfFlat:
    case IndexKind::kIvfSq8:
      s += ",nlist=" + std::to_string(ivf_nlist) + ",nprobe=" + std::to_string(ivf_nprobe);
      break;
  }
  return s;
}

const FieldSchema* CollectionSchema::FindField(std::string_view n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

const char* ValueTypeName(const FieldValue& v) {
  switch (v.index()) {
    case 0: return "null";
    case 1: return "int64";
    case 2: return "double";
    case 3: return "bool";
    default: return "string";
  }
}

Status CheckEntityFields(const CollectionSchema& schema, const Entity& e, const std::string& where) {
  for (const auto& [name, value] : e.fields) {
    const FieldSchema* f = schema.FindField(name);
    if (!f) return Status::InvalidArgument(where + ": unknown field '" + name + "'");
    bool ok = false;
    switch (f->type) {
      case FieldType::kInt64: ok = std::holds_alternative<int64_t>(value); break;
      case FieldType::kDouble:
        ok = std::holds_alternative<double>(value) || std::holds_alternative<int64_t>(value);
        if (auto* d = std::get_if<double>(&value); d && !std::isfinite(*d))
          return Status::InvalidArgument(where + ": field '" + name + "' is not finite");
        break;
      case FieldType::kBool: ok = std::holds_alternative<bool>(value); break;
      case FieldType::kString: ok = std::holds_alternative<std::string>(value); break;
      case FieldType::kJson:
        ok = std::holds_alternative<std::string>(value);
        if (ok && !nlohmann::json::accept(std::get<std::string>(value)))
          return Status::InvalidArgument(where + ": field '" + name + "' is not valid JSON text");
        break;
    }
    if (std::holds_alternative<std::monostate>(value)) ok = true;
    if (!ok)
      return Status::InvalidArgument(where + ": type mismatch: field '" + name + "' is " + FieldTypeName(f->type) +
                                     " but the value is " + ValueTypeName(value));
    if (!f->nullable && std::holds_alternative<std::monostate>(value))
      return Status::InvalidArgument(where + ": field '" + name + "' is not nullable");
  }
  for (const auto& f : schema.fields)
    if (!f.nullable && !e.fields.count(f.name))
      return Status::InvalidArgument(where + ": field '" + f.name + "' is required (not nullable)");
  return Status::OK();
}

Status CollectionSchema::Validate() const {
  if (!IsValidName(name))
    return Status::InvalidArgument("collection name '" + name +
                                   "' is invalid (letters, digits and '_', not starting with a digit, 1-64 chars)");
  const std::string where = "collection '" + name + "': ";
  if (dim <= 0 || dim > 65536) return Status::InvalidArgument(where + "dimension " + std::to_string(dim) +
                                                             " is out of range 1..65536");
  if (vector_type == VectorType::kBinary) {
    if (dim % 8 != 0)
      return Status::InvalidArgument(where + "binary dimension " + std::to_string(dim) + " is not a multiple of 8");
    if (metric != Metric::kHamming)
      return Status::InvalidArgument(where + "binary vectors need metric HAMMING, not " + MetricName(metric));
    if (index.kind != IndexKind::kFlat && index.kind != IndexKind::kHnsw)
      return Status::InvalidArgument(where + "binary vectors support FLAT and HNSW indexes, not " +
                                     IndexKindName(index.kind));
  } else if (metric == Metric::kHamming) {
    return Status::InvalidArgument(where + "metric HAMMING needs binary vectors");
  }
  if (index.kind == IndexKind::kHnsw &&
      (index.hnsw_m < 2 || index.hnsw_m > 256 || index.hnsw_ef_construction < 1 || index.hnsw_ef < 1))
    return Status::InvalidArgument(where + "HNSW parameters out of range in '" + index.ToString() + "'");
  if (index.kind == IndexKind::kIvfFlat || index.kind == IndexKind::kIvfSq8 || index.kind == IndexKind::kIvfPq) {
    if (index.ivf_nprobe < 1) return Status::InvalidArgument(where + "nprobe must be >= 1");
  }
  if (index.kind == IndexKind::kIvfPq) {
    int m = index.pq_m == 0 ? dim / 8 : index.pq_m;
    if (m <= 0 || dim % m != 0)
      return Status::InvalidArgument(where + "IVF_PQ sub-quantiser count " + std::to_string(m) +
                                     " does not divide dimension " + std::to_string(dim));
    if (index.pq_nbits < 1 || index.pq_nbits > 16)
      return Status::InvalidArgument(where + "IVF_PQ nbits " + std::to_string(index.pq_nbits) + " out of 1..16");
  }
  std::set<std::string> seen;
  for (const auto& f : fields) {
    if (!IsValidName(f.name))
      return Status::InvalidArgument(where + "field name '" + f.name + "' is invalid");
    if (f.name == kIdFieldName || f.name == kVectorFieldName)
      return Status::InvalidArgument(where + "field name '" + f.name + "' is reserved");
    if (!seen.insert(f.name).second)
      return Status::InvalidArgument(where + "field '" + f.name + "' is declared twice");
  }
  return Status::OK();
}

// ---- JSON codec ----

std::string SchemaToJson(const CollectionSchema& s) {
  nlohmann::json j;
  j["name"] = s.name;
  j["vector_type"] = VectorTypeName(s.vector_type);
  j["dim"] = s.dim;
  j["metric"] = MetricName(s.metric);
  j["index"] = s.index.ToString();
  j["auto_id"] = s.auto_id;
  j["description"] = s.description;
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& f : s.fields)
    fields.push_back({{"name", f.name}, {"type", FieldTypeName(f.type)}, {"nullable", f.nullable}});
  j["fields"] = fields;
  return j.dump();
}

Result<CollectionSchema> SchemaFromJson(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    CollectionSchema s;
    s.name = j.at("name").get<std::string>();
    DOPPEL_ASSIGN_OR_RETURN(s.vector_type, ParseVectorType(j.at("vector_type").get<std::string>()));
    s.dim = j.at("dim").get<int>();
    DOPPEL_ASSIGN_OR_RETURN(s.metric, ParseMetric(j.at("metric").get<std::string>()));
    DOPPEL_ASSIGN_OR_RETURN(s.index, IndexSpec::Parse(j.at("index").get<std::string>()));
    s.auto_id = j.at("auto_id").get<bool>();
    s.description = j.value("description", "");
    for (const auto& f : j.at("fields")) {
      FieldSchema fs;
      fs.name = f.at("name").get<std::string>();
      DOPPEL_ASSIGN_OR_RETURN(fs.type, ParseFieldType(f.at("type").get<std::string>()));
      fs.nullable = f.value("nullable", true);
      s.fields.push_back(fs);
    }
    DOPPEL_RETURN_IF_ERROR(s.Validate());
    return s;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("schema JSON is damaged: ") + e.what());
  }
}

}  // namespace doppel
