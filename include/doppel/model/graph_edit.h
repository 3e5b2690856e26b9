// Editing ONNX graphs with libonnx: cutting a model at an intermediate tensor so that a classifier's penultimate
// layer (or any feature map) becomes the output.
#pragma once

#include <string>
#include <vector>

#include "doppel/util/file.h"
#include "doppel/util/status.h"

namespace onnx {
class ModelProto;
}

namespace doppel {

Status ParseModelProto(const std::string& bytes, const std::string& name, onnx::ModelProto* model);

// Makes `tensor` the only graph output and removes every node, initializer and input it does not depend on.
// The output's type and shape come from ONNX shape inference (float32 of unknown shape if inference fails).
// NotFound naming the tensor (and some of the model's tensors) when no node produces it.
Status CutAtTensor(onnx::ModelProto* model, const std::string& tensor);

}  // namespace doppel
