#include <string>

#include "trunks.h"

namespace doppel::modelgen {

Tensor BuildVGG16Trunk(GraphBuilder& b, const Tensor& x) {
  struct Block {
    int convs;
    int filters;
  };
  static constexpr Block kBlocks[] = {{2, 64}, {2, 128}, {3, 256}, {3, 512}, {3, 512}};
  Tensor y = x;
  int block_index = 1;
  for (const Block& blk : kBlocks) {
    const std::string block = "block" + std::to_string(block_index++);
    for (int i = 1; i <= blk.convs; ++i) {
      const std::string conv = block + "_conv" + std::to_string(i);
      y = b.Relu(conv + "_relu", b.Conv(conv, y, b.Width(blk.filters), 3, 1, 1, true));
    }
    y = b.MaxPool(block + "_pool", y, 2, 2, 0);
  }
  return y;
}

}  // namespace doppel::modelgen
