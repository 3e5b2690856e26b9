doppel_add_bench(image_decode doppel_image PkgConfig::VIPS PkgConfig::JPEG)
