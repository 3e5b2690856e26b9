// The store backends the contract suite (contract_test.cc) runs against, through one factory:
//   "embedded"     the embedded store in a temporary folder;
//   "milvus-fake"  the Milvus backend against FakeMilvus, the in-process stand-in for a Milvus server's REST API v2
//                  (tests/milvus/fake_milvus.h: the documented protocol and quirks, brute-force search; not Milvus);
//   "milvus-live"  the Milvus backend against a real Milvus named by $DOPPEL_MILVUS_URI (skipped, and saying so,
//                  when it is not set). Its collections get a per-run prefix and are dropped afterwards.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "doppel/milvus/milvus_store.h"
#include "doppel/store/store.h"
#include "milvus/fake_milvus.h"
#include "support/test_util.h"

namespace doppel::testing {

class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // A store over this backend's data: the first call starts empty, later calls reopen the same data (a restart,
  // or another client of the same server).
  virtual Result<std::unique_ptr<VectorStore>> Open() = 0;
  virtual bool remote() const { return true; }
  // Collection names: live runs prefix them so that they never touch other data on the server.
  virtual std::string Name(const std::string& base) const { return base; }
  // Non-empty: why this backend cannot run here.
  virtual std::string skip_reason() const { return ""; }

  static std::unique_ptr<StoreBackend> Make(const std::string& kind);
};

class EmbeddedBackend : public StoreBackend {
 public:
  Result<std::unique_ptr<VectorStore>> Open() override { return OpenLocalStore(dir_.path().string()); }
  bool remote() const override { return false; }

 private:
  TempDir dir_;
};

class FakeMilvusBackend : public StoreBackend {
 public:
  explicit FakeMilvusBackend(FakeMilvusOptions o = {}) : fake_(std::make_unique<FakeMilvus>(o)) {}
  Result<std::unique_ptr<VectorStore>> Open() override { return OpenMilvusStore(Options()); }
  MilvusOptions Options() const {
    MilvusOptions o;
    o.endpoint = fake_->uri();
    o.timeout_ms = 5000;
    o.backoff_ms = 20;
    return o;
  }
  FakeMilvus& fake() { return *fake_; }

 private:
  std::unique_ptr<FakeMilvus> fake_;
};

class LiveMilvusBackend : public StoreBackend {
 public:
  LiveMilvusBackend() {
    const char* uri = std::getenv("DOPPEL_MILVUS_URI");
    if (!uri || !*uri) {
      skip_ = "DOPPEL_MILVUS_URI is not set: the live Milvus suite did not run (set it to milvus://HOST:19530)";
      return;
    }
    auto o = ParseMilvusUri(uri);
    if (!o.ok()) {
      skip_ = o.status().ToString();
      return;
    }
    options_ = *o;
    prefix_ = "doppel_test_" + std::to_string(getpid()) + "_";
  }
  ~LiveMilvusBackend() override {
    auto s = Open();
    if (!s.ok()) return;
    auto names = (*s)->ListCollections();
    if (names.ok())
      for (const auto& n : *names)
        if (n.rfind(prefix_, 0) == 0) (void)(*s)->DropCollection(n);
  }
  Result<std::unique_ptr<VectorStore>> Open() override { return OpenMilvusStore(options_); }
  std::string Name(const std::string& base) const override { return prefix_ + base; }
  std::string skip_reason() const override { return skip_; }

 private:
  MilvusOptions options_;
  std::string prefix_;
  std::string skip_;
};

inline std::unique_ptr<StoreBackend> StoreBackend::Make(const std::string& kind) {
  if (kind == "embedded") return std::make_unique<EmbeddedBackend>();
  if (kind == "milvus-fake") return std::make_unique<FakeMilvusBackend>();
  return std::make_unique<LiveMilvusBackend>();
}

}  // namespace doppel::testing
