// Internal: the JSON form of a CollectionSchema kept in each collection's database, and name rules.
#pragma once

#include <string>
#include <string_view>

#include "doppel/store/schema.h"

namespace doppel {

// [A-Za-z_][A-Za-z0-9_]*, 1..64 characters: collection and field names. Field names are also SQLite column names
// (always double-quoted), so this rule is what keeps them inert there.
bool IsValidName(std::string_view name);
Result<VectorType> ParseVectorType(std::string_view s);
std::string SchemaToJson(const CollectionSchema& schema);
// Corruption when the text is not a schema this code wrote.
Result<CollectionSchema> SchemaFromJson(const std::string& text);

}  // namespace doppel
