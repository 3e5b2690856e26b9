// SniffImageFormat: magic bytes only, never decodes.
#include <string>
#include <string_view>

#include "doppel/image/decode.h"

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

}  // namespace doppel
