// SniffImageFormat (magic bytes of the common formats, no library) and RecogniseImageFormat (that first, then
// libvips' own sniffers). Neither decodes.
#include <exception>
#include <string>
#include <string_view>

#include "doppel/image/decode.h"
#include "vips_session.h"

namespace doppel {

std::string SniffImageFormat(std::string_view head) {
  auto starts = [&](std::string_view magic, size_t at = 0) {
    return head.size() >= at + magic.size() && head.substr(at, magic.size()) == magic;
  };
  using namespace std::literals;
  if (starts("\xFF\xD8\xFF"sv)) return "jpeg";
  if (starts("\x89PNG\r\n\x1A\n"sv)) return "png";
  if (starts("GIF87a"sv) || starts("GIF89a"sv)) return "gif";
  if (starts("RIFF"sv) && starts("WEBP"sv, 8)) return "webp";
  // Classic TIFF (42) and BigTIFF (43), both byte orders.
  if (starts("II*\0"sv) || starts("MM\0*"sv) || starts("II+\0"sv) || starts("MM\0+"sv)) return "tiff";
  if (starts("BM"sv) && head.size() >= 14) return "bmp";
  return "";
}

namespace {

FormatGuess Recognise(std::string_view head) {
  FormatGuess g;
  const std::string fast = SniffImageFormat(head);
  if (!fast.empty() && fast != "bmp") {  // the formats libvips always loads: no need to ask it
    g.format = fast;
    g.decodable = true;
    return g;
  }
  if (!InitImageLibrary().ok() || head.empty()) {
    g.format = fast;
    if (!fast.empty()) g.why_not = image_internal::RefusedFormatReason(fast);
    return g;
  }
  // The source borrows `head`, which outlives it.
  image_internal::VipsSourcePtr source(vips_source_new_from_memory(head.data(), head.size()));
  image_internal::LoaderMatch m;
  if (source) m = image_internal::FindLoader(source.get());
  if (m.allowed) {
    g.format = m.format;
    g.decodable = true;
  } else if (!m.format.empty() || !fast.empty()) {
    g.format = fast.empty() ? m.format : fast;
    g.why_not = image_internal::RefusedFormatReason(g.format);
  }
  return g;
}

}  // namespace

FormatGuess RecogniseImageFormat(std::string_view head) {
  try {
    return Recognise(head);
  } catch (const std::exception&) {  // out of memory for a few short strings: nothing recognised
    return FormatGuess{};
  }
}

}  // namespace doppel
