// JSON codecs of the engine's types, shared by every front end (`doppel ... --json`, the HTTP API). Field names are
// part of doppel's interface: add fields, never rename them.
//
// Errors: {"error": {"code": "<stable code>", "message": "<what and where>"}}. The codes are the Status codes in
// snake case (invalid_argument, not_found, already_exists, io_error, corruption, unsupported, resource_exhausted,
// failed_precondition, internal) and never change; HttpStatus maps each to an HTTP status.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "doppel/engine/engine.h"
#include "doppel/store/schema.h"
#include "doppel/util/status.h"

namespace doppel::api {

nlohmann::json ToJson(const FieldValue& v);
nlohmann::json ToJson(const Hit& h);
nlohmann::json ToJson(const std::vector<Hit>& hits);
nlohmann::json ToJson(const ModelEntry& m, bool is_default = false);
nlohmann::json ToJson(const EngineStatus& s);
nlohmann::json ToJson(const IndexProgress& p);
nlohmann::json ToJson(const IndexSummary& s);
nlohmann::json ToJson(const Comparison& c);
nlohmann::json ToJson(const std::vector<DuplicateGroup>& groups);
// {"name", "state", "created", "bytes", "reindexed", "moves": [{"id", "from", "to", "bytes"}], "skipped": [... "note"]}
nlohmann::json ToJson(const TrashBatch& batch);

// {"model", "hits"}: the answer to a search.
nlohmann::json SearchJson(const std::string& model, const std::vector<Hit>& hits);

const char* ErrorCode(Status::Code code);  // "invalid_argument", ...
int HttpStatus(Status::Code code);          // 400, 404, 409, 500, 413, 415, 422, 503 ...
nlohmann::json ErrorJson(const Status& status);

}  // namespace doppel::api
