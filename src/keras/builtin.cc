// The built-in pretrained models: nsfwjs 4.4.0's Keras layers-models, cut in their frozen ImageNet part.
// Tap choices and the x/255 input scaling follow the team reference shared/reference/nsfwjs-models.md (see docs/KERAS_IMPORT.md).
#include "doppel/keras/import.h"

namespace doppel::keras {
namespace {

KerasImportOptions NsfwjsOptions(int size) {
  KerasImportOptions o;
  o.input_size = size;
  o.scale = 1.0f / 255.0f;  // nsfwjs feeds x/255 (its BN statistics were re-estimated on that), not x/127.5 - 1
  o.mean[0] = o.mean[1] = o.mean[2] = 0;
  o.std[0] = o.std[1] = o.std[2] = 1;
  o.channel_order = "rgb";
  o.resize = "stretch";
  o.interpolation = "bilinear";
  o.metadata.push_back({"doppel.license",
                        "nsfwjs 4.4.0 model files: MIT (Copyright (c) 2019 Infinite Red, Inc.); the underlying "
                        "ImageNet weights: keras-applications, Apache-2.0"});
  return o;
}

}  // namespace

std::vector<std::string> BuiltinKerasModelNames() { return {"mobilenet_v2", "inception_v3"}; }

Result<BuiltinKerasModel> BuiltinKeras(const std::string& name) {
  BuiltinKerasModel b;
  b.name = name;
  b.subfolder = name;
  if (name == "mobilenet_v2") {
    b.options = NsfwjsOptions(224);
    b.options.tap = "block_10_depthwise_relu";  // 384-channel ReLU6; every layer before block_11_expand is frozen
    // JPEGs decoded at the smallest DCT scale still >= 224x224, WebPs by libwebp's scaled decode at that scale:
    // no loss beyond 0.005 mAP / copy R@1 on three large-JPEG sets (WebP: on two of the three), 4x (WebP 3.5-7x)
    // faster decode + embed (bench_shrink_quality, BENCHMARKS.md; README says why). HEIF thumbnails stay opt-in.
    b.options.shrink_on_load = true;
    b.options.shrink_formats = {"webp"};
    b.options.pool = "gem";
    b.options.gem_p = 3.0f;
    b.options.metadata.push_back(
        {"doppel.weights",
         "pretrained: npm nsfwjs 4.4.0 dist/models/mobilenet_v2 (Keras 2.2.4 MobileNetV2 1.0, uint8-quantised), cut "
         "at block_10_depthwise_relu; all layers up to the cut are frozen ImageNet weights from keras-applications "
         "(BatchNorm moving statistics re-estimated by nsfwjs's training on x/255 inputs)"});
  } else if (name == "inception_v3") {
    b.options = NsfwjsOptions(299);
    b.options.tap = "mixed5";  // fully frozen; mixed6 already has trainable ancestors
    // JPEGs decoded at the smallest DCT scale still >= 299x299 (WebPs likewise): no loss on three large-JPEG sets
    // (WebP: on two of the three), 1.6x (WebP 3.4-4.3x) faster decode + embed (bench_shrink_quality, BENCHMARKS.md).
    b.options.shrink_on_load = true;
    b.options.shrink_formats = {"webp"};
    b.options.pool = "max";
    b.options.metadata.push_back(
        {"doppel.weights",
         "pretrained: npm nsfwjs 4.4.0 dist/models/inception_v3 (Keras 2.2.4 InceptionV3, uint8-quantised), cut at "
         "mixed5; all layers up to the cut are frozen ImageNet weights from keras-applications (BatchNorm moving "
         "statistics re-estimated by nsfwjs's training on x/255 inputs)"});
  } else {
    return Status::NotFound("no built-in Keras model '" + name + "' (one of: mobilenet_v2, inception_v3)");
  }
  return b;
}

}  // namespace doppel::keras
