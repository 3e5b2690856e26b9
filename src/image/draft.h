// Internal: the shrink-on-load scale, shared by the decoders that reduce while decoding (decode.h, DecodeOptions).
#pragma once

#include <algorithm>
#include <cstdint>

#include "doppel/image/decode.h"

namespace doppel::image_internal {

// The draft size in the frame the picture is stored in: swapped when it is given in the oriented frame
// (DecodeOptions::draft_oriented) and `orientation` (EXIF, 1..8) turns the picture.
inline void DraftSize(int orientation, const DecodeOptions& o, int64_t* dw, int64_t* dh) {
  const bool turned = o.draft_oriented && orientation >= 5;
  *dw = turned ? o.draft_height : o.draft_width;
  *dh = turned ? o.draft_width : o.draft_height;
}

// Pillow's Image.draft rule: the largest s of 8, 4, 2, 1 with s <= min(W / dw, H / dh) (integer division), dw x dh
// the draft size as stored (DraftSize). `stored_w` x `stored_h` is the size as stored. 1 when the options ask for no
// draft.
inline int DraftScale(int64_t stored_w, int64_t stored_h, int orientation, const DecodeOptions& o) {
  if (o.draft_width <= 0 || o.draft_height <= 0) return 1;
  int64_t dw = 0, dh = 0;
  DraftSize(orientation, o, &dw, &dh);
  const int64_t fit = std::min(stored_w / dw, stored_h / dh);
  for (int s : {8, 4, 2})
    if (fit >= s) return s;
  return 1;
}

}  // namespace doppel::image_internal
