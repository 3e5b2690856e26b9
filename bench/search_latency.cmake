doppel_add_bench(search_latency doppel_engine doppel_model PkgConfig::VIPS)
