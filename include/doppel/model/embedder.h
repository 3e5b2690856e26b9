// Embedder: files (or in-memory images) -> vectors for one or several models. Each image is decoded once per
// distinct decode setting, preprocessed per model, batched, and run through the models it asks for. By default each
// worker (one per core) takes a source, decodes it and runs inference on it itself; the workers share each model's
// session.
//
//   Push --(bounded queue of sources)--> workers: decode + preprocess + inference --> sink
//   (decode_threads > 0: dedicated decoders --(bounded queue of tensors)--> inference workers --> sink)
//
// Two ways in: Start() opens a streaming session (one long-lived set of workers; the caller pushes sources as it
// finds them: see EmbedSession below), and Embed() runs one list of sources through a session of its own.
// Thread-safe: one Embedder may serve many sessions and calls at once (each has its own workers).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "doppel/image/decode.h"
#include "doppel/image/picture_hash.h"
#include "doppel/model/onnx_model.h"
#include "doppel/util/status.h"

namespace doppel {

struct EmbedOptions {
  // Images per inference call. On CPU 1 is as fast as any for large models and fastest for small ones (the
  // activations of one image stay in the caches; BENCHMARKS.md, bench_index); larger batches are for callers
  // that measured otherwise.
  int batch_size = 1;
  // 0 (default): run to completion: each of the infer_threads workers decodes + preprocesses its own sources and
  // runs inference on them on the same core (no hand-over between stages, the tensor still in that core's cache).
  // N > 0: N dedicated decode workers feed the inference workers through a queue of tensors.
  int decode_threads = 0;
  // Inference workers; 0 = the number of cores. This is also the session's CPU budget: at most this many of its
  // workers (decoders and inference together) compute at once, so the cores are never oversubscribed.
  int infer_threads = 0;
  int64_t max_file_bytes = DecodeOptions{}.max_file_bytes;
  int64_t max_pixels = DecodeOptions{}.max_pixels;
};

// One input image: a file, or bytes already in memory (then `path` is only its name in messages).
struct ImageSource {
  std::string path;
  std::string bytes;         // empty: read `path`
  std::vector<bool> models;  // which of the Embedder's models to run (by position); empty = all of them
  // Also make the picture's near-copy record (picture_hash.h), from the decode of a model whose decode settings are
  // the record's rule (no second decode), else from a decode of its own on the same worker.
  bool picture_hash = false;
};

struct EmbedResult {
  size_t index = 0;     // position in the input list (a session: the number of Push calls before this source's)
  std::string path;
  Status status;        // not OK: the image could not be decoded or embedded; `vectors` is empty
  std::string format;   // decoded image: format, size after EXIF orientation
  int width = 0;
  int height = 0;
  // One per model, in the Embedder's model order; a model the source did not ask for has an empty vector.
  std::vector<std::vector<float>> vectors;
  // The near-copy record, when the source asked for it and its decode succeeded (a failure to make it alone leaves
  // it empty and `status` OK: the vectors are good).
  std::optional<PictureHashes> picture_hash;
  bool picture_hash_shared = false;  // it came from a model's decode (no decode of its own)
};

// Called once per input, from worker threads, never concurrently with itself. It may block (back-pressure: the
// workers wait), but must not wait for the session itself (Close, Wait) or for more sources to be pushed.
using EmbedSink = std::function<void(EmbedResult&&)>;

// What a session measured so far (thread CPU time), for progress reports and benchmarks.
struct EmbedStats {
  int64_t decoded = 0;            // sources decoded + preprocessed (failures included)
  int64_t inferred = 0;           // images through inference
  int64_t model_decodes = 0;      // decodes made for the models (fewer than sources x settings when one serves several)
  int64_t hashed = 0;             // near-copy records made
  int64_t hash_decodes = 0;       // of which needed a decode of their own (no model decodes by the rule)
  double decode_cpu_seconds = 0;  // decode + preprocess
  double infer_cpu_seconds = 0;   // inference, all models
  int decoders = 0;               // workers that decode (all of them when they run to completion)
};

// A streaming embedding session (Embedder::Start). Its workers start with it and end once it is closed and
// drained (or stopped). Thread-safe: Push from one thread (indexes are given in Push order), the other methods from
// any. The destructor stops and waits.
class EmbedSession {
 public:
  ~EmbedSession();
  EmbedSession(const EmbedSession&) = delete;
  EmbedSession& operator=(const EmbedSession&) = delete;

  // Queues a source; blocks while the queue of sources is full (bounded memory). Returns its index (the number of
  // earlier Push calls: a caller that pushes from one thread knows it before the call), or nullopt once the session
  // is closed or stopped (the source is dropped, no result).
  std::optional<size_t> Push(ImageSource source);
  // No more sources: the queued ones are finished, then the workers end.
  void Close();
  // No further source is started (queued ones are dropped without a result); those under way reach the sink.
  void Stop();
  // Blocks until every worker has ended, i.e. the sink has had its last call. Call Close or Stop first.
  void Wait();
  EmbedStats Stats() const;

  struct State;  // embed_session.cc

 private:
  friend class Embedder;
  explicit EmbedSession(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

class Embedder {
 public:
  Embedder(std::vector<std::shared_ptr<const OnnxModel>> models, EmbedOptions options = {});

  const std::vector<std::shared_ptr<const OnnxModel>>& models() const { return models_; }
  const EmbedOptions& options() const { return options_; }

  // Opens a streaming session delivering results to `sink`. When `stop` (may be null; must outlive the session)
  // becomes true, the session behaves as if Stop() was called. The Embedder must outlive the session.
  std::unique_ptr<EmbedSession> Start(EmbedSink sink, const std::atomic<bool>* stop = nullptr) const;

  // Embeds every source; returns when the sink has had every result. A bad image is reported through its
  // result, never stops the others. When `stop` becomes true, no further source is started: the sink gets the
  // results of those already under way, and the rest are skipped (no result).
  void Embed(const std::vector<ImageSource>& sources, const EmbedSink& sink,
             const std::atomic<bool>* stop = nullptr) const;
  void EmbedFiles(const std::vector<std::string>& paths, const EmbedSink& sink) const;

  // One decoded image through every model, on the calling thread.
  Result<std::vector<std::vector<float>>> EmbedImage(const ImageU8& rgb) const;

 private:
  std::vector<std::shared_ptr<const OnnxModel>> models_;
  EmbedOptions options_;
};

}  // namespace doppel
