#include "server/openapi.h"

#include <nlohmann/json.hpp>

namespace doppel {

using nlohmann::json;

namespace {

json ErrorResponse(const char* what) {
  return {{"description", what},
          {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
}

json JsonResponse(const char* what, const char* schema) {
  return {{"description", what},
          {"content", {{"application/json", {{"schema", {{"$ref", std::string("#/components/schemas/") + schema}}}}}}}};
}

json QueryBody() {
  json props = {{"image", {{"type", "string"}, {"format", "binary"}, {"description", "the query image"}}},
                {"k", {{"type", "integer"}, {"minimum", 1}}},
                {"offset", {{"type", "integer"}, {"minimum", 0}, {"maximum", 10000},
                            {"description", "search: hits to skip (paging); the answer's 'more' says if more follow"}}},
                {"model", {{"type", "string"}}},
                {"models", {{"type", "string"},
                            {"description", "compare: comma-separated model names; search: two or more models searched "
                                            "as one (fused: their normalised vectors concatenated)"}}},
                {"profile", {{"type", "string"}, {"enum", {"fast", "quality"}},
                             {"description", "search: fast (one model) or quality (the built-in models fused)"}}},
                {"filter", {{"type", "string"}}},
                {"id", {{"type", "integer"}, {"description", "query by an indexed picture instead of an image"}}},
                {"expand", {{"type", "integer"}, {"minimum", 0}, {"maximum", 10},
                            {"description", "query expansion: blend in the top N hits and search again (alpha-QE)"}}},
                {"whiten", {{"type", "boolean"},
                            {"description", "one-model search: re-rank the best 100 hits by PCA-whitened similarity "
                                            "learned from the collection (true/false; 1/0 in a form)"}}},
                {"dba", {{"type", "boolean"},
                         {"description", "one-model search, not with whiten or expand: re-rank the best 100 hits as if "
                                         "each were blended with its 3 nearest pictures (database-side augmentation)"}}}};
  return {{"required", true},
          {"content",
           {{"multipart/form-data", {{"schema", {{"type", "object"}, {"properties", props}}}}},
            {"application/json",
             {{"schema", {{"type", "object"}, {"properties", props}, {"additionalProperties", false}}}}},
            {"image/*", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}};
}

json Param(const char* name, const char* type, const char* description) {
  return {{"name", name}, {"in", "query"}, {"schema", {{"type", type}}}, {"description", description}};
}

json Errors(json responses) {
  responses["400"] = ErrorResponse("invalid request (field named in the message)");
  responses["404"] = ErrorResponse("no such model or picture");
  responses["411"] = ErrorResponse("a body needs a Content-Length (no chunked bodies)");
  responses["413"] = ErrorResponse("body or image over the limits");
  responses["415"] = ErrorResponse("unsupported content type, content encoding or image format");
  responses["503"] = ErrorResponse("busy: retry after the Retry-After seconds");
  return responses;
}

}  // namespace

std::string OpenApiJson() {
  json hit = {{"type", "object"},
              {"properties",
               {{"id", {{"type", "integer"}, {"format", "int64"},
                        {"description", "64-bit: JavaScript clients should read it as text (the page does)"}}},
                {"rank", {{"type", "integer"}, {"description", "from 1, counting skipped hits"}}},
                {"path", {{"type", "string"}}},
                {"distance", {{"type", "number"}}},
                {"score", {{"type", "number"}, {"description", "cosine similarity of the unit vectors"}}},
                {"width", {{"type", "integer"}}},
                {"height", {{"type", "integer"}}},
                {"thumbnail", {{"type", "string"}, {"description", "URL of the thumbnail"}}},
                {"image", {{"type", "string"}, {"description", "URL of the picture"}}}}}};
  json doc = {
      {"openapi", "3.0.3"},
      {"info", {{"title", "doppel"}, {"version", "1"}, {"description", "Reverse image search over one data directory."}}},
      {"paths",
       {{"/", {{"get", {{"summary", "the web page (compiled into the server)"},
                         {"responses", {{"200", {{"description", "text/html"}}}}}}}}},
        {"/healthz", {{"get", {{"summary", "liveness"}, {"responses", {{"200", {{"description", "ok"}}}}}}}}},
        {"/metrics", {{"get", {{"summary", "Prometheus metrics"}, {"responses", {{"200", {{"description", "text"}}}}}}}}},
        {"/api/v1/status",
         {{"get", {{"summary", "models, counts, default model; 'server': writes on, root names, limits"}, {"responses", {{"200", JsonResponse("status", "Status")}}}}}}},
        {"/api/v1/models",
         {{"get", {{"summary", "registered models"}, {"responses", {{"200", {{"description", "models"}}}}}}}}},
        {"/api/v1/search",
         {{"post",
           {{"summary", "the k pictures most similar to an uploaded image or an indexed picture"},
            {"requestBody", QueryBody()},
            {"responses", Errors({{"200", JsonResponse("hits", "SearchResult")}})}}}}},
        {"/api/v1/compare",
         {{"post",
           {{"summary", "the same query through several models side by side"},
            {"requestBody", QueryBody()},
            {"responses", Errors({{"200", {{"description", "per-model hits, overlap@k, rank correlation"}}}})}}}}},
        {"/api/v1/duplicates",
         {{"get", {{"summary", "duplicate groups in tiers (exact, near-copy, similar), largest first, one page at a time"},
                   {"parameters", json::array({Param("model", "string", "the similar tier's model"),
                                               Param("min_tier", "string", "exact, near-copy or similar (default)"),
                                               Param("threshold", "number", "the similar tier's distance"),
                                               Param("radius", "integer", "the near-copy tier's Hamming bits"),
                                               Param("max_group", "integer", "largest group"),
                                               Param("keep_rules", "string", "largest,biggest,oldest,newest,prefer:T,avoid:T"),
                                               Param("show_decided", "boolean", "also resolved groups"),
                                               Param("offset", "integer", "groups to skip"),
                                               Param("limit", "integer", "groups per page (default 50, at most 500)")})},
                   {"responses", Errors({{"200", {{"description", "{groups: [{members, keep_rule, decision?}], total, "
                                                                 "offset, more, model, min_tier, threshold, radius}"}}}})}}}}},
        {"/api/v1/duplicates/decisions",
         {{"post", {{"summary", "record decisions (writes; bearer token): {ids, keep, keep_paths?} or {decisions: [...]}; "
                                "keep = ids means not duplicates; ids may be strings of digits"},
                    {"responses", Errors({{"200", {{"description", "{recorded: N}"}}}})}}},
          {"delete", {{"summary", "forget the decisions naming ?ids=ID,ID (writes; bearer token)"},
                      {"responses", Errors({{"200", {{"description", "forgotten"}}}})}}}}},
        {"/api/v1/duplicates/apply",
         {{"post", {{"summary", "carry out the decisions (writes; bearer token): {dry_run: true} (default) answers the "
                                "plan; false moves the files into the data directory's trash"},
                    {"responses", Errors({{"200", {{"description", "{name, state, moves: [{id, from, bytes}], skipped: "
                                                                  "[{id, from, note}], bytes}"}}},
                                          {"409", ErrorResponse("an index job is running")}})}}}}},
        {"/api/v1/duplicates/undo",
         {{"post", {{"summary", "move a trash batch back and index it again (writes; bearer token): {batch?}"},
                    {"responses", Errors({{"200", {{"description", "the batch, moves = restored, reindexed"}}}})}}}}},
        {"/api/v1/trash",
         {{"get", {{"summary", "the trash's batches, newest first"},
                   {"responses", {{"200", {{"description", "{batches: [...]}"}}}}}}}}},
        {"/api/v1/jobs",
         {{"post", {{"summary", "start an index job on a configured root (writes; bearer token)"},
                    {"requestBody", {{"content", {{"application/json", {{"schema", {{"type", "object"},
                        {"properties", {{"root", {{"type", "string"}}}, {"prune", {{"type", "boolean"}}}}}}}}}}}}},
                    {"responses", Errors({{"202", {{"description", "started"}}}, {"401", ErrorResponse("no or wrong token")},
                                          {"403", ErrorResponse("writes are off")}, {"409", ErrorResponse("a job is running")}})}}}}},
        {"/api/v1/jobs/current",
         {{"get", {{"summary", "the running index job's progress (null when none)"}, {"responses", {{"200", {{"description", "job"}}}}}}},
          {"delete", {{"summary", "cancel the running index job (writes; bearer token)"},
                      {"responses", Errors({{"202", {{"description", "cancelling"}}}})}}}}},
        {"/api/v1/pictures",
         {{"post", {{"summary", "upload an image and index it (writes; bearer token); acknowledged once durable"},
                    {"requestBody", QueryBody()},
                    {"responses", Errors({{"201", {{"description", "indexed: its id"}}}, {"200", {{"description", "already indexed"}}},
                                          {"409", ErrorResponse("an index job is running: retry after it")}})}}}}},
        {"/api/v1/pictures/{id}",
         {{"delete", {{"summary", "remove a picture from every collection (writes; bearer token)"},
                      {"parameters", json::array({{{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "integer"}}}}})},
                      {"responses", Errors({{"200", {{"description", "deleted"}}}})}}},
          {"get", {{"summary", "an indexed picture's paths and fields"},
                   {"parameters", json::array({{{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "integer"}}}}})},
                   {"responses", Errors({{"200", {{"description", "picture"}}}})}}}}},
        {"/api/v1/images/{id}",
         {{"get", {{"summary", "an indexed picture's file, by id"},
                   {"parameters", json::array({{{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "integer"}}}}})},
                   {"responses", Errors({{"200", {{"description", "the image bytes"}}}})}}}}},
        {"/api/v1/thumbnails/{id}",
         {{"get", {{"summary", "a JPEG thumbnail of an indexed picture, by id"},
                   {"parameters", json::array({{{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "integer"}}}}})},
                   {"responses", Errors({{"200", {{"description", "image/jpeg"}}}})}}}}}}},
      {"components",
       {{"schemas",
         {{"Error",
           {{"type", "object"},
            {"properties",
             {{"error",
               {{"type", "object"},
                {"properties",
                 {{"code", {{"type", "string"},
                            {"enum", {"invalid_argument", "not_found", "already_exists", "io_error", "corruption",
                                      "unsupported", "resource_exhausted", "failed_precondition", "internal",
                                      "length_required", "payload_too_large", "unsupported_media_type", "busy",
                                      "unauthorized", "forbidden", "unavailable", "deadline_exceeded"}}}},
                  {"message", {{"type", "string"}}}}}}}}}}},
          {"Hit", hit},
          {"SearchResult",
           {{"type", "object"},
            {"properties",
             {{"model", {{"type", "string"}}},
              {"fingerprint", {{"type", "string"}}},
              {"took_ms", {{"type", "number"}}},
              {"whiten", {{"type", "boolean"}, {"description", "the hits were re-ordered by whitening"}}},
              {"dba", {{"type", "boolean"}, {"description", "the hits were re-ordered by database-side augmentation"}}},
              {"offset", {{"type", "integer"}}},
              {"k", {{"type", "integer"}}},
              {"more", {{"type", "boolean"}, {"description", "another page may follow"}}},
              {"hits", {{"type", "array"}, {"items", {{"$ref", "#/components/schemas/Hit"}}}}}}}}},
          {"Status", {{"type", "object"}}}}}}}};
  return doc.dump(2);
}

}  // namespace doppel
