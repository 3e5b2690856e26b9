// Shared by the benchmark programs that index photos: N "COCO-like" 640x480 JPEGs (quality 90) cut from Debian's
// opencv-doc sample photos at different offsets and scales, written once into a folder and reused.
#pragma once

#include <vips/vips.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace doppel::bench {

inline std::vector<std::string> MakePhotos(const std::string& dir, int n) {
  std::vector<std::string> samples;
  for (const auto& e : std::filesystem::directory_iterator("/usr/share/doc/opencv-doc/examples/data"))
    if (e.path().extension() == ".jpg" && std::filesystem::file_size(e.path()) > 30000) samples.push_back(e.path().string());
  std::sort(samples.begin(), samples.end());
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string path = dir + "/photo" + std::to_string(i) + ".jpg";
    out.push_back(path);
    if (std::filesystem::exists(path)) continue;
    VipsImage* in = vips_image_new_from_file(samples[i % samples.size()].c_str(), nullptr);
    if (!in) continue;
    // Scale so that a 640x480 window fits, then cut it at an offset that depends on i.
    double s = std::max(640.0 / vips_image_get_width(in), 480.0 / vips_image_get_height(in)) * (1.0 + (i / samples.size()) % 7 * 0.15);
    VipsImage* big = nullptr;
    vips_resize(in, &big, s, nullptr);
    int w = vips_image_get_width(big), h = vips_image_get_height(big);
    int x = (w - 640) * ((i * 37) % 100) / 100, y = (h - 480) * ((i * 53) % 100) / 100;
    VipsImage* crop = nullptr;
    vips_crop(big, &crop, std::max(0, x), std::max(0, y), std::min(640, w), std::min(480, h), nullptr);
    vips_jpegsave(crop, path.c_str(), "Q", 90, nullptr);
    g_object_unref(crop);
    g_object_unref(big);
    g_object_unref(in);
  }
  return out;
}

}  // namespace doppel::bench
