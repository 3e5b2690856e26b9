#include "store/local_collection.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "store/file_util.h"
#include "store/schema_codec.h"

namespace doppel {

namespace fs = std::filesystem;

namespace {

constexpr char kSnapMagic[8] = {'D', 'P', 'L', 'S', 'N', 'A', 'P', '1'};

std::string ColumnName(const FieldSchema& f) { return "\"f_" + f.name + "\""; }

const char* SqlType(FieldType t) {
  switch (t) {
    case FieldType::kInt64:
    case FieldType::kBool: return "INTEGER";
    case FieldType::kDouble: return "REAL";
    case FieldType::kString:
    case FieldType::kJson: return "TEXT";
  }
  return "BLOB";
}

void BindValue(sqlite::Stmt& st, int i, FieldType t, const FieldValue& v) {
  if (std::holds_alternative<std::monostate>(v)) return st.BindNull(i);
  switch (t) {
    case FieldType::kInt64: return st.BindInt(i, std::get<int64_t>(v));
    case FieldType::kBool: return st.BindInt(i, std::get<bool>(v) ? 1 : 0);
    case FieldType::kDouble:
      return st.BindDouble(i, std::holds_alternative<int64_t>(v) ? static_cast<double>(std::get<int64_t>(v))
                                                                 : std::get<double>(v));
    case FieldType::kString:
    case FieldType::kJson: return st.BindText(i, std::get<std::string>(v));
  }
}

FieldValue ColumnValue(const sqlite::Stmt& st, int i, FieldType t) {
  if (st.ColumnType(i) == SQLITE_NULL) return std::monostate();
  switch (t) {
    case FieldType::kInt64: return st.ColumnInt(i);
    case FieldType::kBool: return st.ColumnInt(i) != 0;
    case FieldType::kDouble: return st.ColumnDouble(i);
    case FieldType::kString:
    case FieldType::kJson: return std::string(st.ColumnText(i));
  }
  return std::monostate();
}

template <typename T>
void Put(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <typename T>
bool Take(std::string_view* in, T* v) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

// A collection's database: 64 KiB pages (a row holds a whole vector: with 4 KiB pages a 2 KiB row of d=512 takes a
// page of its own, doubling the file), synchronous=FULL (an acknowledged write survives power loss).
sqlite::DbOptions StoreDbOptions(bool create) {
  sqlite::DbOptions o;
  o.create = create;
  o.page_size = 65536;
  o.synchronous_full = true;
  return o;
}

}  // namespace

// ---------------------------------------------------------------- create / open

Status LocalCollection::Create(const std::string& dir, const CollectionSchema& schema) {
  DOPPEL_ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(dir + "/data.db", StoreDbOptions(true)));
  std::string cols;
  for (const auto& f : schema.fields) cols += ", " + ColumnName(f) + " " + SqlType(f.type);
  sqlite::Transaction tx(db.get());
  DOPPEL_RETURN_IF_ERROR(tx.Begin());
  DOPPEL_RETURN_IF_ERROR(db->Exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)"));
  DOPPEL_RETURN_IF_ERROR(db->Exec("CREATE TABLE user_meta(key TEXT PRIMARY KEY, value BLOB NOT NULL)"));
  DOPPEL_RETURN_IF_ERROR(db->Exec(
      "CREATE TABLE entities(seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL UNIQUE, vector BLOB NOT NULL" +
      cols + ")"));
  DOPPEL_ASSIGN_OR_RETURN(auto st, db->Prepare("INSERT INTO meta(key, value) VALUES(?1, ?2)"));
  st.BindText(1, "schema");
  st.BindText(2, SchemaToJson(schema));
  DOPPEL_RETURN_IF_ERROR(st.Run());
  st.BindText(1, "next_auto_id");
  st.BindText(2, "1");
  DOPPEL_RETURN_IF_ERROR(st.Run());
  return tx.Commit();
}

Result<std::shared_ptr<LocalCollection>> LocalCollection::Open(const std::string& dir,
                                                               const LocalStoreOptions& options) {
  std::shared_ptr<LocalCollection> c(new LocalCollection());
  c->dir_ = dir;
  c->options_ = options;
  c->read_only_ = options.read_only;
  sqlite::DbOptions o = StoreDbOptions(false);
  o.read_only = options.read_only;
  DOPPEL_ASSIGN_OR_RETURN(c->db_, sqlite::Db::Open(dir + "/data.db", o));
  o.read_only = true;  // the read connection never writes
  DOPPEL_ASSIGN_OR_RETURN(c->read_db_, sqlite::Db::Open(dir + "/data.db", o));
  DOPPEL_RETURN_IF_ERROR(c->Load());
  return c;
}

LocalCollection::~LocalCollection() {
  if (dropped_ || !db_ || read_only_) return;
  std::lock_guard<std::mutex> w(writer_mu_);
  if (changes_since_snapshot_ > 0) {
    Status s = SaveSnapshotLocked();
    if (!s.ok()) Warn(Where() + ": could not save the index snapshot on close: " + s.ToString());
  }
}

void LocalCollection::Warn(const std::string& msg) const {
  if (options_.warn) options_.warn(msg);
  else std::cerr << "doppel store warning: " << msg << std::endl;
}

void LocalCollection::MarkDropped() {
  std::lock_guard<std::mutex> w(writer_mu_);
  std::unique_lock<RwLock> l(mu_);
  dropped_ = true;
  db_.reset();
  std::lock_guard<std::mutex> r(read_mu_);
  read_db_.reset();
}

Status LocalCollection::CheckOpen() const {
  if (dropped_) return Status::NotFound("collection '" + schema_.name + "' was dropped");
  return Status::OK();
}

Status LocalCollection::CheckWritable() const {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  if (read_only_)
    return Status::FailedPrecondition(Where() + " is open read-only (the store was opened for reading)");
  return Status::OK();
}

Status LocalCollection::Load() {
  const std::string db_path = db_->path();
  {
    DOPPEL_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT key, value FROM meta"));
    bool have_schema = false;
    while (true) {
      DOPPEL_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      std::string key(st.ColumnText(0)), value(st.ColumnText(1));
      if (key == "schema") {
        auto s = SchemaFromJson(value);
        if (!s.ok()) return Status::Corruption("database " + db_path + ": " + s.status().message());
        schema_ = *s;
        have_schema = true;
      } else if (key == "next_auto_id") {
        next_auto_id_ = std::strtoll(value.c_str(), nullptr, 10);
      }
    }
    if (!have_schema) return Status::Corruption("database " + db_path + " has no collection schema");
  }
  code_bytes_ = schema_.vector_type == VectorType::kFloat32 ? schema_.dim * sizeof(float) : schema_.dim / 8;
  for (const auto& f : schema_.fields) columns_.emplace_back(f.type);
  DOPPEL_ASSIGN_OR_RETURN(index_, NewVectorIndex(schema_));

  // 1. The snapshot, if it is whole: index, slot table, watermark. Otherwise start empty and rebuild.
  int64_t watermark = 0;
  Status snap = LoadSnapshot(&watermark);
  // A reader can race the writer replacing the snapshot (the old index file is deleted once the new header is in
  // place): read the header again.
  for (int attempt = 0; read_only_ && !snap.ok() && snap.code() != Status::Code::kNotFound && attempt < 5; ++attempt) {
    DOPPEL_ASSIGN_OR_RETURN(index_, NewVectorIndex(schema_));
    slot_ids_.clear();
    id_slot_.clear();
    snap = LoadSnapshot(&watermark);
  }
  if (!snap.ok()) {
    if (snap.code() != Status::Code::kNotFound)
      Warn(Where() + ": index snapshot is damaged (" + snap.message() + "); rebuilding the index from " + db_path);
    DOPPEL_ASSIGN_OR_RETURN(index_, NewVectorIndex(schema_));
    slot_ids_.clear();
    id_slot_.clear();
    watermark = 0;
  }
  // 2. Every row: scalar columns for all, vectors only for rows newer than the watermark (replay).
  std::string cols;
  for (const auto& f : schema_.fields) cols += ", " + ColumnName(f);
  DOPPEL_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT seq, id, CASE WHEN seq > ?1 THEN vector END" + cols +
                                                " FROM entities ORDER BY seq"));
  st.BindInt(1, watermark);
  alive_.Resize(slot_ids_.size(), false);
  for (auto& c : columns_) c.Resize(slot_ids_.size());
  std::vector<uint32_t> pending_slots;
  std::vector<uint8_t> pending;
  constexpr size_t kBatch = 8192;
  // Read-only: newer rows go into an exact delta index (cheap to build) instead of the approximate one.
  VectorIndex* replay_into = index_.get();
  std::vector<uint32_t> delta_slots;
  if (read_only_) {
    CollectionSchema flat = schema_;
    flat.index = IndexSpec();
    flat.index.kind = IndexKind::kFlat;
    DOPPEL_ASSIGN_OR_RETURN(delta_, NewVectorIndex(flat));
    replay_into = delta_.get();
  }
  int64_t max_seq = 0;
  while (true) {
    DOPPEL_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    int64_t seq = st.ColumnInt(0), id = st.ColumnInt(1);
    max_seq = std::max(max_seq, seq);
    uint32_t slot = SlotFor(id);
    if (alive_.Test(slot))
      return Status::Corruption("database " + db_path + ": id " + std::to_string(id) + " appears twice");
    alive_.Set(slot, true);
    ++live_count_;
    for (size_t i = 0; i < schema_.fields.size(); ++i)
      columns_[i].Set(slot, ColumnValue(st, static_cast<int>(3 + i), schema_.fields[i].type));
    if (seq > watermark) {
      if (st.ColumnBytes(2) != code_bytes_)
        return Status::Corruption("database " + db_path + ": vector of id " + std::to_string(id) + " has " +
                                  std::to_string(st.ColumnBytes(2)) + " bytes, expected " +
                                  std::to_string(code_bytes_));
      const uint8_t* p = static_cast<const uint8_t*>(st.ColumnBlob(2));
      pending.insert(pending.end(), p, p + code_bytes_);
      pending_slots.push_back(slot);
      if (read_only_) delta_slots.push_back(slot);
      if (pending_slots.size() >= kBatch) {
        DOPPEL_RETURN_IF_ERROR(replay_into->Add(pending_slots.size(), pending_slots.data(), pending.data()));
        pending_slots.clear();
        pending.clear();
      }
    }
  }
  if (!pending_slots.empty())
    DOPPEL_RETURN_IF_ERROR(replay_into->Add(pending_slots.size(), pending_slots.data(), pending.data()));
  last_seq_ = std::max(max_seq, watermark);
  if (read_only_) {
    in_delta_ = Bitmap(slot_ids_.size(), false);
    for (uint32_t s : delta_slots) in_delta_.Set(s, true);
    delta_alive_ = alive_;
    delta_alive_.And(in_delta_);
    Bitmap not_delta = in_delta_;
    not_delta.Not();
    main_alive_ = alive_;
    main_alive_.And(not_delta);
    main_alive_count_ = main_alive_.Count();
    delta_alive_count_ = delta_alive_.Count();
    snapshot_watermark_ = snap.ok() ? watermark : 0;
    return Status::OK();
  }
  snapshot_watermark_ = snap.ok() ? watermark : 0;
  changes_since_snapshot_ = snap.ok() ? static_cast<int64_t>(pending_slots.size()) : live_count_;
  // Anything replayed or rebuilt is written back now, so the next open is fast.
  bool rebuilt = !snap.ok() && (live_count_ > 0 || snap.code() != Status::Code::kNotFound);
  if (rebuilt || (snap.ok() && max_seq > watermark)) {
    std::lock_guard<std::mutex> w(writer_mu_);
    DOPPEL_RETURN_IF_ERROR(SaveSnapshotLocked());
  }
  return Status::OK();
}

uint32_t LocalCollection::SlotFor(int64_t id) {
  auto it = id_slot_.find(id);
  if (it != id_slot_.end()) return it->second;
  uint32_t slot = static_cast<uint32_t>(slot_ids_.size());
  slot_ids_.push_back(id);
  id_slot_.emplace(id, slot);
  alive_.Resize(slot_ids_.size(), false);
  for (auto& c : columns_) c.Resize(slot_ids_.size());
  return slot;
}

// ---------------------------------------------------------------- snapshots

Status LocalCollection::LoadSnapshot(int64_t* watermark) {
  std::string meta_path = dir_ + "/index.meta";
  if (!fs::exists(meta_path)) return Status::NotFound("no snapshot");
  auto bytes = ReadFileBytes(meta_path, int64_t(1) << 34);
  if (!bytes.ok()) return Status::Corruption("cannot read " + meta_path);
  std::string_view in(*bytes);
  if (in.size() < 16 || std::memcmp(in.data(), kSnapMagic, 8) != 0)
    return Status::Corruption(meta_path + " is not an index snapshot header");
  uint64_t stored_sum;
  std::memcpy(&stored_sum, in.data() + in.size() - 8, 8);
  if (Checksum64(in.data(), in.size() - 8) != stored_sum) return Status::Corruption(meta_path + " checksum mismatch");
  in.remove_prefix(8);
  in.remove_suffix(8);
  int64_t gen, wm;
  uint64_t nslots, bin_size, bin_sum;
  if (!Take(&in, &gen) || !Take(&in, &wm) || !Take(&in, &nslots) || in.size() != nslots * 8 + 16)
    return Status::Corruption(meta_path + " is truncated");
  std::vector<int64_t> ids(nslots);
  std::memcpy(ids.data(), in.data(), nslots * 8);
  in.remove_prefix(nslots * 8);
  Take(&in, &bin_size);
  Take(&in, &bin_sum);
  std::string bin_path = dir_ + "/index-" + std::to_string(gen) + ".bin";
  uint64_t size = 0;
  auto sum = ChecksumFile(bin_path, &size);
  if (!sum.ok()) return Status::Corruption("index file " + bin_path + " is missing");
  if (size != bin_size || *sum != bin_sum) return Status::Corruption("index file " + bin_path + " checksum mismatch");
  // The snapshot must not be ahead of the data (e.g. a database restored from an older copy).
  {
    DOPPEL_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT seq FROM sqlite_sequence WHERE name = 'entities'"));
    DOPPEL_ASSIGN_OR_RETURN(bool row, st.Step());
    int64_t db_seq = row ? st.ColumnInt(0) : 0;
    if (wm > db_seq) return Status::Corruption("snapshot watermark " + std::to_string(wm) + " is ahead of the data");
  }
  DOPPEL_RETURN_IF_ERROR(index_->Load(bin_path));
  slot_ids_ = std::move(ids);
  id_slot_.clear();
  id_slot_.reserve(slot_ids_.size());
  for (uint32_t s = 0; s < slot_ids_.size(); ++s)
    if (!id_slot_.emplace(slot_ids_[s], s).second) return Status::Corruption(meta_path + " maps an id twice");
  snapshot_gen_ = gen;
  *watermark = wm;
  return Status::OK();
}

Status LocalCollection::SaveSnapshotLocked() {
  // Readers may run meanwhile (the index is only read); writers are excluded by writer_mu_.
  std::shared_lock<RwLock> l(mu_);
  int64_t gen = snapshot_gen_ + 1;
  std::string bin_path = dir_ + "/index-" + std::to_string(gen) + ".bin";
  DOPPEL_RETURN_IF_ERROR(index_->Save(bin_path));
  DOPPEL_RETURN_IF_ERROR(SyncPath(bin_path, false));
  uint64_t size = 0;
  DOPPEL_ASSIGN_OR_RETURN(uint64_t sum, ChecksumFile(bin_path, &size));
  std::string meta(kSnapMagic, 8);
  Put(&meta, gen);
  Put(&meta, last_seq_);
  Put(&meta, static_cast<uint64_t>(slot_ids_.size()));
  meta.append(reinterpret_cast<const char*>(slot_ids_.data()), slot_ids_.size() * 8);
  Put(&meta, size);
  Put(&meta, sum);
  Put(&meta, Checksum64(meta.data(), meta.size()));
  DOPPEL_RETURN_IF_ERROR(WriteFileAtomic(dir_ + "/index.meta", meta));
  std::error_code ec;
  fs::remove(dir_ + "/index-" + std::to_string(snapshot_gen_) + ".bin", ec);
  snapshot_gen_ = gen;
  snapshot_watermark_ = last_seq_;
  changes_since_snapshot_ = 0;
  return Status::OK();
}

Status LocalCollection::MaybeSnapshot() {
  if (index_->IsExact() && schema_.index.kind == IndexKind::kFlat) {
    // A FLAT index replays at disk speed; snapshot it less often (on close and Flush, and every 4x the interval).
    if (changes_since_snapshot_ < options_.snapshot_every * 4) return Status::OK();
  } else if (changes_since_snapshot_ < options_.snapshot_every) {
    return Status::OK();
  }
  return SaveSnapshotLocked();
}

Status LocalCollection::Flush() {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> w(writer_mu_);
  return SaveSnapshotLocked();
}

Status LocalCollection::Compact() {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> w(writer_mu_);
  // Rebuild from the database with dense slots for live entities only, then swap and snapshot.
  DOPPEL_ASSIGN_OR_RETURN(auto index, NewVectorIndex(schema_));
  std::vector<int64_t> slot_ids;
  std::unordered_map<int64_t, uint32_t> id_slot;
  std::vector<Column> columns;
  for (const auto& f : schema_.fields) columns.emplace_back(f.type);
  {
    std::lock_guard<std::mutex> r(read_mu_);
    DOPPEL_ASSIGN_OR_RETURN(auto st, read_db_->Prepare("SELECT id, vector FROM entities ORDER BY seq"));
    std::vector<uint32_t> slots;
    std::vector<uint8_t> buf;
    std::shared_lock<RwLock> l(mu_);
    while (true) {
      DOPPEL_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      int64_t id = st.ColumnInt(0);
      if (st.ColumnBytes(1) != code_bytes_)
        return Status::Corruption("database " + read_db_->path() + ": vector of id " + std::to_string(id) +
                                  " has the wrong size");
      auto it = id_slot_.find(id);
      if (it == id_slot_.end() || !alive_.Test(it->second)) continue;
      uint32_t slot = static_cast<uint32_t>(slot_ids.size());
      slot_ids.push_back(id);
      id_slot.emplace(id, slot);
      for (size_t i = 0; i < columns.size(); ++i) {
        columns[i].Resize(slot + 1);
        columns[i].Set(slot, columns_[i].Get(it->second));
      }
      const uint8_t* p = static_cast<const uint8_t*>(st.ColumnBlob(1));
      buf.insert(buf.end(), p, p + code_bytes_);
      slots.push_back(slot);
      if (slots.size() >= 8192) {
        DOPPEL_RETURN_IF_ERROR(index->Add(slots.size(), slots.data(), buf.data()));
        slots.clear();
        buf.clear();
      }
    }
    if (!slots.empty()) DOPPEL_RETURN_IF_ERROR(index->Add(slots.size(), slots.data(), buf.data()));
  }
  {
    std::unique_lock<RwLock> l(mu_);
    slot_ids_ = std::move(slot_ids);
    id_slot_ = std::move(id_slot);
    alive_ = Bitmap(slot_ids_.size(), true);
    live_count_ = static_cast<int64_t>(slot_ids_.size());
    columns_ = std::move(columns);
    for (auto& c : columns_) c.Resize(slot_ids_.size());
    index_ = std::move(index);
  }
  return SaveSnapshotLocked();
}

// ---------------------------------------------------------------- validation

Status LocalCollection::ValidateEntity(const Entity& e, size_t i, std::vector<uint8_t>* code) const {
  const std::string where = Where() + ", entity #" + std::to_string(i) + " (id " + std::to_string(e.id) + ")";
  if (schema_.vector_type == VectorType::kFloat32) {
    if (e.vector.size() != static_cast<size_t>(schema_.dim))
      return Status::InvalidArgument(where + ": vector has dimension " + std::to_string(e.vector.size()) +
                                     ", expected " + std::to_string(schema_.dim));
    double norm = 0;
    for (size_t j = 0; j < e.vector.size(); ++j) {
      if (!std::isfinite(e.vector[j]))
        return Status::InvalidArgument(where + ": vector component " + std::to_string(j) + " is " +
                                       (std::isnan(e.vector[j]) ? "NaN" : "infinite"));
      norm += static_cast<double>(e.vector[j]) * e.vector[j];
    }
    code->resize(code_bytes_);
    float* out = reinterpret_cast<float*>(code->data());
    if (schema_.metric == Metric::kCosine) {
      if (norm == 0) return Status::InvalidArgument(where + ": a zero vector has no cosine similarity");
      float inv = static_cast<float>(1.0 / std::sqrt(norm));
      for (size_t j = 0; j < e.vector.size(); ++j) out[j] = e.vector[j] * inv;
    } else {
      std::memcpy(out, e.vector.data(), code_bytes_);
    }
  } else {
    if (e.binary_vector.size() != code_bytes_)
      return Status::InvalidArgument(where + ": binary vector has " + std::to_string(e.binary_vector.size()) +
                                     " bytes, expected " + std::to_string(code_bytes_) + " (" +
                                     std::to_string(schema_.dim) + " bits)");
    *code = e.binary_vector;
  }
  return CheckEntityFields(schema_, e, where);
}

Status LocalCollection::CheckOutputFields(const std::vector<std::string>& names, bool* want_vector) const {
  *want_vector = false;
  for (const auto& n : names) {
    if (n == kVectorFieldName) {
      *want_vector = true;
      continue;
    }
    if (n == kIdFieldName) continue;
    if (!schema_.FindField(n)) return Status::InvalidArgument(Where() + ": unknown output field '" + n + "'");
  }
  return Status::OK();
}

// ---------------------------------------------------------------- writes

Result<std::vector<int64_t>> LocalCollection::Insert(const std::vector<Entity>& entities) {
  return Write(entities, false);
}

Result<std::vector<int64_t>> LocalCollection::Upsert(const std::vector<Entity>& entities) {
  return Write(entities, true);
}

Result<std::vector<int64_t>> LocalCollection::Write(const std::vector<Entity>& entities, bool upsert) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  if (entities.empty()) return std::vector<int64_t>{};
  std::vector<uint8_t> codes(entities.size() * code_bytes_);
  {
    std::vector<uint8_t> code;
    for (size_t i = 0; i < entities.size(); ++i) {
      DOPPEL_RETURN_IF_ERROR(ValidateEntity(entities[i], i, &code));
      std::memcpy(&codes[i * code_bytes_], code.data(), code_bytes_);
    }
  }
  std::lock_guard<std::mutex> w(writer_mu_);
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  // Ids: assigned (auto_id insert) or given, unique within the batch, and new unless upserting.
  std::vector<int64_t> ids(entities.size());
  int64_t next_auto = next_auto_id_;
  std::unordered_set<int64_t> seen;
  for (size_t i = 0; i < entities.size(); ++i) {
    if (schema_.auto_id && !upsert) {
      if (entities[i].id != 0)
        return Status::InvalidArgument(Where() + " assigns ids itself (auto_id); entity #" + std::to_string(i) +
                                       " has id " + std::to_string(entities[i].id));
      ids[i] = next_auto++;
    } else {
      ids[i] = entities[i].id;
      if (!seen.insert(ids[i]).second)
        return Status::InvalidArgument(Where() + ": id " + std::to_string(ids[i]) + " appears twice in the batch");
      if (!upsert) {
        auto it = id_slot_.find(ids[i]);  // only this thread modifies id_slot_ (writer_mu_)
        if (it != id_slot_.end() && alive_.Test(it->second))
          return Status::AlreadyExists(Where() + ": id " + std::to_string(ids[i]) + " already exists");
      }
      if (schema_.auto_id && ids[i] >= next_auto) next_auto = ids[i] + 1;
    }
  }
  // One transaction for the batch: all of it is durable at COMMIT, none of it before.
  std::string cols, params;
  for (size_t f = 0; f < schema_.fields.size(); ++f) {
    cols += ", " + ColumnName(schema_.fields[f]);
    params += ", ?" + std::to_string(f + 3);
  }
  sqlite::Transaction tx(db_.get());
  DOPPEL_RETURN_IF_ERROR(tx.Begin());
  DOPPEL_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string(upsert ? "INSERT OR REPLACE" : "INSERT") +
                                                " INTO entities(id, vector" + cols + ") VALUES(?1, ?2" + params +
                                                ")"));
  int64_t max_seq = 0;
  for (size_t i = 0; i < entities.size(); ++i) {
    st.BindInt(1, ids[i]);
    st.BindBlob(2, &codes[i * code_bytes_], code_bytes_);
    for (size_t f = 0; f < schema_.fields.size(); ++f) {
      auto it = entities[i].fields.find(schema_.fields[f].name);
      BindValue(st, static_cast<int>(f + 3), schema_.fields[f].type,
                it == entities[i].fields.end() ? FieldValue() : it->second);
    }
    Status s = st.Run();
    if (!s.ok()) return s.WithContext(Where() + ": writing id " + std::to_string(ids[i]));
    max_seq = sqlite3_last_insert_rowid(db_->handle());
  }
  if (next_auto != next_auto_id_) {
    DOPPEL_ASSIGN_OR_RETURN(auto ms, db_->Prepare("UPDATE meta SET value = ?1 WHERE key = 'next_auto_id'"));
    ms.BindText(1, std::to_string(next_auto));
    DOPPEL_RETURN_IF_ERROR(ms.Run());
  }
  // Durable first (the fsync happens here, while readers keep searching), then published.
  DOPPEL_RETURN_IF_ERROR(tx.Commit());
  // Publishing never holds the exclusive lock for long: (1) slots for the batch, with the scalar fields of new
  // slots, which are not alive yet and so invisible to every search; (2) their vectors into the index, a few at a
  // time, readers searching in between; (3) one short section that replaces the vectors and fields of entities
  // that were already live and makes the whole batch alive at once.
  const size_t n = entities.size();
  std::vector<uint32_t> slots(n);
  std::vector<size_t> fresh, live_before;
  {
    std::unique_lock<RwLock> l(mu_);
    next_auto_id_ = next_auto;
    for (size_t i = 0; i < n; ++i) {
      auto it = id_slot_.find(ids[i]);
      bool was_live = it != id_slot_.end() && alive_.Test(it->second);
      slots[i] = SlotFor(ids[i]);
      (was_live ? live_before : fresh).push_back(i);
      if (!was_live)
        for (size_t f = 0; f < schema_.fields.size(); ++f) {
          auto fit = entities[i].fields.find(schema_.fields[f].name);
          columns_[f].Set(slots[i], fit == entities[i].fields.end() ? FieldValue() : fit->second);
        }
    }
  }
  auto add = [&](const std::vector<size_t>& which, size_t begin, size_t end) {
    std::vector<uint32_t> sl;
    std::vector<uint8_t> buf;
    for (size_t j = begin; j < end; ++j) {
      sl.push_back(slots[which[j]]);
      buf.insert(buf.end(), &codes[which[j] * code_bytes_], &codes[which[j] * code_bytes_] + code_bytes_);
    }
    return index_->Add(sl.size(), sl.data(), buf.data());
  };
  Status indexed;
  // Small steps keep each exclusive section short (HNSW inserts cost ~0.3 ms each); bulk loads use big steps,
  // which hnswlib builds on all cores.
  const size_t step = fresh.size() >= 256 ? 256 : 4;
  for (size_t b = 0; b < fresh.size() && indexed.ok(); b += step) {
    std::unique_lock<RwLock> l(mu_);
    indexed = add(fresh, b, std::min(fresh.size(), b + step));
  }
  {
    std::unique_lock<RwLock> l(mu_);
    if (indexed.ok() && !live_before.empty()) indexed = add(live_before, 0, live_before.size());
    for (size_t i : live_before)
      for (size_t f = 0; f < schema_.fields.size(); ++f) {
        auto fit = entities[i].fields.find(schema_.fields[f].name);
        columns_[f].Set(slots[i], fit == entities[i].fields.end() ? FieldValue() : fit->second);
      }
    for (size_t i : fresh) {
      alive_.Set(slots[i], true);
      ++live_count_;
    }
    last_seq_ = max_seq;
  }
  if (!indexed.ok()) {
    // The data is durable but the index missed it: it will be rebuilt on the next open.
    return indexed.WithContext(Where() + ": batch committed but not indexed (reopen to rebuild)");
  }
  changes_since_snapshot_ += static_cast<int64_t>(entities.size());
  Status s = MaybeSnapshot();
  if (!s.ok()) Warn(Where() + ": index snapshot failed (will retry): " + s.ToString());
  return ids;
}

Result<int64_t> LocalCollection::Delete(const std::vector<int64_t>& ids) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> w(writer_mu_);
  return DeleteIds(ids);
}

Result<int64_t> LocalCollection::DeleteByFilter(const std::string& filter) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  if (std::all_of(filter.begin(), filter.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }))
    return Status::InvalidArgument(Where() + ": DeleteByFilter needs a filter (an empty one would delete everything)");
  std::lock_guard<std::mutex> w(writer_mu_);
  std::vector<int64_t> ids;
  {
    std::shared_lock<RwLock> l(mu_);
    DOPPEL_ASSIGN_OR_RETURN(Bitmap m, Match(filter));
    for (size_t s = 0; s < m.size(); ++s)
      if (m.Test(s)) ids.push_back(slot_ids_[s]);
  }
  return DeleteIds(ids);
}

Result<int64_t> LocalCollection::DeleteIds(const std::vector<int64_t>& ids) {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  std::vector<uint32_t> slots;
  std::unordered_set<int64_t> seen;
  for (int64_t id : ids) {
    auto it = id_slot_.find(id);
    if (it != id_slot_.end() && alive_.Test(it->second) && seen.insert(id).second) slots.push_back(it->second);
  }
  if (slots.empty()) return int64_t{0};
  sqlite::Transaction tx(db_.get());
  DOPPEL_RETURN_IF_ERROR(tx.Begin());
  DOPPEL_ASSIGN_OR_RETURN(auto st, db_->Prepare("DELETE FROM entities WHERE id = ?1"));
  for (uint32_t s : slots) {
    st.BindInt(1, slot_ids_[s]);
    DOPPEL_RETURN_IF_ERROR(st.Run());
  }
  DOPPEL_RETURN_IF_ERROR(tx.Commit());  // durable before readers see it, fsync outside the lock
  {
    std::unique_lock<RwLock> l(mu_);
    // Tombstones: the slot stays in the index (excluded from every search by alive_) until Compact().
    for (uint32_t s : slots) alive_.Set(s, false);
    live_count_ -= static_cast<int64_t>(slots.size());
  }
  changes_since_snapshot_ += static_cast<int64_t>(slots.size());
  Status s = MaybeSnapshot();
  if (!s.ok()) Warn(Where() + ": index snapshot failed (will retry): " + s.ToString());
  return static_cast<int64_t>(slots.size());
}

Status LocalCollection::SetMetadata(const std::string& key, const std::string& value) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> w(writer_mu_);
  DOPPEL_ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT OR REPLACE INTO user_meta(key, value) VALUES(?1, ?2)"));
  st.BindText(1, key);
  st.BindBlob(2, value.data(), value.size());
  return st.Run();
}

Result<std::string> LocalCollection::GetMetadata(const std::string& key) {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> r(read_mu_);
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  DOPPEL_ASSIGN_OR_RETURN(auto st, read_db_->Prepare("SELECT value FROM user_meta WHERE key = ?1"));
  st.BindText(1, key);
  DOPPEL_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound(Where() + ": no metadata '" + key + "'");
  return std::string(static_cast<const char*>(st.ColumnBlob(0)), st.ColumnBytes(0));
}

// ---------------------------------------------------------------- reads

Result<Bitmap> LocalCollection::Match(const std::string& filter) const {
  bool blank = std::all_of(filter.begin(), filter.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  if (blank) return alive_;
  DOPPEL_ASSIGN_OR_RETURN(auto tree, ParseFilter(filter, schema_));
  Bitmap m = EvalFilter(*tree, schema_, columns_, slot_ids_, slot_ids_.size());
  m.And(alive_);
  return m;
}

Status LocalCollection::ReadVector(int64_t id, Entity* e) const {
  std::lock_guard<std::mutex> r(read_mu_);
  DOPPEL_ASSIGN_OR_RETURN(auto st, read_db_->Prepare("SELECT vector FROM entities WHERE id = ?1"));
  st.BindInt(1, id);
  DOPPEL_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::Internal(Where() + ": id " + std::to_string(id) + " is in memory but not in the database");
  if (st.ColumnBytes(0) != code_bytes_)
    return Status::Corruption("database " + read_db_->path() + ": vector of id " + std::to_string(id) +
                              " has the wrong size");
  const uint8_t* p = static_cast<const uint8_t*>(st.ColumnBlob(0));
  if (schema_.vector_type == VectorType::kFloat32) {
    e->vector.resize(schema_.dim);
    std::memcpy(e->vector.data(), p, code_bytes_);
  } else {
    e->binary_vector.assign(p, p + code_bytes_);
  }
  return Status::OK();
}

Status LocalCollection::FillEntity(uint32_t slot, const std::vector<std::string>& names, bool all_fields,
                                   bool want_vector, Entity* e) const {
  e->id = slot_ids_[slot];
  if (all_fields) {
    for (size_t f = 0; f < schema_.fields.size(); ++f) e->fields[schema_.fields[f].name] = columns_[f].Get(slot);
  } else {
    for (const auto& n : names) {
      if (n == kVectorFieldName || n == kIdFieldName) continue;
      for (size_t f = 0; f < schema_.fields.size(); ++f)
        if (schema_.fields[f].name == n) e->fields[n] = columns_[f].Get(slot);
    }
  }
  if (want_vector) DOPPEL_RETURN_IF_ERROR(ReadVector(e->id, e));
  return Status::OK();
}

Result<std::vector<Entity>> LocalCollection::Get(const std::vector<int64_t>& ids,
                                                 const std::vector<std::string>& output_fields) {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  bool want_vector;
  DOPPEL_RETURN_IF_ERROR(CheckOutputFields(output_fields, &want_vector));
  std::shared_lock<RwLock> l(mu_);
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  std::vector<Entity> out;
  for (int64_t id : ids) {
    auto it = id_slot_.find(id);
    if (it == id_slot_.end() || !alive_.Test(it->second)) continue;
    Entity e;
    DOPPEL_RETURN_IF_ERROR(FillEntity(it->second, output_fields, output_fields.empty(), want_vector, &e));
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<Entity>> LocalCollection::Query(const QueryRequest& req) {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  bool want_vector;
  DOPPEL_RETURN_IF_ERROR(CheckOutputFields(req.output_fields, &want_vector));
  if (req.offset < 0) return Status::InvalidArgument(Where() + ": negative offset " + std::to_string(req.offset));
  std::shared_lock<RwLock> l(mu_);
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  DOPPEL_ASSIGN_OR_RETURN(Bitmap m, Match(req.filter));
  std::vector<std::pair<int64_t, uint32_t>> hits;
  for (size_t s = 0; s < m.size(); ++s)
    if (m.Test(s)) hits.emplace_back(slot_ids_[s], static_cast<uint32_t>(s));
  std::sort(hits.begin(), hits.end());
  size_t begin = std::min(hits.size(), static_cast<size_t>(req.offset));
  size_t end = req.limit < 0 ? hits.size() : std::min(hits.size(), begin + static_cast<size_t>(req.limit));
  std::vector<Entity> out;
  out.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    Entity e;
    DOPPEL_RETURN_IF_ERROR(FillEntity(hits[i].second, req.output_fields, req.output_fields.empty(), want_vector, &e));
    out.push_back(std::move(e));
  }
  return out;
}

Result<int64_t> LocalCollection::Count(const std::string& filter) {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  std::shared_lock<RwLock> l(mu_);
  if (filter.empty()) return live_count_;
  DOPPEL_ASSIGN_OR_RETURN(Bitmap m, Match(filter));
  return static_cast<int64_t>(m.Count());
}

Status LocalCollection::ValidateQueries(const SearchRequest& r, std::vector<uint8_t>* codes, size_t* nq) const {
  if (r.k <= 0 || r.k > 16384)
    return Status::InvalidArgument(Where() + ": k = " + std::to_string(r.k) + " is out of range 1..16384");
  if (r.ef < 0 || r.nprobe < 0) return Status::InvalidArgument(Where() + ": negative ef or nprobe");
  if (schema_.vector_type == VectorType::kBinary) {
    if (r.binary_queries.empty() || r.binary_queries.size() % code_bytes_ != 0)
      return Status::InvalidArgument(Where() + ": binary queries have " + std::to_string(r.binary_queries.size()) +
                                     " bytes, not a positive multiple of " + std::to_string(code_bytes_));
    *nq = r.binary_queries.size() / code_bytes_;
    *codes = r.binary_queries;
    return Status::OK();
  }
  size_t dim = static_cast<size_t>(schema_.dim);
  if (r.queries.empty() || r.queries.size() % dim != 0)
    return Status::InvalidArgument(Where() + ": queries have " + std::to_string(r.queries.size()) +
                                   " floats, not a positive multiple of dimension " + std::to_string(dim));
  *nq = r.queries.size() / dim;
  codes->resize(r.queries.size() * sizeof(float));
  float* out = reinterpret_cast<float*>(codes->data());
  for (size_t q = 0; q < *nq; ++q) {
    double norm = 0;
    for (size_t j = 0; j < dim; ++j) {
      float v = r.queries[q * dim + j];
      if (!std::isfinite(v))
        return Status::InvalidArgument(Where() + ": query " + std::to_string(q) + " component " + std::to_string(j) +
                                       " is " + (std::isnan(v) ? "NaN" : "infinite"));
      norm += static_cast<double>(v) * v;
    }
    float scale = 1;
    if (schema_.metric == Metric::kCosine) {
      if (norm == 0) return Status::InvalidArgument(Where() + ": query " + std::to_string(q) + " is a zero vector");
      scale = static_cast<float>(1.0 / std::sqrt(norm));
    }
    for (size_t j = 0; j < dim; ++j) out[q * dim + j] = r.queries[q * dim + j] * scale;
  }
  return Status::OK();
}

Result<SearchResults> LocalCollection::Search(const SearchRequest& r) {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  std::vector<uint8_t> codes;
  size_t nq = 0;
  DOPPEL_RETURN_IF_ERROR(ValidateQueries(r, &codes, &nq));
  bool want_vector;
  DOPPEL_RETURN_IF_ERROR(CheckOutputFields(r.output_fields, &want_vector));
  if (want_vector)
    return Status::InvalidArgument(Where() + ": search does not return vectors; use Get on the hit ids");
  std::shared_lock<RwLock> l(mu_);
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  // Unfiltered: the live bitmap itself (stable under the shared lock), not a copy.
  bool blank = std::all_of(r.filter.begin(), r.filter.end(),
                           [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  Bitmap filtered;
  if (!blank) {
    DOPPEL_ASSIGN_OR_RETURN(filtered, Match(r.filter));
  }
  IndexSearchParams p;
  p.k = r.k;
  p.ef = r.ef;
  p.nprobe = r.nprobe;
  p.allow = blank ? &alive_ : &filtered;
  p.allow_count = blank ? static_cast<size_t>(live_count_) : filtered.Count();
  std::vector<SlotHits> hits;
  if (delta_) {
    DOPPEL_RETURN_IF_ERROR(SearchWithDelta(codes.data(), nq, p, blank, blank ? nullptr : &filtered, &hits));
  } else {
    DOPPEL_RETURN_IF_ERROR(index_->Search(codes.data(), nq, p, &hits));
  }
  SearchResults out(nq);
  for (size_t q = 0; q < nq; ++q) {
    out[q].reserve(hits[q].size());
    for (const auto& [dist, slot] : hits[q]) {
      SearchHit h;
      h.id = slot_ids_[slot];
      h.distance = dist;
      for (const auto& n : r.output_fields) {
        if (n == kIdFieldName) continue;
        for (size_t f = 0; f < schema_.fields.size(); ++f)
          if (schema_.fields[f].name == n) h.fields[n] = columns_[f].Get(slot);
      }
      out[q].push_back(std::move(h));
    }
  }
  return out;
}

Status LocalCollection::SearchWithDelta(const uint8_t* codes, size_t nq, const IndexSearchParams& p, bool blank,
                                        const Bitmap* filtered, std::vector<SlotHits>* hits) const {
  Bitmap main_allow, delta_allow;
  IndexSearchParams pm = p, pd = p;
  if (blank) {
    pm.allow = &main_alive_;
    pm.allow_count = main_alive_count_;
    pd.allow = &delta_alive_;
    pd.allow_count = delta_alive_count_;
  } else {
    main_allow = *filtered;
    main_allow.And(main_alive_);
    delta_allow = *filtered;
    delta_allow.And(delta_alive_);
    pm.allow = &main_allow;
    pm.allow_count = main_allow.Count();
    pd.allow = &delta_allow;
    pd.allow_count = delta_allow.Count();
  }
  std::vector<SlotHits> from_main, from_delta;
  if (pm.allow_count > 0) DOPPEL_RETURN_IF_ERROR(index_->Search(codes, nq, pm, &from_main));
  if (pd.allow_count > 0) DOPPEL_RETURN_IF_ERROR(delta_->Search(codes, nq, pd, &from_delta));
  from_main.resize(nq);
  from_delta.resize(nq);
  const bool smaller_first = schema_.metric == Metric::kL2 || schema_.metric == Metric::kHamming;
  hits->assign(nq, {});
  for (size_t q = 0; q < nq; ++q) {
    SlotHits& out = (*hits)[q];
    out = std::move(from_main[q]);
    out.insert(out.end(), from_delta[q].begin(), from_delta[q].end());
    std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
      return smaller_first ? a.first < b.first : a.first > b.first;
    });
    if (out.size() > static_cast<size_t>(p.k)) out.resize(static_cast<size_t>(p.k));
  }
  return Status::OK();
}

Result<CollectionInfo> LocalCollection::Describe() {
  DOPPEL_RETURN_IF_ERROR(CheckOpen());
  std::shared_lock<RwLock> l(mu_);
  CollectionInfo info;
  info.schema = schema_;
  info.count = live_count_;
  info.deleted_slots = static_cast<int64_t>(slot_ids_.size()) - live_count_;
  info.index_watermark = snapshot_watermark_;
  size_t b = index_->MemoryBytes() + slot_ids_.capacity() * 8 + id_slot_.size() * 32 + alive_.bytes();
  for (const auto& c : columns_) b += c.MemoryBytes();
  info.memory_bytes = b;
  return info;
}

}  // namespace doppel
