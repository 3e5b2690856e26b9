// FindImages: which files are image candidates (by content first, by extension second) and which are ignored, with
// the reason; and that the Netpbm files it finds decode to the right pixels.
#include "doppel/engine/walk.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "doppel/image/decode.h"
#include "support/image_files.h"
#include "support/test_util.h"

namespace doppel {
namespace {

using namespace std::literals;

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

ImageU8 Gradient(int w, int h) {
  ImageU8 img(w, h, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(x, y, 0) = uint8_t(x * 8);
      img.at(x, y, 1) = uint8_t(y * 8);
      img.at(x, y, 2) = 128;
    }
  return img;
}

std::vector<uint8_t> Grey3(const std::vector<uint8_t>& grey) {
  std::vector<uint8_t> rgb;
  for (uint8_t g : grey) rgb.insert(rgb.end(), {g, g, g});
  return rgb;
}

struct Walked {
  std::map<std::string, std::string> images;   // file name -> format
  std::map<std::string, std::string> ignored;   // file name -> reason
  std::vector<std::string> errors;
  int64_t ignored_count = 0;
};

Walked Walk(const testing::TempDir& dir) {
  WalkResult r = FindImages({dir.path().string()});
  Walked w;
  for (const auto& f : r.images) w.images[std::filesystem::path(f.path).filename().string()] = f.format;
  for (const auto& [p, reason] : r.ignored_files) w.ignored[std::filesystem::path(p).filename().string()] = reason;
  for (const auto& [p, st] : r.errors) w.errors.push_back(p + ": " + st.ToString());
  w.ignored_count = r.ignored;
  EXPECT_TRUE(std::is_sorted(r.ignored_files.begin(), r.ignored_files.end()));
  return w;
}

TEST(EngineWalk, CandidatesByContentAndIgnoredFilesWithReasons) {
  testing::TempDir dir;
  // Pictures whose names say nothing or the wrong thing: content decides.
  testing::WriteFile(dir.file("scan"), "P6\n2 1\n255\n\x10\x20\x30\x40\x50\x60"s);  // a PPM without extension
  testing::WriteFile(dir.file("grey.txt"), "P5\n3 1\n255\n\x00\x80\xff"s);         // a PGM named .txt
  testing::WriteFile(dir.file("bits.dat"), "P4\n3 2\n\xa0\x40"s);                    // a PBM named .dat
  testing::WriteImage(Gradient(16, 8), dir.file("photo.dat"));                       // a JPEG named .dat
  // Named as images: candidates whatever the content (the decoder reports them).
  testing::WriteFile(dir.file("broken.jpg"), "this was a photo once");
  testing::WriteFile(dir.file("empty.jpg"), "");
  // Not images.
  testing::WriteFile(dir.file("notes.txt"), "shopping list\neggs\n");
  testing::WriteFile(dir.file("P1-notes"), "P1 notes: the first point\n");  // starts like a PBM, is text
  testing::WriteFile(dir.file("numbers"), "2 2\n1 2\n3 4\n");              // libvips' matrix text format
  testing::WriteFile(dir.file("empty"), "");
  testing::WriteFile(dir.file("report"), "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"s);
  testing::WriteFile(dir.file("logo"), "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
  ASSERT_EQ(::mkfifo(dir.file("pipe").c_str(), 0600), 0);

  Walked w = Walk(dir);
  EXPECT_TRUE(w.errors.empty()) << w.errors.front();
  const std::map<std::string, std::string> want_images = {{"scan", "ppm"},     {"grey.txt", "ppm"},
                                                          {"bits.dat", "ppm"}, {"photo.dat", "jpeg"},
                                                          {"broken.jpg", ""},  {"empty.jpg", ""}};
  EXPECT_EQ(w.images, want_images);
  const std::map<std::string, std::string> want_reason_parts = {
      {"notes.txt", "not an image (no known image signature)"},
      {"P1-notes", "not an image (no known image signature)"},
      {"numbers", "not an image (no known image signature)"},
      {"empty", "empty file"},
      {"report", "recognised as pdf, which doppel does not decode: a PDF document"},
      {"logo", "recognised as svg, which doppel does not decode: an SVG drawing"},
      {"pipe", "not a regular file (FIFO)"}};
  ASSERT_EQ(w.ignored.size(), want_reason_parts.size());
  for (const auto& [name, part] : want_reason_parts) {
    ASSERT_TRUE(w.ignored.count(name)) << name;
    EXPECT_TRUE(Contains(w.ignored[name], part)) << name << ": " << w.ignored[name];
  }
  EXPECT_EQ(w.ignored_count, int64_t(want_reason_parts.size()));
}

TEST(EngineWalk, NetpbmFilesFoundAndDecodedToTheRightPixels) {
  // What indexing does with each candidate: DecodeImageFile. PBM's 1 bits are black.
  testing::TempDir dir;
  struct Case {
    std::string name, bytes;
    int w, h;
    std::vector<uint8_t> rgb;
  };
  const std::vector<Case> cases = {
      {"colour.ppm", "P6\n2 1\n255\n\x10\x20\x30\x40\x50\x60"s, 2, 1, {0x10, 0x20, 0x30, 0x40, 0x50, 0x60}},
      {"ascii-colour", "P3\n1 2\n255\n1 2 3\n4 5 6\n", 1, 2, {1, 2, 3, 4, 5, 6}},
      {"grey.pgm", "P5\n3 1\n255\n\x00\x80\xff"s, 3, 1, Grey3({0x00, 0x80, 0xff})},
      {"ascii-grey", "P2 2 1 255 9 250\n", 2, 1, Grey3({9, 250})},
      {"bits.pbm", "P4\n3 2\n\xa0\x40"s, 3, 2, Grey3({0, 255, 0, 255, 0, 255})},
      {"ascii-bits", "P1\n2 2\n0 1\n1 0\n", 2, 2, Grey3({255, 0, 0, 255})},
  };
  for (const Case& c : cases) testing::WriteFile(dir.file(c.name), c.bytes);
  WalkResult r = FindImages({dir.path().string()});
  ASSERT_EQ(r.images.size(), cases.size());
  EXPECT_EQ(r.ignored, 0);
  for (const Case& c : cases) {
    auto it = std::find_if(r.images.begin(), r.images.end(), [&](const FoundFile& f) { return f.path == dir.file(c.name); });
    ASSERT_NE(it, r.images.end()) << c.name;
    EXPECT_EQ(it->format, "ppm") << c.name;
    EXPECT_EQ(it->size, int64_t(c.bytes.size())) << c.name;
    auto d = DecodeImageFile(it->path);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->format, "ppm");
    ASSERT_EQ(d->rgb.width, c.w) << c.name;
    ASSERT_EQ(d->rgb.height, c.h) << c.name;
    EXPECT_EQ(d->rgb.pixels, c.rgb) << c.name;
  }
}

TEST(EngineWalk, SingleFileRootsAndUnreadablePaths) {
  testing::TempDir dir;
  testing::WriteFile(dir.file("a.txt"), "text");
  testing::WriteImage(Gradient(8, 8), dir.file("b.png"));
  // A file given twice and a missing one: each path once; the missing one is an error, not ignored.
  WalkResult r = FindImages({dir.file("a.txt"), dir.file("b.png"), dir.file("b.png"), dir.file("missing.jpg")});
  ASSERT_EQ(r.images.size(), 1u);
  EXPECT_EQ(r.images[0].format, "png");
  ASSERT_EQ(r.ignored_files.size(), 1u);
  EXPECT_EQ(r.ignored_files[0].first, dir.file("a.txt"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].first, dir.file("missing.jpg"));
  EXPECT_EQ(r.errors[0].second.code(), Status::Code::kIOError);
}

}  // namespace
}  // namespace doppel
