// Embedder: files (or in-memory images) -> vectors for one or several models. Each image is decoded once per
// distinct decode setting, preprocessed per model, batched, and run through every model. Decoding runs on its
// own worker threads, overlapping inference; inference threads share each model's session.
//
//   decode workers --(bounded queue of preprocessed tensors)--> inference workers --> sink
//
// Thread-safe: one Embedder may serve many calls at once (each call has its own workers).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "doppel/image/decode.h"
#include "doppel/model/onnx_model.h"
#include "doppel/util/status.h"

namespace doppel {

struct EmbedOptions {
  int batch_size = 8;      // images per inference call (batch size barely matters on CPU; 8 bounds latency)
  int decode_threads = 1;  // decode + preprocess workers
  int infer_threads = 0;   // inference workers; 0 = the number of cores
  int64_t max_file_bytes = DecodeOptions{}.max_file_bytes;
  int64_t max_pixels = DecodeOptions{}.max_pixels;
};

// One input image: a file, or bytes already in memory (then `path` is only its name in messages).
struct ImageSource {
  std::string path;
  std::string bytes;  // empty: read `path`
};

struct EmbedResult {
  size_t index = 0;     // position in the input list
  std::string path;
  Status status;        // not OK: the image could not be decoded or embedded; `vectors` is empty
  std::string format;   // decoded image: format, size after EXIF orientation
  int width = 0;
  int height = 0;
  std::vector<std::vector<float>> vectors;  // one per model, in the Embedder's model order
};

// Called once per input, from worker threads, never concurrently with itself.
using EmbedSink = std::function<void(EmbedResult&&)>;

class Embedder {
 public:
  Embedder(std::vector<std::shared_ptr<const OnnxModel>> models, EmbedOptions options = {});

  const std::vector<std::shared_ptr<const OnnxModel>>& models() const { return models_; }
  const EmbedOptions& options() const { return options_; }

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
