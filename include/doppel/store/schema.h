// Plain data types of the vector store: collection schemas, index descriptions, entities and search results.
// They carry no behaviour beyond validation and (de)serialisation, so that any backend (the embedded one, a remote
// Milvus one) can take and return them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "doppel/util/status.h"

namespace doppel {

// How vectors are stored. kFloat32: `dim` floats. kBinary: `dim` bits packed into dim/8 bytes (dim % 8 == 0).
enum class VectorType { kFloat32, kBinary };
// Distances reported in SearchHit::distance, best first:
//   kL2      squared Euclidean distance (smaller is better)
//   kIP      inner product (larger is better)
//   kCosine  cosine similarity (larger is better); vectors are L2-normalised on insert and queries on search
//   kHamming number of differing bits (smaller is better); binary vectors only
enum class Metric { kL2, kIP, kCosine, kHamming };
enum class FieldType { kInt64, kDouble, kBool, kString, kJson };
// kFlat: exact. kHnsw: graph (hnswlib for float vectors, FAISS IndexBinaryHNSW for binary ones). kIvfFlat,
// kIvfSq8 (8-bit scalar quantised), kIvfPq (product quantised): FAISS inverted files, float vectors only.
enum class IndexKind { kFlat, kHnsw, kIvfFlat, kIvfSq8, kIvfPq };

const char* VectorTypeName(VectorType t);
const char* MetricName(Metric m);
const char* FieldTypeName(FieldType t);
const char* IndexKindName(IndexKind k);
Result<Metric> ParseMetric(std::string_view s);        // "L2", "IP", "COSINE", "HAMMING" (case-insensitive)
Result<FieldType> ParseFieldType(std::string_view s);  // "INT64", "DOUBLE", "BOOL", "STRING", "JSON"

// An index and its parameters. Parameters that do not apply to `kind` are ignored. The defaults are the ones the
// recall test and the benchmark were run with.
struct IndexSpec {
  IndexKind kind = IndexKind::kFlat;
  int hnsw_m = 16;                 // HNSW: graph degree
  int hnsw_ef_construction = 200;  // HNSW: build-time beam width
  int hnsw_ef = 64;                // HNSW: default search-time beam width (per call: SearchRequest::ef)
  int ivf_nlist = 0;               // IVF: number of lists; 0 = 4*sqrt(n) chosen when the index is trained
  int ivf_nprobe = 16;             // IVF: default lists probed per query (per call: SearchRequest::nprobe)
  int pq_m = 0;                    // IVF_PQ: sub-quantisers; 0 = dim/8 (dim must be divisible by it)
  int pq_nbits = 8;                // IVF_PQ: bits per sub-quantiser code

  // The factory description: "FLAT", "HNSW,M=16,efConstruction=200,ef=64", "IVF_FLAT,nlist=1024,nprobe=16",
  // "IVF_SQ8,nlist=1024", "IVF_PQ,nlist=1024,m=64,nbits=8". Names and keys are case-insensitive.
  static Result<IndexSpec> Parse(std::string_view description);
  // The canonical description, which Parse() maps back to an equal spec.
  std::string ToString() const;
  bool operator==(const IndexSpec&) const = default;
};

struct FieldSchema {
  std::string name;  // [A-Za-z_][A-Za-z0-9_]*, at most 64 characters; not the id or vector field's name
  FieldType type = FieldType::kInt64;
  bool nullable = true;  // when false, every insert and upsert must give a non-null value
  bool operator==(const FieldSchema&) const = default;
};

struct CollectionSchema {
  std::string name;  // [A-Za-z_][A-Za-z0-9_]*, at most 64 characters
  VectorType vector_type = VectorType::kFloat32;
  int dim = 0;  // floats, or bits for kBinary
  Metric metric = Metric::kL2;
  IndexSpec index;
  std::vector<FieldSchema> fields;  // scalar fields, in order
  // When true the store assigns ids (1, 2, 3, ... never reused) and inserts must leave Entity::id at 0.
  bool auto_id = false;
  std::string description;

  // Checks names, dimension, metric/type and metric/index compatibility. Messages name the collection and field.
  Status Validate() const;
  const FieldSchema* FindField(std::string_view name) const;
  bool operator==(const CollectionSchema&) const = default;
};

// The names by which the id and the vector can be asked for in output_fields, and used in filters ("id").
inline constexpr std::string_view kIdFieldName = "id";
inline constexpr std::string_view kVectorFieldName = "vector";

// A scalar value. std::monostate is NULL. kJson fields hold their JSON text as a std::string. An int64_t is
// accepted for a kDouble field.
using FieldValue = std::variant<std::monostate, int64_t, double, bool, std::string>;

struct Entity {
  int64_t id = 0;
  std::vector<float> vector;          // kFloat32 collections: `dim` floats
  std::vector<uint8_t> binary_vector; // kBinary collections: dim/8 bytes
  std::map<std::string, FieldValue> fields;
};

// Checks an entity's scalar fields against `schema`: known names, value types (an int64 for a double field is
// fine), finite doubles, valid JSON text, nullability. Messages start with `where`. Backends share it.
Status CheckEntityFields(const CollectionSchema& schema, const Entity& e, const std::string& where);
// "null", "int64", "double", "bool" or "string".
const char* ValueTypeName(const FieldValue& v);

struct SearchHit {
  int64_t id = 0;
  float distance = 0;  // see Metric
  std::map<std::string, FieldValue> fields;  // the requested output fields (the vector is never returned here)
};

struct SearchRequest {
  // nq query vectors, row-major: nq*dim floats (kFloat32) or nq*dim/8 bytes (kBinary).
  std::vector<float> queries;
  std::vector<uint8_t> binary_queries;
  int k = 10;
  std::string filter;  // filter expression (see filter.h); empty = all entities
  std::vector<std::string> output_fields;  // scalar fields to return with each hit (none when empty)
  int ef = 0;      // HNSW beam width for this call; 0 = the index's default. Raised to k when smaller.
  int nprobe = 0;  // IVF lists probed for this call; 0 = the index's default
};

// One list of hits per query, best first. A list has min(k, number of matching entities) hits, except that an
// approximate index may return fewer when the graph/lists do not reach enough matching entities.
using SearchResults = std::vector<std::vector<SearchHit>>;

struct QueryRequest {
  std::string filter;  // empty = all entities
  int64_t limit = -1;  // -1 = no limit
  int64_t offset = 0;
  // Empty = every scalar field (not the vector); may include "vector". The id is always returned.
  std::vector<std::string> output_fields;
};

struct CollectionInfo {
  CollectionSchema schema;
  int64_t count = 0;            // live entities
  int64_t deleted_slots = 0;    // tombstones in the in-memory index not yet compacted away
  int64_t index_watermark = 0;  // last change sequence contained in the index snapshot on disk
  size_t memory_bytes = 0;      // approximate memory of the in-memory index and scalar columns
};

}  // namespace doppel
