// The convolutional trunks, shared by both forms. Each takes an NCHW float tensor with 3 channels and returns the
// last 4-D feature map (before any global pooling or flattening), at 1/32 of the input side.
#pragma once

#include "graph_builder.h"

namespace doppel::modelgen {

// Keras ResNet50 v1 (keras.applications.resnet.ResNet50), layer names included: conv1_conv 7x7/2 (bias) + BN +
// ReLU, pool1_pool 3x3/2, then stages conv2..conv5 of [3, 4, 6, 3] bottleneck blocks with widths 64/128/256/512 and
// expansion 4. Block 1 of every stage has a projection shortcut (1x1 conv + BN); in the v1 layout the stride (2 in
// conv3..conv5) sits on the block's first 1x1 conv and on the shortcut, not on the 3x3 conv (torchvision's v1.5).
// Returns "conv5_block3_out" with Width(2048) channels.
Tensor BuildResNet50Trunk(GraphBuilder& b, const Tensor& x);

// Keras VGG16 convolutional part: block<B>_conv<I> 3x3 convs (with bias, then ReLU "block<B>_conv<I>_relu") and
// block<B>_pool 2x2/2 max pools. Returns "block5_pool" with Width(512) channels.
Tensor BuildVGG16Trunk(GraphBuilder& b, const Tensor& x);

}  // namespace doppel::modelgen
