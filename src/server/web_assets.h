// The web page's files (web/ in the source tree), compiled into the binary by cmake/EmbedFiles.cmake: the server
// serves exactly these, by exact name, and never reads a file to answer a request for the page.
#pragma once

#include <string_view>

namespace doppel {

struct WebAsset {
  std::string_view path;  // "/index.html", "/app.js", ...
  std::string_view mime;
  std::string_view body;
  std::string_view etag;  // quoted, as in an ETag header
};

// The asset named `path` (with its leading slash), or nullptr.
const WebAsset* FindWebAsset(std::string_view path);

}  // namespace doppel
