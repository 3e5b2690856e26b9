// Internal: the OpenAPI 3 description of the server's API, served at /api/v1/openapi.json.
#pragma once

#include <string>

namespace doppel {

std::string OpenApiJson();

}  // namespace doppel
