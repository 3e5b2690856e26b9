// Engine: opening the data directory, the model registry, status and removal.
#include "doppel/engine/engine.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "doppel/model/graph_edit.h"
#include "doppel/util/file.h"
#include "engine_impl.h"
#include "index_job.h"

namespace doppel {
namespace fs = std::filesystem;
using nlohmann::json;

int64_t ContentId(const std::string& hex) {
  uint64_t v = std::stoull(hex.substr(0, 16), nullptr, 16);
  v &= 0x7fffffffffffffffULL;
  return v == 0 ? 1 : static_cast<int64_t>(v);
}

namespace {

std::string NowIso() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

json EntryToJson(const ModelEntry& e) {
  return json{{"name", e.name},     {"file", e.file},   {"source", e.source},
              {"spec", json::parse(SpecToCanonicalJson(e.spec))},
              {"fingerprint", e.fingerprint},         {"dim", e.dim},
              {"metric", e.metric}, {"index", e.index}, {"added", e.added},
              {"similar_threshold", e.similar_threshold}};
}

Result<ModelEntry> EntryFromJson(const json& j, const std::string& where) {
  try {
    ModelEntry e;
    e.name = j.at("name").get<std::string>();
    e.file = j.at("file").get<std::string>();
    e.source = j.value("source", "");
    DOPPEL_ASSIGN_OR_RETURN(e.spec, SpecFromJson(j.at("spec").dump()));
    e.fingerprint = j.at("fingerprint").get<std::string>();
    e.dim = j.at("dim").get<int>();
    e.metric = j.at("metric").get<std::string>();
    e.index = j.at("index").get<std::string>();
    e.added = j.value("added", "");
    e.similar_threshold = j.value("similar_threshold", 0.0f);
    return e;
  } catch (const std::exception& ex) {
    return Status::Corruption(where + ": bad model entry: " + ex.what());
  }
}

}  // namespace

Status Engine::Impl::SaveRegistry(const std::string& data_dir) const {
  json j{{"version", 1}, {"default_model", default_model}, {"models", json::array()}};
  for (const auto& [name, e] : models) j["models"].push_back(EntryToJson(e));
  return WriteFileAtomic((fs::path(data_dir) / "models.json").string(), j.dump(2) + "\n");
}

Engine::Impl::~Impl() {
  if (lock_fd >= 0) ::close(lock_fd);
}

std::vector<std::string> Engine::Impl::ModelNames() const {
  std::shared_lock<std::shared_mutex> lock(models_mu);
  std::vector<std::string> names;
  for (const auto& [n, e] : models) names.push_back(n);
  return names;
}

Engine::Engine(EngineOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

namespace {

// Takes the data directory's writer lock (flock on DIR/LOCK, pid and command line written inside), or says who
// holds it.
Result<int> LockDataDir(const std::string& dir) {
  std::string lock = (fs::path(dir) / "LOCK").string();
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(lock + ": cannot open: " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    std::string owner;
    if (auto text = ReadFileBytes(lock, 8192); text.ok()) owner = *text;
    while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
    return Status::FailedPrecondition(
        "data directory " + dir + " is open for writing by another process" +
        (owner.empty() ? "" : " (" + owner + ")") +
        "; wait for it to finish (searches and status work meanwhile)");
  }
  std::string cmd;
  if (auto bytes = ReadFileBytes("/proc/self/cmdline", 4096); bytes.ok()) {
    for (char c : *bytes) cmd += c == '\0' ? ' ' : c;
    while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
  }
  std::string owner = "pid " + std::to_string(::getpid()) + (cmd.empty() ? "" : ": " + cmd) + ", since " + NowIso() +
                      "\n";
  // Best effort: only another writer's message depends on it; the lock itself is held.
  bool noted = ::ftruncate(fd, 0) == 0 && ::pwrite(fd, owner.data(), owner.size(), 0) == ssize_t(owner.size());
  (void)noted;
  return fd;
}

}  // namespace

Engine::~Engine() {
  std::shared_ptr<IndexJobImpl> job;
  {
    std::lock_guard<std::mutex> l(impl_->job_mu);
    job = impl_->job;
  }
  if (job) CancelAndWait(*job);
}

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine(options));
  std::error_code ec;
  if (options.read_only) {
    if (!fs::is_directory(options.data_dir, ec))
      return Status::NotFound("no data directory at " + options.data_dir + " (index some pictures first)");
  } else {
    fs::create_directories(fs::path(options.data_dir) / "models", ec);
    if (ec) return Status::IOError(options.data_dir + ": cannot create the data directory: " + ec.message());
  }
  e->options_.data_dir = fs::absolute(options.data_dir).lexically_normal().string();
  const std::string& dir = e->options_.data_dir;
  if (!options.read_only) {
    DOPPEL_ASSIGN_OR_RETURN(e->impl_->lock_fd, LockDataDir(dir));
  }

  std::string reg = (fs::path(dir) / "models.json").string();
  if (fs::exists(reg, ec)) {
    DOPPEL_ASSIGN_OR_RETURN(std::string text, ReadFileBytes(reg, int64_t(64) << 20));
    json j;
    try {
      j = json::parse(text);
    } catch (const std::exception& ex) {
      return Status::Corruption(reg + ": not valid JSON: " + ex.what());
    }
    if (!j.contains("models") || !j["models"].is_array()) return Status::Corruption(reg + ": no 'models' list");
    for (const auto& m : j["models"]) {
      DOPPEL_ASSIGN_OR_RETURN(ModelEntry entry, EntryFromJson(m, reg));
      e->impl_->models.emplace(entry.name, std::move(entry));
    }
    if (j.contains("default_model") && j["default_model"].is_string())
      e->impl_->default_model = j["default_model"].get<std::string>();
    // Registries written before the default was stored: the built-in default if present, else the first model.
    if (!e->impl_->models.count(e->impl_->default_model)) e->impl_->default_model = e->impl_->FallbackDefault();
  }
  if (options.store) {
    e->impl_->store = options.store;
  } else {
    LocalStoreOptions so;
    so.read_only = options.read_only;
    auto s = OpenLocalStore((fs::path(dir) / "store").string(), so);
    if (!s.ok() && options.read_only && s.status().code() == Status::Code::kNotFound && e->impl_->models.empty())
      return Status::NotFound("nothing indexed yet in " + dir);
    if (!s.ok()) return s.status();
    e->impl_->store = std::move(s).value();
  }
  // Learned whitenings are kept here (search.cc). A read-only process writes them too, best effort: a derived file
  // replaced atomically, never committed data (a CLI search is one; without it every such search learns again).
  e->impl_->whiten_dir = (fs::path(dir) / "whitening").string();
  std::string catalog = (fs::path(dir) / "catalog.db").string();
  if (options.read_only && !fs::exists(catalog, ec)) return Status::NotFound("nothing indexed yet in " + dir);
  DOPPEL_ASSIGN_OR_RETURN(e->impl_->catalog, FileCatalog::Open(catalog, options.read_only));
  return e;
}

Status Engine::CheckWritable() const {
  if (options_.read_only)
    return Status::FailedPrecondition("data directory " + options_.data_dir + " is open read-only");
  return Status::OK();
}

std::string Engine::Impl::FallbackDefault() const {
  if (models.empty()) return "";
  if (models.count(kBuiltinDefaultModel)) return kBuiltinDefaultModel;
  return models.begin()->first;
}

std::string Engine::DefaultModel() const {
  std::shared_lock<std::shared_mutex> lock(impl_->models_mu);
  return impl_->default_model;
}

Status Engine::SetDefaultModel(const std::string& name) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> wlock(impl_->write_mu);
  std::unique_lock<std::shared_mutex> lock(impl_->models_mu);
  if (!impl_->models.count(name)) return Status::NotFound("no model named '" + name + "'");
  std::string before = impl_->default_model;
  impl_->default_model = name;
  Status s = impl_->SaveRegistry(options_.data_dir);
  if (!s.ok()) impl_->default_model = before;
  return s;
}

Result<float> Engine::SimilarThreshold(const std::string& model, bool* calibrated) const {
  DOPPEL_ASSIGN_OR_RETURN(std::string name, ResolveModelName(model));
  DOPPEL_ASSIGN_OR_RETURN(ModelEntry e, GetModel(name));
  if (calibrated) *calibrated = e.similar_threshold > 0;
  return e.similar_threshold > 0 ? e.similar_threshold : kSimilarThreshold;
}

Status Engine::SetSimilarThreshold(const std::string& model, float threshold) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  if (!(threshold >= 0 && threshold <= 4))
    return Status::InvalidArgument("a similar threshold is a distance in 0..4 (squared L2 of unit vectors)");
  std::lock_guard<std::mutex> wlock(impl_->write_mu);
  std::unique_lock<std::shared_mutex> lock(impl_->models_mu);
  auto it = impl_->models.find(model);
  if (it == impl_->models.end()) return Status::NotFound("no model named '" + model + "'");
  const float before = it->second.similar_threshold;
  it->second.similar_threshold = threshold;
  Status s = impl_->SaveRegistry(options_.data_dir);
  if (!s.ok()) it->second.similar_threshold = before;
  return s;
}

Result<std::string> Engine::ResolveModelName(const std::string& name) const {
  if (!name.empty()) {
    DOPPEL_ASSIGN_OR_RETURN(ModelEntry e, GetModel(name));
    return e.name;
  }
  std::string d = DefaultModel();
  if (d.empty())
    return Status::FailedPrecondition("no models registered in " + options_.data_dir +
                                      ": index some pictures (the built-in default model is added then) or add one "
                                      "with `doppel model add-builtin` / `doppel model add`");
  return d;
}

Result<ModelEntry> Engine::AddModel(const std::string& name, const std::string& onnx_path, const ModelSpec& spec,
                                    const AddModelOptions& opts) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  static const std::regex kName("[A-Za-z_][A-Za-z0-9_]{0,63}");
  if (!std::regex_match(name, kName))
    return Status::InvalidArgument("model name '" + name + "': use letters, digits and _ (not first), up to 64");
  std::lock_guard<std::mutex> wlock(impl_->write_mu);
  {
    std::shared_lock<std::shared_mutex> lock(impl_->models_mu);
    if (impl_->models.count(name)) return Status::AlreadyExists("model '" + name + "' is already registered");
  }
  // A collection of that name may exist already: in a store shared by several hosts (Milvus), another host
  // registered the same model. It is adopted when its recorded fingerprint is this model's (checked below).
  DOPPEL_ASSIGN_OR_RETURN(bool has, impl_->store->HasCollection(name));
  DOPPEL_ASSIGN_OR_RETURN(Metric metric, ParseMetric(opts.metric));
  if (metric == Metric::kHamming) return Status::InvalidArgument("metric HAMMING needs binary vectors");
  DOPPEL_ASSIGN_OR_RETURN(IndexSpec index, IndexSpec::Parse(opts.index));

  // It must load and run as given; then the copy in the data directory is what is used from now on.
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<OnnxModel> probe, OnnxModel::Load(onnx_path, spec, options_.session));
  std::string file = (fs::path(options_.data_dir) / "models" / (name + ".onnx")).string();
  std::error_code ec;
  fs::copy_file(onnx_path, file, fs::copy_options::overwrite_existing, ec);
  if (ec) return Status::IOError(file + ": cannot copy the model: " + ec.message());
  DOPPEL_RETURN_IF_ERROR(WriteSidecar(file, probe->spec()));
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<OnnxModel> model, OnnxModel::Load(file, probe->spec(), options_.session));

  CollectionSchema schema;
  schema.name = name;
  schema.dim = model->dim();
  schema.metric = metric;
  schema.index = index;
  schema.description = "doppel image embeddings of model " + name + " (" + fs::path(onnx_path).filename().string() +
                       ")";
  for (const char* f : kImageFields) {
    FieldSchema fs_;
    fs_.name = f;
    std::string n = f;
    fs_.type = (n == "path" || n == "hash" || n == "format") ? FieldType::kString : FieldType::kInt64;
    schema.fields.push_back(fs_);
  }
  CollectionSchema actual = schema;
  if (has) {
    DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> existing, impl_->store->GetCollection(name));
    actual = existing->schema();
    auto stored = existing->GetMetadata(kFingerprintKey);
    if (!stored.ok() || *stored != model->fingerprint())
      return Status::AlreadyExists("a collection named '" + name + "' already exists in the store" +
                                   (stored.ok() ? " with the vectors of another model (fingerprint " + *stored +
                                                      ", this model's is " + model->fingerprint() + ")"
                                                : ""));
    if (existing->schema().dim != model->dim())
      return Status::FailedPrecondition("collection '" + name + "' holds " + std::to_string(existing->schema().dim) +
                                        "-d vectors, the model makes " + std::to_string(model->dim()));
  } else {
    DOPPEL_RETURN_IF_ERROR(impl_->store->CreateCollection(schema));
    DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> coll, impl_->store->GetCollection(name));
    DOPPEL_RETURN_IF_ERROR(coll->SetMetadata(kFingerprintKey, model->fingerprint()));
  }

  ModelEntry e;
  e.name = name;
  e.file = file;
  e.source = fs::absolute(onnx_path).lexically_normal().string();
  e.spec = model->spec();
  e.fingerprint = model->fingerprint();
  e.dim = model->dim();
  e.metric = MetricName(actual.metric);
  e.index = actual.index.ToString();
  e.added = NowIso();
  e.similar_threshold = opts.similar_threshold;
  std::unique_lock<std::shared_mutex> lock(impl_->models_mu);
  impl_->models[name] = e;
  impl_->loaded[name] = model;
  impl_->generation[name] = impl_->next_generation++;
  if (impl_->default_model.empty()) impl_->default_model = name;
  DOPPEL_RETURN_IF_ERROR(impl_->SaveRegistry(options_.data_dir));
  return e;
}

Status Engine::RemoveModel(const std::string& name) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  std::lock_guard<std::mutex> wlock(impl_->write_mu);
  ModelEntry e;
  {
    std::unique_lock<std::shared_mutex> lock(impl_->models_mu);
    auto it = impl_->models.find(name);
    if (it == impl_->models.end()) return Status::NotFound("no model named '" + name + "'");
    e = it->second;
    impl_->models.erase(it);
    impl_->loaded.erase(name);
    if (impl_->default_model == name) impl_->default_model = impl_->FallbackDefault();
    DOPPEL_RETURN_IF_ERROR(impl_->SaveRegistry(options_.data_dir));
  }
  // A store given from outside (Milvus) may be shared by other hosts that still use the collection: unregistering
  // the model here leaves it. The embedded store is this data directory's own: its collection goes.
  if (!options_.store) {
    DOPPEL_ASSIGN_OR_RETURN(bool has, impl_->store->HasCollection(name));
    if (has) DOPPEL_RETURN_IF_ERROR(impl_->store->DropCollection(name));
  }
  ++impl_->removals;
  DOPPEL_RETURN_IF_ERROR(impl_->catalog->RemoveModel(e.fingerprint));
  std::error_code ec;
  fs::remove(e.file, ec);
  fs::remove(SidecarPath(e.file), ec);
  fs::remove(impl_->WhiteningPath(name), ec);  // learned from vectors that are gone
  return Status::OK();
}

std::vector<ModelEntry> Engine::ListModels() const {
  std::shared_lock<std::shared_mutex> lock(impl_->models_mu);
  std::vector<ModelEntry> out;
  for (const auto& [n, e] : impl_->models) out.push_back(e);
  return out;
}

Result<ModelEntry> Engine::GetModel(const std::string& name) const {
  std::shared_lock<std::shared_mutex> lock(impl_->models_mu);
  if (name.empty() && impl_->default_model.empty())
    return Status::FailedPrecondition("no models registered in " + options_.data_dir);
  auto it = impl_->models.find(name.empty() ? impl_->default_model : name);
  if (it == impl_->models.end()) {
    std::string names;
    for (const auto& [n, e] : impl_->models) names += (names.empty() ? "" : ", ") + n;
    return Status::NotFound("no model named '" + name + "' (registered: " + (names.empty() ? "none" : names) + ")");
  }
  return it->second;
}

Result<std::shared_ptr<const OnnxModel>> Engine::LoadModel(const std::string& name_or_default) {
  DOPPEL_ASSIGN_OR_RETURN(std::string name, ResolveModelName(name_or_default));
  {
    std::shared_lock<std::shared_mutex> lock(impl_->models_mu);
    auto it = impl_->loaded.find(name);
    if (it != impl_->loaded.end()) return it->second;
  }
  DOPPEL_ASSIGN_OR_RETURN(ModelEntry e, GetModel(name));
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<OnnxModel> m, OnnxModel::Load(e.file, e.spec, options_.session));
  DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> coll, impl_->store->GetCollection(name));
  auto stored = coll->GetMetadata(kFingerprintKey);
  std::string want = stored.ok() ? *stored : e.fingerprint;
  if (m->fingerprint() != want || e.fingerprint != want)
    return Status::FailedPrecondition(
        "model '" + name + "': " + e.file + " with its spec now has fingerprint " + m->fingerprint() +
        ", but collection '" + name + "' holds vectors of fingerprint " + want +
        "; vectors of different models are never mixed (restore the model, or register it under a new name)");
  std::unique_lock<std::shared_mutex> lock(impl_->models_mu);
  auto [it, fresh] = impl_->loaded.emplace(name, m);
  return it->second;
}

Status Engine::Impl::RemovePicture(int64_t id) {
  std::vector<std::string> names = ModelNames();
  DOPPEL_ASSIGN_OR_RETURN(bool hashed, store->HasCollection(kHashCollection));
  if (hashed) names.push_back(kHashCollection);
  for (const auto& n : names) {
    DOPPEL_ASSIGN_OR_RETURN(std::shared_ptr<Collection> c, store->GetCollection(n));
    DOPPEL_RETURN_IF_ERROR(c->Delete({id}).status());
  }
  return catalog->RemoveId(id);
}

Result<int64_t> Engine::RemovePaths(const std::vector<std::string>& paths) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  int64_t removed = 0;
  for (const auto& p : paths) {
    std::lock_guard<std::mutex> wlock(impl_->write_mu);  // one path at a time: index batches interleave
    std::string abs = fs::absolute(p).lexically_normal().string();
    DOPPEL_ASSIGN_OR_RETURN(int64_t id, impl_->catalog->RemovePath(abs));
    if (id == 0) return Status::NotFound(abs + ": not an indexed path");
    DOPPEL_ASSIGN_OR_RETURN(std::vector<std::string> rest, impl_->catalog->PathsOf(id));
    ++impl_->removals;
    if (rest.empty()) {
      DOPPEL_RETURN_IF_ERROR(impl_->RemovePicture(id));
      ++removed;
    }
  }
  return removed;
}

Result<int64_t> Engine::RemoveIds(const std::vector<int64_t>& ids) {
  DOPPEL_RETURN_IF_ERROR(CheckWritable());
  for (int64_t id : ids) {
    std::lock_guard<std::mutex> wlock(impl_->write_mu);
    ++impl_->removals;
    DOPPEL_RETURN_IF_ERROR(impl_->RemovePicture(id));
  }
  return static_cast<int64_t>(ids.size());
}

Result<EngineStatus> Engine::GetStatus() {
  EngineStatus s;
  s.data_dir = options_.data_dir;
  s.read_only = options_.read_only;
  s.default_model = DefaultModel();
  for (const auto& e : ListModels()) {
    EngineStatus::ModelStatus ms;
    ms.model = e;
    auto c = impl_->store->GetCollection(e.name);
    if (c.ok()) {
      auto n = (*c)->Count();
      if (n.ok()) ms.count = *n;
    }
    s.models.push_back(ms);
  }
  DOPPEL_ASSIGN_OR_RETURN(s.files, impl_->catalog->CountFiles());
  std::error_code ec;
  for (fs::recursive_directory_iterator it(options_.data_dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) s.disk_bytes += static_cast<int64_t>(it->file_size(ec));
  return s;
}

}  // namespace doppel
