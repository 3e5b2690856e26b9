// Shared by the large-collection benchmarks (serve_scale, dedup_scale): distinct 64x64 JPEG tiles cut from Debian's
// opencv-doc sample photos, written once into a folder and reused by later runs.
#pragma once

#include <vips/vips.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "doppel/engine/engine.h"
#include "doppel/modelgen/modelgen.h"

namespace doppel::bench {

// `n` 64x64 tiles of the sample photos (each photo at a few scales, tiles at every position), written once.
inline std::vector<std::string> MakeTiles(const std::string& dir, int first, int n) {
  std::vector<std::string> samples;
  namespace fs = std::filesystem;
  for (const auto& e : fs::directory_iterator("/usr/share/doc/opencv-doc/examples/data"))
    if (e.path().extension() == ".jpg" && fs::file_size(e.path()) > 30000) samples.push_back(e.path().string());
  std::sort(samples.begin(), samples.end());
  std::vector<VipsImage*> sources;  // each sample at 4 scales, decoded once
  for (const auto& s : samples) {
    VipsImage* in = vips_image_new_from_file(s.c_str(), "access", VIPS_ACCESS_RANDOM, nullptr);
    if (!in) continue;
    for (double scale : {1.0, 0.71, 0.5, 0.35}) {
      VipsImage* r = nullptr;
      if (vips_resize(in, &r, scale, nullptr) == 0) {
        VipsImage* m = vips_image_copy_memory(r);
        g_object_unref(r);
        if (m) sources.push_back(m);
      }
    }
    g_object_unref(in);
  }
  std::vector<std::string> out;
  fs::create_directories(dir);
  for (int i = first; i < first + n; ++i) {
    std::string path = dir + "/t" + std::to_string(i) + ".jpg";
    out.push_back(path);
    if (fs::exists(path)) continue;
    VipsImage* src = sources[static_cast<size_t>(i) % sources.size()];
    int cols = std::max(1, (vips_image_get_width(src) - 64) / 7), rows = std::max(1, (vips_image_get_height(src) - 64) / 7);
    int k = i / static_cast<int>(sources.size());
    VipsImage* crop = nullptr;
    if (vips_crop(src, &crop, (k * 7919 % cols) * 7, (k * 104729 / cols % rows) * 7, 64, 64, nullptr) == 0) {
      // A 4x4 mark in the corner coloured by i makes every tile's content (and so its id) unique.
      VipsImage* tile = vips_image_copy_memory(crop);
      g_object_unref(crop);
      if (!tile) continue;
      double ink[3] = {double(i & 0xff), double((i >> 8) & 0xff), double((i >> 16) & 0xff)};
      vips_draw_rect(tile, ink, vips_image_get_bands(tile) >= 3 ? 3 : 1, 0, 0, 4, 4, "fill", TRUE, nullptr);
      vips_jpegsave(tile, path.c_str(), "Q", 85, nullptr);
      g_object_unref(tile);
    }
  }
  for (auto* s : sources) g_object_unref(s);
  return out;
}

// Registers, in an engine without models, the model the tile benchmarks fill their collection with: a small
// ResNet50-shaped network with RANDOM weights (width 0.1875, 32x32 input, 384-d like the default model), written once
// into `dir`. A search by id never runs it; it keeps indexing 100k tiles within minutes on 2 cores.
inline Status AddTileModel(Engine& e, const std::filesystem::path& dir) {
  if (!e.ListModels().empty()) return Status::OK();
  const std::filesystem::path model = dir / "random-resnet50-w0.1875-32.onnx";
  modelgen::ModelGenOptions mo;
  mo.arch = modelgen::Arch::kResNet50;
  mo.width_multiplier = 0.1875;
  mo.input_size = 32;
  mo.seed = 7;
  if (!std::filesystem::exists(model)) DOPPEL_RETURN_IF_ERROR(modelgen::WriteModel(mo, model.string()));
  DOPPEL_ASSIGN_OR_RETURN(ModelSpec spec, SpecFromJson(R"({"preset": "keras-caffe", "size": 32})"));
  return e.AddModel("random384", model.string(), spec).status();
}

}  // namespace doppel::bench
