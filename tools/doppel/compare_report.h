// The self-contained HTML report of `doppel compare --queries DIR`: inline SVG plots (overlap@k distribution,
// distance histograms per model), the queries where the models disagree most with thumbnails, and a JSON twin.
#pragma once

#include <string>
#include <vector>

#include "doppel/engine/engine.h"

namespace doppel::cli {

struct QueryComparison {
  std::string query;  // image path
  Comparison comparison;
};

// Writes `html_path` and `json_path`. `worst` queries (lowest overlap) are shown with thumbnails.
Status WriteCompareReport(const std::vector<QueryComparison>& results, int k, const std::string& html_path,
                          const std::string& json_path, int worst = 8);

}  // namespace doppel::cli
