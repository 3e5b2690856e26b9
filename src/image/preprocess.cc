// Presets and the resize/crop/normalise pipeline (shared/reference/preprocessing.md).
#include "doppel/image/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <string>
#include <vector>

namespace doppel {
namespace {

// Python's round(d / 2.0) for an integer d: ties go to the even neighbour (117 / 2 -> 58, 119 / 2 -> 60).
int64_t HalfRoundEven(int64_t d) {
  int64_t q = d / 2;  // toward zero
  if (d % 2 == 0) return q;
  // d odd: d / 2 = q + 0.5 (d > 0) or q - 0.5 (d < 0); pick the even one of the two neighbours.
  int64_t other = d > 0 ? q + 1 : q - 1;
  return (q % 2 == 0) ? q : other;
}

// Python floor division.
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// torchvision center_crop of an img_w x img_h image to w x h: pad with 0 where the image is smaller than the crop
// ((d // 2) before, the rest after), then crop at int(round((H - h) / 2.0)). The crop's top-left corner in image
// coordinates (negative where it pads).
void CenterCropOrigin(int64_t img_w, int64_t img_h, int64_t w, int64_t h, int64_t* left, int64_t* top) {
  *left = w > img_w ? -FloorDiv(w - img_w, 2) : HalfRoundEven(img_w - w);
  *top = h > img_h ? -FloorDiv(h - img_h, 2) : HalfRoundEven(img_h - h);
}

// torchvision _compute_resized_output_size for an int size: short side -> s, long side -> int(s * long / short).
// The long side can be far larger than any image doppel would hold (1 x 65500 -> 256 x 16768000): it is only a
// coordinate system, since just the crop is computed. Beyond INT_MAX (what Pillow's C ints hold) it is an error.
Status ShorterSideSize(int in_w, int in_h, int s, int* out_w, int* out_h) {
  const bool w_short = in_w <= in_h;
  const int shorter = w_short ? in_w : in_h, longer = w_short ? in_h : in_w;
  // Python: int * int is exact, `/` is the correctly rounded double quotient, int() truncates.
  const double new_long = std::trunc(double(int64_t(s) * longer) / double(shorter));
  if (!(new_long <= double(std::numeric_limits<int>::max()))) {
    return Status::InvalidArgument("a " + std::to_string(in_w) + "x" + std::to_string(in_h) +
                                   " image resized to " + std::to_string(s) + " on its shorter side would be " +
                                   std::to_string(int64_t(new_long)) + " pixels long, more than " +
                                   std::to_string(std::numeric_limits<int>::max()));
  }
  *out_w = w_short ? s : int(new_long);
  *out_h = w_short ? int(new_long) : s;
  return Status::OK();
}

// Whether multiplying by `scale` should be done as dividing by its reciprocal: the frameworks write x / 255 and
// x / 127.5, and p * float(1/255) is not always p / 255 in float32. Returns the divisor, or 0 to multiply.
float DivisorFor(float scale) {
  if (!(scale > 0) || scale == 1.0f || scale < 1e-6f) return 0;
  // The nearest multiple of 1/2 to 1/scale, accepted when its float reciprocal is exactly `scale`.
  const double d = std::nearbyint(2.0 / double(scale)) / 2;
  return (d >= 1 && float(1.0 / d) == scale) ? float(d) : 0;
}

}  // namespace

DecodeOptions DecodeOptionsFor(const PreprocessSpec& spec, DecodeOptions base) {
  base.alpha = spec.alpha;
  base.apply_exif_orientation = spec.apply_exif_orientation;
  base.draft_width = base.draft_height = 0;
  base.draft_oriented = false;
  if (spec.shrink_on_load && spec.width > 0 && spec.height > 0) {
    if (spec.resize == ResizeMode::kShorterCrop) {
      base.draft_width = base.draft_height = spec.resize_shorter > 0 ? spec.resize_shorter
                                                                     : std::min(spec.width, spec.height);
    } else {
      base.draft_width = spec.width;
      base.draft_height = spec.height;
    }
    base.draft_oriented = true;
    base.draft_formats = spec.shrink_formats;
  }
  return base;
}

std::vector<std::string> PresetNames() { return {"keras-caffe", "keras-tf", "torch-imagenet", "clip"}; }

Result<PreprocessSpec> PresetSpec(const std::string& name) {
  PreprocessSpec s;  // 224x224, stretch, NEAREST, RGB, identity values, composite white, EXIF applied
  if (name == "keras-caffe") {
    s.channel_order = ChannelOrder::kBGR;
    s.mean = {103.939f, 116.779f, 123.68f};  // B, G, R
  } else if (name == "keras-tf") {
    s.scale = float(1 / 127.5);
    s.mean = {1, 1, 1};
  } else if (name == "torch-imagenet") {
    s.resize = ResizeMode::kShorterCrop;
    s.interpolation = Filter::kBilinear;
    s.resize_shorter = 256;
    s.scale = float(1 / 255.0);
    s.mean = {0.485f, 0.456f, 0.406f};
    s.std = {0.229f, 0.224f, 0.225f};
  } else if (name == "clip") {
    s.resize = ResizeMode::kShorterCrop;
    s.interpolation = Filter::kBicubic;
    s.resize_shorter = 224;
    s.scale = float(1 / 255.0);
    s.mean = {0.48145466f, 0.4578275f, 0.40821073f};
    s.std = {0.26862954f, 0.26130258f, 0.27577711f};
  } else {
    std::string known;
    for (const auto& n : PresetNames()) known += (known.empty() ? "" : ", ") + n;
    return Status::InvalidArgument("unknown preprocessing preset '" + name + "' (known: " + known + ")");
  }
  return s;
}

namespace {

Result<ImageU8> ResizeForModelImpl(const ImageU8& img, const PreprocessSpec& spec) {
  if (spec.width <= 0 || spec.height <= 0) {
    return Status::InvalidArgument("model input size " + std::to_string(spec.width) + "x" +
                                   std::to_string(spec.height) + " is not positive");
  }
  if (img.width <= 0 || img.height <= 0 || img.channels <= 0 ||
      img.pixels.size() != size_t(img.width) * size_t(img.height) * size_t(img.channels)) {
    return Status::InvalidArgument("input image " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                                   "x" + std::to_string(img.channels) + " is empty or inconsistent");
  }
  switch (spec.resize) {
    case ResizeMode::kStretch:
      return PilResizeCrop(img, spec.width, spec.height, spec.interpolation, 0, 0, spec.width, spec.height);
    case ResizeMode::kShorterCrop: {
      const int s = spec.resize_shorter > 0 ? spec.resize_shorter : std::min(spec.width, spec.height);
      int w = 0, h = 0;
      DOPPEL_RETURN_IF_ERROR(ShorterSideSize(img.width, img.height, s, &w, &h));
      // Resize then centre crop, computing only the crop (torchvision returns the image untouched when it already
      // has the size; PilResizeCrop then copies).
      int64_t left = 0, top = 0;
      CenterCropOrigin(w, h, spec.width, spec.height, &left, &top);
      return PilResizeCrop(img, w, h, spec.interpolation, int(left), int(top), spec.width, spec.height, 0);
    }
    case ResizeMode::kLetterbox: {
      // Both sides scaled by the same factor, at least 1 pixel and at most the model's side: a 65500 x 1 strip
      // becomes 224 x 1, centred in padding.
      const double scale = std::min(double(spec.width) / img.width, double(spec.height) / img.height);
      const int w = int(std::clamp(std::nearbyint(img.width * scale), 1.0, double(spec.width)));
      const int h = int(std::clamp(std::nearbyint(img.height * scale), 1.0, double(spec.height)));
      // Centred, the odd pixel of padding after the image (left = floor((W - w) / 2)).
      return PilResizeCrop(img, w, h, spec.interpolation, -((spec.width - w) / 2), -((spec.height - h) / 2),
                           spec.width, spec.height, spec.pad_value);
    }
  }
  return Status::InvalidArgument("unknown resize mode " + std::to_string(int(spec.resize)));
}

}  // namespace

Result<ImageU8> ResizeForModel(const ImageU8& img, const PreprocessSpec& spec) {
  try {
    return ResizeForModelImpl(img, spec);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("resizing a " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                                     " image for the model: out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("resizing an image for the model: ") + e.what());
  }
}

Status FillTensor(const ImageU8& img, const PreprocessSpec& spec, Layout layout, float* dst) {
  if (img.channels != 3 || img.width != spec.width || img.height != spec.height ||
      img.pixels.size() != size_t(img.width) * img.height * 3) {
    return Status::InvalidArgument("FillTensor: image is " + std::to_string(img.width) + "x" +
                                   std::to_string(img.height) + "x" + std::to_string(img.channels) + ", expected " +
                                   std::to_string(spec.width) + "x" + std::to_string(spec.height) + "x3");
  }
  if (!dst) return Status::InvalidArgument("FillTensor: null destination");
  // value(output channel c, pixel p), all in float32; a table because p has only 256 values.
  const float divisor = DivisorFor(spec.scale);
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int p = 0; p < 256; ++p) {
      const float x = divisor != 0 ? float(p) / divisor : float(p) * spec.scale;
      lut[c][p] = (x - spec.mean[c]) / spec.std[c];
    }
  }
  const bool bgr = spec.channel_order == ChannelOrder::kBGR;
  const size_t n = size_t(img.width) * img.height;
  const uint8_t* px = img.pixels.data();
  for (int c = 0; c < 3; ++c) {
    const int src_c = bgr ? 2 - c : c;
    const float* t = lut[c];
    if (layout == Layout::kNCHW) {
      float* o = dst + c * n;
      for (size_t i = 0; i < n; ++i) o[i] = t[px[i * 3 + src_c]];
    } else {
      for (size_t i = 0; i < n; ++i) dst[i * 3 + c] = t[px[i * 3 + src_c]];
    }
  }
  return Status::OK();
}

Status Preprocess(const ImageU8& img, const PreprocessSpec& spec, Layout layout, float* dst) {
  if (spec.width <= 0 || spec.height <= 0) {
    return Status::InvalidArgument("Preprocess: model size " + std::to_string(spec.width) + "x" +
                                   std::to_string(spec.height) + " is not positive");
  }
  if (img.width <= 0 || img.height <= 0 || img.channels != 3) {
    return Status::InvalidArgument("Preprocess: input image is " + std::to_string(img.width) + "x" +
                                   std::to_string(img.height) + "x" + std::to_string(img.channels) +
                                   ", expected a non-empty 3-channel image");
  }
  try {
    Result<ImageU8> resized = ResizeForModel(img, spec);
    if (!resized.ok()) return resized.status().WithContext("Preprocess");
    return FillTensor(*resized, spec, layout, dst);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("Preprocess: out of memory for a " + std::to_string(img.width) + "x" +
                                     std::to_string(img.height) + " image");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("Preprocess: ") + e.what());
  }
}

}  // namespace doppel
