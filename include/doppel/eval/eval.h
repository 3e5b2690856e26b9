// Retrieval quality of an embedding on a labelled folder (one subfolder per category): category retrieval
// (precision@5, precision@10, mAP, every image querying all others) and copy detection (recall@1 of edited copies
// -- crops, rescales, JPEG recompression, colour shifts -- querying the originals). Exact search in memory: this
// measures the embedding, not an index.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "doppel/eval/refine.h"
#include "doppel/image/image.h"
#include "doppel/model/embedder.h"
#include "doppel/util/status.h"

namespace doppel {

struct LabelledImage {
  std::string path;
  int label = 0;
};

struct LabelledSet {
  std::vector<std::string> classes;  // label -> category (the subfolder's name)
  std::vector<LabelledImage> images;
};

// Images of `dir`, labelled by their first-level subfolder (images deeper inside count for that subfolder).
// Categories with fewer than 2 images are dropped; at most `max_per_class` images per category (0 = all), chosen
// by sorted path, so the set is deterministic.
Result<LabelledSet> LoadLabelledSet(const std::string& dir, int max_per_class = 0);

// The copy-detection edits, by name: "crop" (central 70%), "rescale" (to 40%), "jpeg" (quality 15),
// "colour" (brightness and channel shift).
std::vector<std::string> CopyEditNames();
Result<ImageU8> ApplyCopyEdit(const ImageU8& img, const std::string& edit);

// An embedding function: one decoded RGB image -> one vector (L2-normalised by the caller if needed).
using EmbedFn = std::function<Result<std::vector<float>>(const ImageU8&)>;

// Several embeddings of one image as one vector, each part normalised first, then the whole normalised:
//   ConcatenatedEmbedding: the parts side by side (the quality profile's ranking, Engine::SearchFused, measured with
//                          `doppel eval --fuse`);
//   AveragedEmbedding:     their mean (multi-scale pooling: one network at several input sizes, `--multi-scale`);
//                          the parts must have one dimension (InvalidArgument otherwise).
EmbedFn ConcatenatedEmbedding(std::vector<EmbedFn> parts);
EmbedFn AveragedEmbedding(std::vector<EmbedFn> parts);

// The decode settings that serve several models at once in an evaluation: those of the model that needs the most
// pixels (one that does not shrink on load, else the largest draft). A search decodes for each model; the two
// differ only on pictures whose drafts pick different scales.
DecodeOptions WidestDecode(const std::vector<DecodeOptions>& each);

// The 8x8x8 RGB colour histogram, L2-normalised: the baseline every learned embedding must beat.
std::vector<float> ColourHistogram(const ImageU8& img);

struct EvalOptions {
  int copy_queries = 100;  // originals that get edited copies (each gets every edit)
  int threads = 0;         // 0 = number of cores
  DecodeOptions decode;
  // Refinements to measure (refine.h), each scored on the same embeddings; empty = "none" only.
  std::vector<Refinement> refinements;
};

struct EvalResult {
  std::string name;
  std::string refinement = "none";
  int images = 0;
  int classes = 0;
  double p_at_5 = 0, p_at_10 = 0, map = 0;
  int copy_queries = 0;                        // edited copies queried
  double copy_recall_at_1 = 0;                 // over all edits
  std::map<std::string, double> copy_recall;   // per edit
  // 95% bootstrap intervals over the queries (category queries for P@k and mAP, edited copies for copy R@1).
  std::pair<double, double> p_at_5_ci, map_ci, copy_ci;
  double seconds = 0;        // embedding (shared by the refinements) plus this refinement's scoring
  double score_seconds = 0;  // this refinement's scoring alone (whitening, DBA, every query's search)
  int failed = 0;                              // images that could not be decoded or embedded (left out)
};

// Embeds the set (and the copies; their mirror images too when a refinement flips) with `embed`, then computes the
// metrics once per refinement (options.refinements, in order; "none" when empty). `name` labels the results.
Result<std::vector<EvalResult>> EvaluateRefinements(const LabelledSet& set, const EmbedFn& embed,
                                                    const std::string& name, const EvalOptions& options = {});
// The first refinement's result (options.refinements empty: plain vectors).
Result<EvalResult> Evaluate(const LabelledSet& set, const EmbedFn& embed, const std::string& name,
                            const EvalOptions& options = {});

// Category metrics from vectors alone (exposed for tests): each vector queries all others by inner product.
void CategoryMetrics(const std::vector<std::vector<float>>& vectors, const std::vector<int>& labels, double* p5,
                     double* p10, double* map);

}  // namespace doppel
