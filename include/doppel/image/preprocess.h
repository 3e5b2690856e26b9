// Preprocessing: RGB pixels -> the float tensor a model was trained on. A PreprocessSpec says exactly how (resize
// mode, interpolation, channel order, scaling, mean/std); presets reproduce the frameworks' pipelines
// (shared/reference/preprocessing.md).
//
// Limits: whatever the image's shape, only the model's width x height pixels are computed (resize.h's PilResizeCrop),
// so memory stays a small multiple of the model input plus the image's longer side. torchvision's Resize(256) of a
// 1 x 65500 strip is 256 x 16768000 pixels: that size is only a coordinate system here, the 224 x 224 centre is all
// that is computed, bit-identical to resizing everything and cropping. Thin images never give 0-pixel sides (the
// shorter side becomes resize_shorter, letterboxing keeps at least 1 pixel). Errors, never exceptions:
// InvalidArgument for a non-positive model size, an empty image, or a shorter-side resize whose long side would pass
// INT_MAX (Pillow's C int); ResourceExhausted when a resize would pass kMaxResizeWork (a 1 x 100,000,000 strip
// stretched to 224 x 224) or memory runs out.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "doppel/image/decode.h"
#include "doppel/image/image.h"
#include "doppel/image/resize.h"
#include "doppel/util/status.h"

namespace doppel {

enum class ResizeMode {
  kStretch,      // to width x height ignoring aspect (Keras load_img(target_size))
  kShorterCrop,  // shorter side to resize_shorter (torchvision Resize(int)), then centre crop width x height
  kLetterbox,    // fit inside width x height keeping aspect, pad with pad_value, image centred
};

enum class ChannelOrder { kRGB, kBGR };
enum class Layout { kNCHW, kNHWC };

struct PreprocessSpec {
  int width = 224;   // model input size, after resize and crop
  int height = 224;
  ResizeMode resize = ResizeMode::kStretch;
  Filter interpolation = Filter::kNearest;
  int resize_shorter = 0;  // kShorterCrop only: target of the shorter side; 0 means min(width, height)
  uint8_t pad_value = 0;   // kLetterbox only
  ChannelOrder channel_order = ChannelOrder::kRGB;
  // value[c] = (pixel[c] * scale - mean[c]) / std[c], in float32, c in the output channel order.
  float scale = 1.0f;
  std::array<float, 3> mean{0, 0, 0};
  std::array<float, 3> std{1, 1, 1};
  // Decoding choices that change pixels, so they are part of the spec (and of the model fingerprint).
  AlphaMode alpha = AlphaMode::kCompositeWhite;
  bool apply_exif_orientation = true;
  // Shrink-on-load: a JPEG is decoded at the smallest DCT scale (1/8, 1/4, 1/2) still at least the size the resize
  // step needs (Pillow's Image.draft rule with the requested size = what the resize needs; see DecodeOptionsFor),
  // then preprocessed as usual. Far less decoding for camera photos, but other pixels than a full decode: off by
  // default, and part of the spec (hence of the fingerprint) when on.
  bool shrink_on_load = false;
  // With shrink_on_load: the formats that shrink (DraftFormat bits; decode.h says how each one does). JPEG alone
  // unless the spec lists more: spec key "shrink_on_load": true (JPEG) or a list such as ["jpeg", "webp", "heif"].
  unsigned shrink_formats = kDraftJpeg;
};

// The decode options a model with this spec needs (alpha, EXIF orientation, shrink-on-load), on top of `base`
// (limits). With shrink_on_load, the draft size is what the resize step needs: stretch -> width x height;
// shorter-crop -> resize_shorter x resize_shorter (the shorter side's target; Pillow's rule on it picks the same
// scale as on the resized size, whose longer side is truncated); letterbox -> width x height (the box: never less
// than the fitted size). The draft size is taken in the picture's oriented frame.
DecodeOptions DecodeOptionsFor(const PreprocessSpec& spec, DecodeOptions base = {});

// Presets: "keras-caffe", "keras-tf", "torch-imagenet", "clip". Error lists the known names.
Result<PreprocessSpec> PresetSpec(const std::string& name);
std::vector<std::string> PresetNames();

// Resizes (and crops or pads) `img` to spec.width x spec.height exactly as the spec's framework would. Any channel
// count. Errors as above. Never throws.
Result<ImageU8> ResizeForModel(const ImageU8& img, const PreprocessSpec& spec);

// Writes one image's tensor (3 x height x width floats for NCHW, height x width x 3 for NHWC) to `dst`.
// `img` must already be spec.width x spec.height with 3 channels (InvalidArgument otherwise).
Status FillTensor(const ImageU8& img, const PreprocessSpec& spec, Layout layout, float* dst);

// ResizeForModel + FillTensor; `img` must have 3 channels. Never throws.
Status Preprocess(const ImageU8& img, const PreprocessSpec& spec, Layout layout, float* dst);

}  // namespace doppel
