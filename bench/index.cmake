doppel_add_bench(index doppel_engine doppel_model PkgConfig::VIPS)
