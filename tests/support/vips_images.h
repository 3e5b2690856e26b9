// libvips images built in memory for tests, owned by a unique_ptr. Header-only: include it only from tests that link
// libvips themselves (tests/image does).
#pragma once

#include <gtest/gtest.h>
#include <vips/vips.h>

#include <cstddef>
#include <memory>

#include "doppel/image/decode.h"

namespace doppel::testing {

// Deleter for VImg: drops the reference to a VipsImage (unique_ptr never calls it with null).
struct Unref {
  void operator()(VipsImage* p) const { g_object_unref(p); }
};
using VImg = std::unique_ptr<VipsImage, Unref>;

// A VipsImage holding a copy of `bytes` bytes of `data` (w x h x bands of `fmt`), tagged with `interp`.
inline VImg MakeVips(const void* data, size_t bytes, int w, int h, int bands, VipsBandFormat fmt,
                     VipsInterpretation interp) {
  EXPECT_TRUE(InitImageLibrary().ok());
  VImg in(vips_image_new_from_memory_copy(data, bytes, w, h, bands, fmt));
  EXPECT_TRUE(in) << vips_error_buffer();
  VipsImage* out = nullptr;
  EXPECT_EQ(vips_copy(in.get(), &out, "interpretation", interp, nullptr), 0) << vips_error_buffer();
  return VImg(out);
}

}  // namespace doppel::testing
