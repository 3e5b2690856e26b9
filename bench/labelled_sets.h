// Shared by the quality benchmarks: labelled folders (one subfolder per category, as `doppel eval` reads them)
// built from what Debian packages ship. Small-picture sets (bench_refine_quality): openclipart-png, Adwaita icons,
// glyph renders at 120 pt. Large-picture JPEG sets (bench_shrink_quality, where shrink-on-load must change the
// decode): the same glyphs rendered at 640..3000 px, clip art scaled up, wallpaper photos cut and re-encoded.
// Every builder is deterministic (fixed seeds, sorted paths).
#pragma once

#include <vips/vips.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace doppel::bench {
namespace labelled_sets_fs = std::filesystem;

// A labelled folder of symbolic links: DIR/<class>/<n>.png -> the files of each class (at most `per` by path).
inline bool LinkClasses(const std::map<std::string, std::vector<labelled_sets_fs::path>>& classes,
                        const labelled_sets_fs::path& dir, int per) {
  namespace fs = labelled_sets_fs;
  fs::remove_all(dir);
  for (const auto& [name, files] : classes) {
    if (files.size() < 2) continue;
    fs::create_directories(dir / name);
    std::vector<fs::path> sorted = files;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size() && int(i) < per; ++i)
      fs::create_symlink(sorted[i], dir / name / (std::to_string(i) + sorted[i].extension().string()));
  }
  return true;
}

// Adwaita's 48x48 PNG icons by context (the folder above each icon).
inline bool MakeIcons(const labelled_sets_fs::path& dir, int per) {
  namespace fs = labelled_sets_fs;
  const fs::path root = "/usr/share/icons/Adwaita/48x48";
  std::map<std::string, std::vector<fs::path>> classes;
  std::error_code ec;
  for (const auto& ctx : fs::directory_iterator(root, ec)) {
    if (!ctx.is_directory() || ctx.path().filename() == "legacy") continue;
    for (const auto& f : fs::directory_iterator(ctx.path(), ec))
      if (f.path().extension() == ".png") classes[ctx.path().filename().string()].push_back(f.path());
  }
  return !classes.empty() && LinkClasses(classes, dir, per);
}

// openclipart-png's pictures by top-level category (recursively); empty when the package is missing.
inline std::map<std::string, std::vector<labelled_sets_fs::path>> ClipartClasses() {
  namespace fs = labelled_sets_fs;
  std::map<std::string, std::vector<fs::path>> classes;
  std::error_code ec;
  if (!fs::is_directory("/usr/share/openclipart/png", ec)) return classes;
  for (const auto& c : fs::directory_iterator("/usr/share/openclipart/png")) {
    if (!c.is_directory()) continue;
    for (const auto& f : fs::recursive_directory_iterator(c.path()))
      if (f.path().extension() == ".png") classes[c.path().filename().string()].push_back(f.path());
  }
  return classes;
}

// The pictures' sizes in the large sets: the shorter side of picture i, in three tiers by i % 3 (640..1200,
// 1200..2250, 2250..3000 px: the last are camera-size, 3000..4000 px on the longer side at 4:3).
inline int LargeShortSide(int i, std::mt19937& rng) {
  static const int tiers[3][2] = {{640, 1200}, {1200, 2250}, {2250, 3000}};
  const auto& t = tiers[i % 3];
  return t[0] + int(rng() % unsigned(t[1] - t[0]));
}

// Saves `img` (any bands, any alpha) as an sRGB JPEG whose shorter side is `short_side` (libvips's lanczos3 resize).
// Unrefs nothing: the caller owns `img`.
inline bool SaveResizedJpeg(VipsImage* img, const std::string& path, int short_side, int quality) {
  VipsImage *flat = nullptr, *srgb = nullptr, *sized = nullptr;
  bool ok = true;
  if (vips_image_hasalpha(img))
    ok = vips_flatten(img, &flat, "background", vips_array_double_newv(1, 255.0), nullptr) == 0;
  else
    flat = img, g_object_ref(img);
  if (ok) ok = vips_colourspace(flat, &srgb, VIPS_INTERPRETATION_sRGB, nullptr) == 0;
  if (ok) {
    const double s = double(short_side) / std::min(vips_image_get_width(srgb), vips_image_get_height(srgb));
    ok = vips_resize(srgb, &sized, s, nullptr) == 0;
  }
  if (ok) ok = vips_jpegsave(sized, path.c_str(), "Q", quality, "strip", TRUE, nullptr) == 0;
  for (VipsImage* x : {flat, srgb, sized})
    if (x) g_object_unref(x);
  return ok;
}

struct GlyphOptions {
  int letters = 20;  // A, B, ... (one class each)
  int fonts = 20;    // the first N of the font list
  // 0: each glyph drawn at 120 pt and saved as PNG (bench_refine_quality's set). > 0: drawn at about the picture's
  // size and saved as a JPEG of this quality, the side from LargeShortSide (seed 5; the camera-size tier x 4/3).
  int jpeg_quality = 0;
};

// One class per letter, drawn in each of these fonts (fonts-dejavu and MathJax, as fontconfig names them), a
// random ink on white, turned by up to 10 degrees. Returns the number of pictures made.
inline int MakeGlyphs(const labelled_sets_fs::path& dir, const GlyphOptions& o = {}) {
  namespace fs = labelled_sets_fs;
  const char* fonts[] = {"DejaVu Sans",         "DejaVu Sans Bold",       "DejaVu Sans Oblique",
                         "DejaVu Sans Condensed", "DejaVu Sans Light",    "DejaVu Sans Mono",
                         "DejaVu Sans Mono Bold", "DejaVu Serif",         "DejaVu Serif Bold",
                         "DejaVu Serif Italic",   "DejaVu Serif Condensed", "DejaVu Math TeX Gyre",
                         "MathJax_Main",          "MathJax_Main Bold",    "MathJax_Math Italic",
                         "MathJax_SansSerif",     "MathJax_Typewriter",   "MathJax_Caligraphic",
                         "MathJax_Fraktur",       "MathJax_Script"};
  const size_t nfonts = std::min(std::size(fonts), size_t(std::max(0, o.fonts)));
  fs::remove_all(dir);
  std::mt19937 rng(11), sizes(5);
  int made = 0, picture = 0;
  for (char c = 'A'; c < 'A' + std::min(26, o.letters); ++c) {
    fs::create_directories(dir / std::string(1, c));
    for (size_t f = 0; f < nfonts; ++f, ++picture) {
      // Squares: the camera-size tier's side is its longer side (3000..4000 px).
      int side = o.jpeg_quality > 0 ? LargeShortSide(picture, sizes) : 0;
      if (side > 0 && picture % 3 == 2) side = side * 4 / 3;
      // A capital's height is about 0.7 of the point size at 72 dpi: drawn near the final size, then fitted.
      const int points = side > 0 ? std::max(120, side * 9 / 10) : 120;
      const std::string glyph(1, c), font = std::string(fonts[f]) + " " + std::to_string(points);
      VipsImage *text = nullptr, *mask3 = nullptr, *colour = nullptr, *turned = nullptr, *framed = nullptr;
      // text: a one-band ink mask (0..255); colour = white where it is 0, the ink where it is 255.
      bool ok = vips_text(&text, glyph.c_str(), "font", font.c_str(), "dpi", 72, nullptr) == 0 &&
                vips_image_get_width(text) >= 8;
      if (ok) {
        VipsImage* m[3] = {text, text, text};
        ok = vips_bandjoin(m, &mask3, 3, nullptr) == 0;
      }
      double a[3], b[3];
      for (int k = 0; k < 3; ++k) a[k] = (double(rng() % 160) - 255) / 255.0, b[k] = 255;
      if (ok) ok = vips_linear(mask3, &colour, a, b, 3, "uchar", TRUE, nullptr) == 0;
      if (ok)
        ok = vips_rotate(colour, &turned, double(int(rng() % 21) - 10), "background",
                         vips_array_double_newv(3, 255.0, 255.0, 255.0), nullptr) == 0;
      if (ok) {
        const int w = vips_image_get_width(turned), h = vips_image_get_height(turned);
        const int pad = side > 0 ? std::max(w, h) / 5 : 24, sq = std::max(w, h) + pad;
        ok = vips_embed(turned, &framed, (sq - w) / 2, (sq - h) / 2, sq, sq, "extend", VIPS_EXTEND_WHITE,
                        nullptr) == 0;
      }
      const fs::path out = dir / std::string(1, c) / (std::to_string(f) + (side > 0 ? ".jpg" : ".png"));
      if (ok && (side > 0 ? SaveResizedJpeg(framed, out.string(), side, o.jpeg_quality)
                          : vips_pngsave(framed, out.c_str(), nullptr) == 0))
        ++made;
      for (VipsImage* x : {text, mask3, colour, turned, framed})
        if (x) g_object_unref(x);
    }
  }
  return made;
}

// openclipart-png scaled up: at most `per` pictures of each category with at least `per` (by sorted path),
// flattened on white and saved as JPEG (quality 90), the shorter side from LargeShortSide (seed 7). 0 when the
// package is missing.
inline int MakeLargeClipart(const labelled_sets_fs::path& dir, int per) {
  namespace fs = labelled_sets_fs;
  auto classes = ClipartClasses();
  fs::remove_all(dir);
  std::mt19937 sizes(7);
  int made = 0, picture = 0;
  for (auto& [name, files] : classes) {
    if (int(files.size()) < per) continue;
    std::sort(files.begin(), files.end());
    fs::create_directories(dir / name);
    for (int i = 0; i < per; ++i, ++picture) {
      const int side = LargeShortSide(picture, sizes);
      VipsImage* in = vips_image_new_from_file(files[i].c_str(), nullptr);
      if (!in) continue;
      if (SaveResizedJpeg(in, (dir / name / (std::to_string(i) + ".jpg")).string(), side, 90)) ++made;
      g_object_unref(in);
    }
  }
  return made;
}

// Wallpaper photos: one class per picture of Debian's mate-backgrounds (its three Elephants files are one picture:
// only the largest is used) and gnome-backgrounds (the raster light variants), each cut `views` times (a random
// window of 60..90% of each side) and re-encoded as JPEG (quality 80..95) with the shorter side from LargeShortSide
// (seed 9). 0 when neither package is installed.
inline int MakeWallpapers(const labelled_sets_fs::path& dir, int views) {
  namespace fs = labelled_sets_fs;
  std::vector<fs::path> sources;
  std::error_code ec;
  for (const char* root : {"/usr/share/backgrounds/mate", "/usr/share/backgrounds/gnome"}) {
    if (!fs::is_directory(root, ec)) continue;
    for (const auto& f : fs::recursive_directory_iterator(root, ec)) {
      const std::string name = f.path().filename().string(), ext = f.path().extension().string();
      if (ext != ".jpg" && ext != ".png" && ext != ".webp") continue;
      if (name == "Elephants.jpg" || name == "Elephants_3840x2160.jpg") continue;
      if (ext == ".webp" && name.find("-l.") == std::string::npos) continue;
      sources.push_back(f.path());
    }
  }
  std::sort(sources.begin(), sources.end());
  fs::remove_all(dir);
  std::mt19937 rng(9);
  int made = 0, picture = 0;
  for (const auto& src : sources) {
    const fs::path cls = dir / (src.parent_path().filename().string() + "-" + src.stem().string());
    fs::create_directories(cls);
    VipsImage* in = vips_image_new_from_file(src.c_str(), "access", VIPS_ACCESS_RANDOM, nullptr);
    if (!in) continue;
    const int W = vips_image_get_width(in), H = vips_image_get_height(in);
    for (int v = 0; v < views; ++v, ++picture) {
      const int w = W * (60 + int(rng() % 31)) / 100, h = H * (60 + int(rng() % 31)) / 100;
      const int x = int(rng() % unsigned(W - w + 1)), y = int(rng() % unsigned(H - h + 1));
      const int side = LargeShortSide(picture, rng), quality = 80 + int(rng() % 16);
      VipsImage* cut = nullptr;
      if (vips_crop(in, &cut, x, y, w, h, nullptr) == 0 &&
          SaveResizedJpeg(cut, (cls / (std::to_string(v) + ".jpg")).string(), side, quality))
        ++made;
      if (cut) g_object_unref(cut);
    }
    g_object_unref(in);
  }
  return made;
}

}  // namespace doppel::bench
