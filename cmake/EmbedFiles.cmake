# Script mode (cmake -P): turns the files of a folder into a C++ source that compiles them into the binary, so the
# server's web page needs no files at run time and no CDN (doppel serve works offline and from any folder).
#   cmake -DSRC_DIR=web -DOUT=web_assets.cc -DFILES=index.html,app.js,... -P EmbedFiles.cmake
# Each file becomes {"/NAME", mime type, bytes, ETag (SHA-256 prefix of the bytes)}; see src/server/web_assets.h.
string(REPLACE "," ";" FILES "${FILES}")
set(body "")
set(table "")
set(n 0)
foreach(name IN LISTS FILES)
  set(file "${SRC_DIR}/${name}")
  file(READ "${file}" hex HEX)
  file(SHA256 "${file}" sha)
  string(SUBSTRING "${sha}" 0 16 etag)
  string(LENGTH "${hex}" hexlen)
  math(EXPR size "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
         bytes "${bytes}")
  get_filename_component(ext "${name}" LAST_EXT)
  if(ext STREQUAL ".html")
    set(mime "text/html; charset=utf-8")
  elseif(ext STREQUAL ".js")
    set(mime "text/javascript; charset=utf-8")
  elseif(ext STREQUAL ".css")
    set(mime "text/css; charset=utf-8")
  elseif(ext STREQUAL ".svg")
    set(mime "image/svg+xml")
  elseif(ext STREQUAL ".png")
    set(mime "image/png")
  else()
    message(FATAL_ERROR "EmbedFiles: no mime type for ${name}")
  endif()
  string(APPEND body "const unsigned char k${n}[] = {\n${bytes}0};\n")
  string(APPEND table "    {\"/${name}\", \"${mime}\", std::string_view(reinterpret_cast<const char*>(k${n}), ${size}), \"\\\"${etag}\\\"\"},\n")
  math(EXPR n "${n} + 1")
endforeach()
set(out "// Generated from web/ by cmake/EmbedFiles.cmake at build time: edit the files in web/, not this.
#include \"server/web_assets.h\"

namespace doppel {
namespace {
${body}}  // namespace

const WebAsset* FindWebAsset(std::string_view path) {
  static const WebAsset kAssets[] = {
${table}  };
  for (const auto& a : kAssets)
    if (a.path == path) return &a;
  return nullptr;
}

}  // namespace doppel
")
file(WRITE "${OUT}.tmp" "${out}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
