doppel_add_bench(embed doppel_model doppel_modelgen onnx onnx_proto protobuf::libprotobuf PkgConfig::VIPS)
