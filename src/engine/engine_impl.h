// Internal: the state behind Engine, shared by engine.cc (models, status, removal), indexer.cc and search.cc.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "doppel/engine/engine.h"
#include "file_catalog.h"

namespace doppel {

// Scalar fields of every image collection, in schema order.
inline constexpr const char* kImageFields[] = {"path", "size", "mtime", "width", "height", "hash", "format"};
// Collection metadata key holding the model fingerprint.
inline constexpr char kFingerprintKey[] = "model_fingerprint";

struct Engine::Impl {
  std::shared_ptr<VectorStore> store;

  std::mutex catalog_mu;  // guards catalog
  std::unique_ptr<FileCatalog> catalog;

  mutable std::shared_mutex models_mu;  // guards models (the registry) and loaded
  std::map<std::string, ModelEntry> models;
  std::map<std::string, std::shared_ptr<const OnnxModel>> loaded;

  std::mutex write_mu;  // serialises indexing, removal and model changes

  Status SaveRegistry(const std::string& data_dir) const;  // caller holds models_mu (shared or unique)
  // Removes a picture from every collection and from the catalog. Caller holds write_mu.
  Status RemovePicture(int64_t id);
};

}  // namespace doppel
