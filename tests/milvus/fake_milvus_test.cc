// FakeMilvus driven as a Milvus client drives Milvus: raw JSON over cpp-httplib, no doppel client code. Each test
// checks behaviour a client depends on (answers, codes, visibility, ordering, faults), with search results checked
// against a brute-force computation done here.
#include "milvus/fake_milvus.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <set>
#include <thread>

namespace doppel::testing {
namespace {

using nlohmann::json;

const httplib::Headers kInt64Numbers = {{"Accept-Type-Allow-Int64", "true"}};

class FakeMilvusTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(FakeMilvusOptions()); }

  void Start(const FakeMilvusOptions& options) {
    client_.reset();
    fake_ = std::make_unique<FakeMilvus>(options);
    ASSERT_GT(fake_->port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", fake_->port());
    client_->set_read_timeout(10, 0);
  }

  httplib::Result Post(const std::string& path, const std::string& body, const httplib::Headers& headers = {}) {
    return client_->Post(("/v2/vectordb/" + path).c_str(), headers, body, "application/json");
  }

  // The parsed answer of a POST that must come back as HTTP 200 with JSON (errors too, as Milvus sends them).
  json Call(const std::string& path, const json& body, const httplib::Headers& headers = {}) {
    auto r = Post(path, body.dump(), headers);
    if (!r) {
      ADD_FAILURE() << "no answer from " << path;
      return json::object();
    }
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_object()) {
      ADD_FAILURE() << path << " answered something that is not a JSON object: " << r->body;
      return json::object();
    }
    return j;
  }

  int Code(const std::string& path, const json& body, const httplib::Headers& headers = {}) {
    return Call(path, body, headers).value("code", -1);
  }

  // The data of a call that must succeed.
  json Data(const std::string& path, const json& body, const httplib::Headers& headers = {}) {
    json j = Call(path, body, headers);
    EXPECT_EQ(j.value("code", -1), 0) << path << " " << body.dump() << " -> " << j.dump();
    return j.contains("data") ? j["data"] : json();
  }

  // A collection as a client of an image index would make it: VarChar key, a path, an Int64, a float vector.
  void CreateImages(const std::string& name, const std::string& metric = "L2", int dim = 4,
                    const std::string& consistency = "Strong") {
    json body = {{"collectionName", name},
                 {"schema",
                  {{"autoID", false},
                   {"enableDynamicField", false},
                   {"fields",
                    {{{"fieldName", "pk"},
                      {"dataType", "VarChar"},
                      {"isPrimary", true},
                      {"elementTypeParams", {{"max_length", "64"}}}},
                     {{"fieldName", "path"}, {"dataType", "VarChar"}, {"elementTypeParams", {{"max_length", "256"}}}},
                     {{"fieldName", "n"}, {"dataType", "Int64"}},
                     {{"fieldName", "vector"},
                      {"dataType", "FloatVector"},
                      {"elementTypeParams", {{"dim", std::to_string(dim)}}}}}}}},
                 {"indexParams",
                  {{{"fieldName", "vector"},
                    {"indexName", "vector"},
                    {"metricType", metric},
                    {"params", {{"index_type", "HNSW"}, {"M", 16}, {"efConstruction", 200}}}}}},
                 {"params", {{"consistencyLevel", consistency}}}};
    Data("collections/create", body);
  }

  json Row(const std::string& pk, const std::string& path, int64_t n, const std::vector<float>& v) {
    return {{"pk", pk}, {"path", path}, {"n", n}, {"vector", v}};
  }

  // The primary keys of result rows, in order.
  static std::vector<std::string> Keys(const json& rows, const std::string& field = "pk") {
    std::vector<std::string> out;
    for (const json& r : rows) out.push_back(r[field].is_string() ? r[field].get<std::string>() : r[field].dump());
    return out;
  }

  std::unique_ptr<FakeMilvus> fake_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(FakeMilvusTest, CollectionLifecycleAndDescribe) {
  CreateImages("imgs", "COSINE", 8);
  EXPECT_EQ(Data("collections/list", json::object()), json::array({"imgs"}));
  EXPECT_EQ(Data("collections/has", {{"collectionName", "imgs"}})["has"], true);
  EXPECT_EQ(Data("collections/has", {{"collectionName", "nope"}})["has"], false);

  json d = Data("collections/describe", {{"collectionName", "imgs"}});
  EXPECT_EQ(d["collectionName"], "imgs");
  EXPECT_EQ(d["load"], "LoadStateLoaded") << "created with indexParams: loaded";
  EXPECT_EQ(d["consistencyLevel"], "Strong");
  EXPECT_EQ(d["autoId"], false);
  ASSERT_EQ(d["fields"].size(), 4u);
  EXPECT_EQ(d["fields"][0]["name"], "pk");
  EXPECT_EQ(d["fields"][0]["primaryKey"], true);
  EXPECT_EQ(d["fields"][0]["type"], "VarChar");
  EXPECT_EQ(d["fields"][3]["type"], "FloatVector");
  EXPECT_EQ(d["fields"][3]["params"], json::array({{{"key", "dim"}, {"value", "8"}}})) << "dim as a string";
  ASSERT_EQ(d["indexes"].size(), 1u);
  EXPECT_EQ(d["indexes"][0]["metricType"], "COSINE");
  EXPECT_EQ(d["indexes"][0]["fieldName"], "vector");
  json state = Data("collections/get_load_state", {{"collectionName", "imgs"}});
  EXPECT_EQ(state["loadState"], "LoadStateLoaded");
  EXPECT_EQ(state["loadProgress"], 100);

  // The same definition again is accepted; a different one under the same name is not.
  CreateImages("imgs", "COSINE", 8);
  json other = Call("collections/create", {{"collectionName", "imgs"}, {"dimension", 8}});
  EXPECT_NE(other["code"], 0);
  EXPECT_NE(other["message"].get<std::string>().find("different parameters"), std::string::npos);

  Data("collections/drop", {{"collectionName", "imgs"}});
  EXPECT_EQ(Data("collections/has", {{"collectionName", "imgs"}})["has"], false);
  EXPECT_EQ(Code("collections/drop", {{"collectionName", "imgs"}}), 0) << "dropping is idempotent";
  for (const char* path : {"collections/describe", "collections/load", "collections/get_load_state",
                           "collections/get_stats", "entities/query", "entities/insert"}) {
    json j = Call(path, {{"collectionName", "imgs"}, {"data", {{{"pk", "a"}}}}});
    EXPECT_EQ(j["code"], 100) << path << ": " << j.dump();
  }
}

TEST_F(FakeMilvusTest, QuickCreateHasIdVectorAndDynamicFields) {
  Data("collections/create", {{"collectionName", "q"}, {"dimension", 3}});
  json d = Data("collections/describe", {{"collectionName", "q"}});
  EXPECT_EQ(d["fields"][0]["name"], "id");
  EXPECT_EQ(d["fields"][0]["type"], "Int64");
  EXPECT_EQ(d["fields"][1]["name"], "vector");
  EXPECT_EQ(d["indexes"][0]["metricType"], "COSINE") << "the quick form's default metric";
  EXPECT_EQ(d["enableDynamicField"], true);
  EXPECT_EQ(d["consistencyLevel"], "Bounded") << "the default level";
  Data("entities/insert", {{"collectionName", "q"}, {"data", {{{"id", 7}, {"vector", {1, 0, 0}}, {"color", "red"}}}}});
  json rows =
      Data("entities/query", {{"collectionName", "q"}, {"filter", "color == \"red\""}, {"consistencyLevel", "Strong"}});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["color"], "red") << "dynamic keys come back merged into the row";
  EXPECT_EQ(rows[0]["id"], "7");
  EXPECT_EQ(Code("collections/create", {{"collectionName", "q2"}}), 1100) << "the quick form needs a dimension";
}

TEST_F(FakeMilvusTest, RequestEnvelopeErrors) {
  auto empty = Post("collections/list", "");
  ASSERT_TRUE(empty);
  EXPECT_EQ(json::parse(empty->body)["code"], 1801) << "an empty body is refused; {} is the empty request";
  auto bad = Post("collections/list", "{\"dbName\": ");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 200) << "errors are HTTP 200";
  EXPECT_EQ(json::parse(bad->body)["code"], 1801);
  EXPECT_EQ(Code("collections/describe", json::object()), 1802) << "collectionName is required";
  EXPECT_EQ(Code("collections/list", {{"dbName", "other"}}), 800);
  auto unknown = Post("collections/frobnicate", "{}");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  CreateImages("imgs");
  json wrong_type = Call("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}, {"limit", "10"}});
  EXPECT_EQ(wrong_type["code"], 1801) << "Go's binding refuses a string where an int belongs: " << wrong_type.dump();
  // Go matches JSON keys case-insensitively.
  EXPECT_EQ(Data("collections/has", {{"COLLECTIONNAME", "imgs"}})["has"], true);
}

TEST_F(FakeMilvusTest, SchemaValidation) {
  auto create = [&](json fields, json index = json::array()) {
    return Call("collections/create",
                {{"collectionName", "c"}, {"schema", {{"fields", fields}}}, {"indexParams", index}});
  };
  json pk = {{"fieldName", "id"}, {"dataType", "Int64"}, {"isPrimary", true}};
  json vec = {{"fieldName", "v"}, {"dataType", "FloatVector"}, {"elementTypeParams", {{"dim", 4}}}};
  EXPECT_EQ(create({pk})["code"], 1100) << "no vector field";
  EXPECT_EQ(create({vec})["code"], 1100) << "no primary key";
  EXPECT_EQ(create({pk, vec, {{"fieldName", "s"}, {"dataType", "VarChar"}}})["code"], 1100)
      << "VarChar without max_length";
  json misspelt =
      create({pk, vec, {{"fieldName", "s"}, {"dataType", "Varchar"}, {"elementTypeParams", {{"max_length", 8}}}}});
  EXPECT_EQ(misspelt["code"], 1100) << "type names are case-sensitive: " << misspelt.dump();
  EXPECT_EQ(create({pk, {{"fieldName", "v"}, {"dataType", "FloatVector"}}})["code"], 1100) << "no dim";
  EXPECT_EQ(create({pk, vec}, {{{"fieldName", "w"}, {"metricType", "L2"}}})["code"], 1802)
      << "index on a missing field";
  EXPECT_EQ(create({pk, vec}, {{{"fieldName", "v"}, {"metricType", "HAMMING"}}})["code"], 1100)
      << "binary metric on floats";
  EXPECT_EQ(Data("collections/has", {{"collectionName", "c"}})["has"], false) << "nothing was created";
  EXPECT_EQ(create({pk, vec}, {{{"fieldName", "v"}, {"metricType", "l2"}}})["code"], 0);
  EXPECT_EQ(Data("collections/describe", {{"collectionName", "c"}})["indexes"][0]["metricType"], "L2");
}

TEST_F(FakeMilvusTest, InsertGetQueryCountDeleteWithStringKeys) {
  CreateImages("imgs");
  json ins =
      Data("entities/insert", {{"collectionName", "imgs"},
                               {"data",
                                {Row("b", "coco/b.jpg", 2, {0, 1, 0, 0}), Row("a", "coco/a.jpg", 1, {1, 0, 0, 0}),
                                 Row("c", "voc/c.jpg", 3, {0, 0, 1, 0})}}});
  EXPECT_EQ(ins["insertCount"], 3);
  EXPECT_EQ(ins["insertIds"], json::array({"b", "a", "c"}));

  json one = Data("entities/get", {{"collectionName", "imgs"}, {"id", "a"}, {"outputFields", {"path"}}});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], json({{"pk", "a"}, {"path", "coco/a.jpg"}})) << "the key always comes back, outputs as asked";
  json some = Data("entities/get", {{"collectionName", "imgs"}, {"id", {"c", "a", "zzz"}}});
  EXPECT_EQ(Keys(some), (std::vector<std::string>{"a", "c"})) << "ordered by key, missing ids skipped";
  EXPECT_EQ(some[0]["vector"], json::array({1, 0, 0, 0})) << "\"*\" includes vectors";
  EXPECT_EQ(some[0]["n"], "1") << "Int64 values are strings by default";

  json coco =
      Data("entities/query", {{"collectionName", "imgs"}, {"filter", "path like \"coco/%\""}, {"outputFields", {"n"}}});
  EXPECT_EQ(Keys(coco), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(coco[0].size(), 2u) << "pk + n: " << coco[0].dump();

  json count = Data("entities/query", {{"collectionName", "imgs"}, {"filter", ""}, {"outputFields", {"count(*)"}}});
  EXPECT_EQ(count, json::array({{{"count(*)", "3"}}})) << "count(*) is an Int64: a string by default";
  json count_number =
      Data("entities/query", {{"collectionName", "imgs"}, {"outputFields", {"count(*)"}}}, kInt64Numbers);
  EXPECT_EQ(count_number[0]["count(*)"], 3);

  json del = Call("entities/delete", {{"collectionName", "imgs"}, {"filter", "pk in [\"a\", \"c\"]"}});
  EXPECT_EQ(del["code"], 0);
  EXPECT_EQ(del["data"], json::object());
  EXPECT_EQ(Keys(Data("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}})),
            std::vector<std::string>{"b"});
  EXPECT_EQ(fake_->Rows("imgs"), 1);
  EXPECT_EQ(Data("collections/get_stats", {{"collectionName", "imgs"}})["rowCount"], 3)
      << "statistics count deleted rows until a compaction, which never comes here";
  // The older delete form: `id` when there is no filter.
  Data("entities/delete", {{"collectionName", "imgs"}, {"id", {"b"}}});
  EXPECT_EQ(fake_->Rows("imgs"), 0);
  EXPECT_EQ(Code("entities/delete", {{"collectionName", "imgs"}}), 1802) << "neither filter nor id";
}

TEST_F(FakeMilvusTest, Int64KeysAreStringsUnlessTheHeaderAllowsNumbers) {
  json schema = {{"fields",
                  {{{"fieldName", "id"}, {"dataType", "Int64"}, {"isPrimary", true}},
                   {{"fieldName", "size"}, {"dataType", "Int64"}},
                   {{"fieldName", "v"}, {"dataType", "FloatVector"}, {"elementTypeParams", {{"dim", "2"}}}}}}};
  Data("collections/create",
       {{"collectionName", "ints"}, {"schema", schema}, {"indexParams", {{{"fieldName", "v"}, {"metricType", "IP"}}}}});
  const int64_t big = (int64_t{1} << 53) + 1;  // not exact as a double
  json ins =
      Data("entities/insert",
           {{"collectionName", "ints"},
            {"data", {{{"id", big}, {"size", 10}, {"v", {1, 0}}}, {{"id", "5"}, {"size", "20"}, {"v", {0, 1}}}}}});
  EXPECT_EQ(ins["insertIds"], json::array({std::to_string(big), "5"})) << "ids accepted as numbers or strings";
  json ins_numbers =
      Data("entities/insert", {{"collectionName", "ints"}, {"data", {{{"id", 6}, {"size", 1}, {"v", {1, 1}}}}}},
           kInt64Numbers);
  EXPECT_EQ(ins_numbers["insertIds"], json::array({6}));

  json by_string = Data("entities/get", {{"collectionName", "ints"}, {"id", {std::to_string(big)}}});
  ASSERT_EQ(by_string.size(), 1u);
  EXPECT_EQ(by_string[0]["id"], std::to_string(big)) << "exact as a string";
  EXPECT_EQ(by_string[0]["size"], "10") << "every Int64 field, not only the key";
  json as_numbers = Data("entities/get", {{"collectionName", "ints"}, {"id", big}}, kInt64Numbers);
  ASSERT_EQ(as_numbers.size(), 1u);
  EXPECT_EQ(as_numbers[0]["id"].get<int64_t>(), big);
  EXPECT_EQ(as_numbers[0]["size"], 10);
  EXPECT_EQ(Code("entities/get", {{"collectionName", "ints"}, {"id", {"x1"}}}), 1806) << "not an integer";
  json hits = Data("entities/search", {{"collectionName", "ints"}, {"data", {{1, 0}}}, {"limit", 1}});
  EXPECT_EQ(hits[0]["id"], std::to_string(big));
  EXPECT_EQ(Data("entities/query", {{"collectionName", "ints"}, {"filter", "id == " + std::to_string(big)}}).size(), 1u)
      << "an int64 literal in a filter is exact";
}

TEST_F(FakeMilvusTest, AutoIdAssignsLargeIds) {
  json schema = {{"autoID", true},
                 {"fields",
                  {{{"fieldName", "id"}, {"dataType", "Int64"}, {"isPrimary", true}},
                   {{"fieldName", "v"}, {"dataType", "FloatVector"}, {"elementTypeParams", {{"dim", "2"}}}}}}};
  Data("collections/create",
       {{"collectionName", "auto"}, {"schema", schema}, {"indexParams", {{{"fieldName", "v"}, {"metricType", "L2"}}}}});
  EXPECT_EQ(Data("collections/describe", {{"collectionName", "auto"}})["autoId"], true);
  json ins = Data("entities/insert", {{"collectionName", "auto"}, {"data", {{{"v", {1, 2}}}, {{"v", {3, 4}}}}}});
  ASSERT_EQ(ins["insertIds"].size(), 2u);
  int64_t first = std::stoll(ins["insertIds"][0].get<std::string>());
  EXPECT_GT(first, int64_t{1} << 53) << "Milvus ids exceed what a double holds exactly";
  EXPECT_NE(ins["insertIds"][0], ins["insertIds"][1]);
  EXPECT_EQ(Code("entities/insert", {{"collectionName", "auto"}, {"data", {{{"id", 1}, {"v", {1, 2}}}}}}), 1804);
  EXPECT_EQ(Code("entities/upsert", {{"collectionName", "auto"}, {"data", {{{"id", first}, {"v", {1, 2}}}}}}), 1100);
}

TEST_F(FakeMilvusTest, InsertKeepsDuplicateKeysUpsertReplaces) {
  CreateImages("imgs");
  Data("entities/insert", {{"collectionName", "imgs"}, {"data", {Row("a", "first", 1, {1, 0, 0, 0})}}});
  Data("entities/insert", {{"collectionName", "imgs"}, {"data", {Row("a", "second", 2, {1, 0, 0, 0})}}});
  json count = Data("entities/query", {{"collectionName", "imgs"}, {"outputFields", {"count(*)"}}}, kInt64Numbers);
  EXPECT_EQ(count[0]["count(*)"], 2) << "a duplicate key is a second row";
  EXPECT_EQ(fake_->Rows("imgs"), 2);
  json rows = Data("entities/query", {{"collectionName", "imgs"}, {"filter", "pk == \"a\""}});
  ASSERT_EQ(rows.size(), 1u) << "reads return a key once";
  EXPECT_EQ(rows[0]["path"], "second") << "the latest write";
  json hits = Data("entities/search", {{"collectionName", "imgs"}, {"data", {{1, 0, 0, 0}}}, {"limit", 5}});
  EXPECT_EQ(Keys(hits), std::vector<std::string>{"a"}) << "search returns a key once";

  json up = Data("entities/upsert", {{"collectionName", "imgs"}, {"data", {Row("a", "third", 3, {0, 1, 0, 0})}}});
  EXPECT_EQ(up["upsertCount"], 1);
  EXPECT_EQ(up["upsertIds"], json::array({"a"}));
  EXPECT_EQ(fake_->Rows("imgs"), 1) << "upsert replaces every row of the key";
  EXPECT_EQ(Data("entities/get", {{"collectionName", "imgs"}, {"id", "a"}})[0]["path"], "third");
}

TEST_F(FakeMilvusTest, InsertChecksRowsAndNullableFields) {
  json schema = {
      {"fields",
       {{{"fieldName", "pk"}, {"dataType", "VarChar"}, {"isPrimary", true}, {"elementTypeParams", {{"max_length", 8}}}},
        {{"fieldName", "label"}, {"dataType", "VarChar"}, {"elementTypeParams", {{"max_length", 4}}}},
        {{"fieldName", "tag"}, {"dataType", "VarChar"}, {"nullable", true}, {"elementTypeParams", {{"max_length", 8}}}},
        {{"fieldName", "size"}, {"dataType", "Int32"}},
        {{"fieldName", "v"}, {"dataType", "FloatVector"}, {"elementTypeParams", {{"dim", 2}}}}}}};
  Data("collections/create",
       {{"collectionName", "c"}, {"schema", schema}, {"indexParams", {{{"fieldName", "v"}, {"metricType", "L2"}}}}});
  auto insert = [&](json row) { return Call("entities/insert", {{"collectionName", "c"}, {"data", {row}}}); };
  EXPECT_EQ(insert({{"pk", "a"}, {"label", "x"}, {"tag", nullptr}, {"size", 1}, {"v", {1, 2}}})["code"], 0);
  EXPECT_EQ(insert({{"pk", "b"}, {"size", 2}, {"v", {1, 2}}})["code"], 0)
      << "an absent nullable field is null; an absent VarChar reads as \"\" (checkAndSetData)";
  EXPECT_EQ(insert({{"pk", "c"}, {"label", "x"}, {"v", {1, 2}}})["code"], 1804) << "an absent Int32";
  EXPECT_EQ(insert({{"pk", "d"}, {"label", "x"}, {"size", 1}, {"v", {1, 2, 3}}})["code"], 1804) << "wrong dim";
  EXPECT_EQ(insert({{"pk", "e"}, {"label", "x"}, {"size", 1}, {"v", {1, 2}}, {"extra", 1}})["code"], 1804)
      << "a field the schema does not have, without dynamic fields";
  EXPECT_EQ(insert({{"pk", "f"}, {"label", "toolong"}, {"size", 1}, {"v", {1, 2}}})["code"], 1100) << "max_length";
  EXPECT_EQ(insert({{"pk", "g"}, {"label", "x"}, {"size", 1}})["code"], 1804) << "no vector";
  EXPECT_EQ(insert({{"pk", "h"}, {"label", "x"}, {"size", 1LL << 40}, {"v", {1, 2}}})["code"], 1804) << "Int32 range";
  EXPECT_EQ(Code("entities/insert", {{"collectionName", "c"}, {"data", json::array()}}), 1804);
  EXPECT_EQ(Code("entities/insert", {{"collectionName", "c"}}), 1802);
  json rows =
      Data("entities/query", {{"collectionName", "c"}, {"filter", "pk >= \"a\""}, {"outputFields", {"label", "tag"}}});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0]["tag"].is_null());
  EXPECT_EQ(rows[1]["label"], "");
  EXPECT_TRUE(rows[1]["tag"].is_null());
}

// Search results against a brute-force computation here, for each float metric.
TEST_F(FakeMilvusTest, SearchMatchesBruteForceForEachMetric) {
  const int dim = 6, rows = 40;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> vectors(rows, std::vector<float>(dim));
  for (auto& v : vectors) {
    for (float& x : v) x = normal(rng);
  }
  std::vector<std::vector<float>> queries(2, std::vector<float>(dim));
  for (auto& v : queries) {
    for (float& x : v) x = normal(rng);
  }
  for (std::string metric : {"L2", "IP", "COSINE"}) {
    SCOPED_TRACE(metric);
    std::string name = "c_" + metric;
    CreateImages(name, metric, dim);
    json data = json::array();
    for (int i = 0; i < rows; ++i) data.push_back(Row("k" + std::to_string(i), "p", i, vectors[i]));
    Data("entities/insert", {{"collectionName", name}, {"data", data}});

    // Expected: the rows with n odd (the filter), scored and ranked here.
    auto score = [&](const std::vector<float>& q, const std::vector<float>& v) {
      double dot = 0, nq = 0, nv = 0, l2 = 0;
      for (int i = 0; i < dim; ++i) {
        dot += q[i] * v[i];
        nq += q[i] * q[i];
        nv += v[i] * v[i];
        l2 += (q[i] - v[i]) * (q[i] - v[i]);
      }
      return metric == "L2" ? l2 : metric == "IP" ? dot : dot / std::sqrt(nq * nv);
    };
    const int limit = 5, offset = 2;
    std::string odd = "n in [";
    for (int i = 1; i < rows; i += 2) odd += std::to_string(i) + (i + 2 < rows ? ", " : "]");
    json hits = Data("entities/search", {{"collectionName", name},
                                         {"data", queries},
                                         {"annsField", "vector"},
                                         {"filter", odd},
                                         {"limit", limit},
                                         {"offset", offset},
                                         {"outputFields", {"n"}},
                                         {"searchParams", {{"metricType", metric}, {"params", {{"ef", 64}}}}}});
    json full = Call("entities/search", {{"collectionName", name}, {"data", queries}, {"limit", limit}});
    EXPECT_EQ(full["topks"], json::array({limit, limit}));
    ASSERT_EQ(hits.size(), 2u * limit);
    for (size_t q = 0; q < queries.size(); ++q) {
      std::vector<std::pair<double, int>> expected;
      for (int i = 1; i < rows; i += 2) expected.push_back({score(queries[q], vectors[i]), i});
      std::stable_sort(expected.begin(), expected.end(), [&](const auto& a, const auto& b) {
        return metric == "L2" ? a.first < b.first : a.first > b.first;
      });
      for (int r = 0; r < limit; ++r) {
        const json& hit = hits[q * limit + r];
        const auto& [want_score, want_row] = expected[offset + r];
        EXPECT_EQ(hit["pk"], "k" + std::to_string(want_row)) << "query " << q << " rank " << r;
        EXPECT_NEAR(hit["distance"].get<double>(), want_score, 1e-4 * std::max(1.0, std::abs(want_score)));
        EXPECT_EQ(hit["n"], std::to_string(want_row));
        EXPECT_FALSE(hit.contains("vector")) << "only the asked outputs";
      }
    }
    json wrong_metric = Call("entities/search", {{"collectionName", name},
                                                 {"data", {queries[0]}},
                                                 {"searchParams", {{"metricType", metric == "L2" ? "IP" : "L2"}}}});
    EXPECT_EQ(wrong_metric["code"], 1100) << wrong_metric.dump();
  }
}

TEST_F(FakeMilvusTest, SearchEdges) {
  CreateImages("imgs", "L2", 2);
  Data("entities/insert", {{"collectionName", "imgs"},
                           {"data", {Row("a", "p", 1, {0, 0}), Row("b", "p", 2, {1, 0}), Row("c", "p", 3, {5, 5})}}});
  json none = Call("entities/search", {{"collectionName", "imgs"}, {"data", {{0, 0}}}, {"filter", "n > 10"}});
  EXPECT_EQ(none["code"], 0);
  EXPECT_EQ(none["data"], json::array()) << "no hit: an empty list";
  json few = Call("entities/search",
                  {{"collectionName", "imgs"}, {"data", {{0, 0}, {5, 5}}}, {"filter", "n >= 2"}, {"limit", 10}});
  EXPECT_EQ(few["topks"], json::array({2, 2})) << "fewer hits than the limit";
  EXPECT_EQ(Keys(few["data"]), (std::vector<std::string>{"b", "c", "c", "b"}));
  EXPECT_DOUBLE_EQ(few["data"][0]["distance"].get<double>(), 1.0) << "L2 is the squared distance";
  EXPECT_EQ(Code("entities/search", {{"collectionName", "imgs"}, {"data", {{0, 0, 0}}}}), 1801) << "wrong dim";
  EXPECT_EQ(Code("entities/search", {{"collectionName", "imgs"}}), 1802) << "data is required";
  EXPECT_EQ(Code("entities/search", {{"collectionName", "imgs"}, {"data", {{0, 0}}}, {"annsField", "nope"}}), 1801);
  json ef = Call(
      "entities/search",
      {{"collectionName", "imgs"}, {"data", {{0, 0}}}, {"limit", 10}, {"searchParams", {{"params", {{"ef", 5}}}}}});
  EXPECT_NE(ef["code"], 0) << "HNSW's ef below k";
}

TEST_F(FakeMilvusTest, BinaryVectorsBase64InAndOutHammingSearch) {
  json schema = {{"fields",
                  {{{"fieldName", "id"}, {"dataType", "Int64"}, {"isPrimary", true}},
                   {{"fieldName", "bits"}, {"dataType", "BinaryVector"}, {"elementTypeParams", {{"dim", "16"}}}}}}};
  Data("collections/create",
       {{"collectionName", "b"},
        {"schema", schema},
        {"indexParams",
         {{{"fieldName", "bits"}, {"metricType", "HAMMING"}, {"params", {{"index_type", "BIN_FLAT"}}}}}}});
  // Go's json.Unmarshal into []byte takes base64 ("AP8=" is 0x00 0xff) or an array of byte values.
  Data("entities/insert",
       {{"collectionName", "b"},
        {"data", {{{"id", 1}, {"bits", "AP8="}}, {{"id", 2}, {"bits", {0, 0}}}, {{"id", 3}, {"bits", {255, 255}}}}}});
  EXPECT_EQ(Code("entities/insert", {{"collectionName", "b"}, {"data", {{{"id", 4}, {"bits", {1, 2, 3}}}}}}), 1804)
      << "dim/8 bytes";
  json hits =
      Data("entities/search", {{"collectionName", "b"}, {"data", {"AAA="}}, {"outputFields", {"bits"}}}, kInt64Numbers);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0]["id"], 2);
  EXPECT_EQ(hits[0]["distance"], 0);
  EXPECT_EQ(hits[1]["id"], 1);
  EXPECT_EQ(hits[1]["distance"], 8);
  EXPECT_EQ(hits[2]["distance"], 16);
  EXPECT_EQ(hits[1]["bits"], "AP8=") << "binary vectors come back as base64 (Go's []byte)";
  json by_array =
      Data("entities/search", {{"collectionName", "b"}, {"data", {{255, 255}}}, {"limit", 1}}, kInt64Numbers);
  EXPECT_EQ(by_array[0]["id"], 3);
}

TEST_F(FakeMilvusTest, ReadsNeedALoadedCollection) {
  Start([] {
    FakeMilvusOptions o;
    o.load_delay_requests = 2;
    return o;
  }());
  json schema = {{"fields",
                  {{{"fieldName", "id"}, {"dataType", "Int64"}, {"isPrimary", true}},
                   {{"fieldName", "n"}, {"dataType", "Int64"}},
                   {{"fieldName", "v"}, {"dataType", "FloatVector"}, {"elementTypeParams", {{"dim", "2"}}}}}}};
  Data("collections/create", {{"collectionName", "c"}, {"schema", schema}});
  EXPECT_EQ(Data("collections/describe", {{"collectionName", "c"}})["load"], "LoadStateNotLoad");
  EXPECT_EQ(Data("collections/get_load_state", {{"collectionName", "c"}}), json({{"loadState", "LoadStateNotLoad"}}));
  // Writes do not need a load.
  Data("entities/insert", {{"collectionName", "c"},
                           {"data", {{{"id", 1}, {"n", 1}, {"v", {1, 1}}}, {{"id", 2}, {"n", 2}, {"v", {2, 2}}}}}});
  EXPECT_EQ(Code("entities/search", {{"collectionName", "c"}, {"data", {{1, 1}}}}), 101);
  EXPECT_EQ(Code("entities/query", {{"collectionName", "c"}, {"filter", "id > 0"}}), 101);
  EXPECT_EQ(Code("entities/get", {{"collectionName", "c"}, {"id", 1}}), 101);
  EXPECT_EQ(Code("entities/delete", {{"collectionName", "c"}, {"filter", "n == 1"}}), 101)
      << "a delete that needs a query needs a loaded collection";
  EXPECT_EQ(Code("entities/delete", {{"collectionName", "c"}, {"filter", "id in [2]"}}), 0) << "a key term does not";
  EXPECT_EQ(fake_->Rows("c"), 1);

  EXPECT_EQ(Code("collections/load", {{"collectionName", "c"}}), 700) << "no index on the vector field";
  Data("indexes/create",
       {{"collectionName", "c"}, {"indexParams", {{{"fieldName", "v"}, {"metricType", "L2"}, {"indexName", "vi"}}}}});
  EXPECT_EQ(Data("indexes/list", {{"collectionName", "c"}}), json::array({"vi"}));
  Data("collections/load", {{"collectionName", "c"}});
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Code("entities/query", {{"collectionName", "c"}, {"filter", "id > 0"}}), 101) << "still loading";
    json state = Data("collections/get_load_state", {{"collectionName", "c"}});
    EXPECT_EQ(state["loadState"], "LoadStateLoading");
    EXPECT_LT(state["loadProgress"].get<int>(), 100);
  }
  EXPECT_EQ(Data("collections/get_load_state", {{"collectionName", "c"}})["loadState"], "LoadStateLoaded");
  EXPECT_EQ(Data("entities/query", {{"collectionName", "c"}, {"filter", "id > 0"}}).size(), 1u);
  Data("collections/release", {{"collectionName", "c"}});
  EXPECT_EQ(Code("entities/search", {{"collectionName", "c"}, {"data", {{1, 1}}}}), 101) << "released";
}

TEST_F(FakeMilvusTest, ResultWindowIsCappedAt16384) {
  CreateImages("imgs", "L2", 2);
  Data("entities/insert", {{"collectionName", "imgs"}, {"data", {Row("a", "p", 1, {0, 0})}}});
  auto search = [&](int64_t limit, int64_t offset) {
    return Call("entities/search", {{"collectionName", "imgs"},
                                    {"data", {{0, 0}}},
                                    {"limit", limit},
                                    {"offset", offset},
                                    {"searchParams", {{"params", {{"ef", 20000}}}}}});
  };
  EXPECT_EQ(search(16384, 0)["code"], 0) << "the bound is inclusive";
  EXPECT_EQ(search(16383, 1)["code"], 0);
  json over = search(16384, 1);
  EXPECT_EQ(over["code"], 65535);
  EXPECT_NE(over["message"].get<std::string>().find("offset+topk [16385] is invalid"), std::string::npos)
      << over.dump();
  EXPECT_NE(search(0, 0)["code"], 0) << "limit 0";
  EXPECT_EQ(Code("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}, {"limit", 16384}}), 0);
  json q = Call("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}, {"limit", 16000}, {"offset", 385}});
  EXPECT_EQ(q["code"], 65535);
  EXPECT_NE(q["message"].get<std::string>().find("(offset+limit) should be in range [1, 16384], but got 16385"),
            std::string::npos);
  EXPECT_EQ(Data("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}, {"limit", 0}}).size(), 1u)
      << "limit 0 is no limit";
  EXPECT_EQ(Code("entities/query", {{"collectionName", "imgs"}, {"limit", 0}}), 1100) << "no limit needs a filter";
}

TEST_F(FakeMilvusTest, QueryPagesInPrimaryKeyOrder) {
  CreateImages("imgs", "L2", 2);
  json data = json::array();
  for (std::string k : {"e", "a", "d", "b", "c"}) data.push_back(Row(k, "p", 1, {0, 0}));
  Data("entities/insert", {{"collectionName", "imgs"}, {"data", data}});
  EXPECT_EQ(Keys(Data("entities/query", {{"collectionName", "imgs"}, {"filter", "n == 1"}, {"limit", 3}})),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(
      Keys(Data("entities/query", {{"collectionName", "imgs"}, {"filter", "n == 1"}, {"limit", 3}, {"offset", 3}})),
      (std::vector<std::string>{"d", "e"}));
  EXPECT_EQ(Data("entities/query", {{"collectionName", "imgs"}, {"filter", ""}}).size(), 5u)
      << "default limit, no filter";
}

TEST_F(FakeMilvusTest, WeakConsistencySeesWritesLate) {
  Start([] {
    FakeMilvusOptions o;
    o.eventual_lag = 3;
    return o;
  }());
  CreateImages("imgs", "L2", 2, "Bounded");
  Data("entities/insert", {{"collectionName", "imgs"}, {"data", {Row("a", "p", 1, {0, 0})}}});
  auto count = [&](const std::string& level) {
    json body = {{"collectionName", "imgs"}, {"outputFields", {"count(*)"}}};
    if (!level.empty()) body["consistencyLevel"] = level;
    return Data("entities/query", body, kInt64Numbers)[0]["count(*)"].get<int64_t>();
  };
  EXPECT_EQ(count("Strong"), 1) << "Strong reads its writes";        // 1 request after the insert
  EXPECT_EQ(count(""), 0) << "the collection's Bounded level lags";  // 2
  EXPECT_EQ(count("Eventually"), 0);                                 // 3
  EXPECT_EQ(count(""), 1) << "visible once three more requests were served";
  Data("entities/delete", {{"collectionName", "imgs"}, {"filter", "pk == \"a\""}});
  EXPECT_EQ(count(""), 1) << "a delete lags too";
  EXPECT_EQ(count("Strong"), 0);
  EXPECT_EQ(count("Session"), 0) << "Session reads its own writes";
  EXPECT_EQ(Code("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}, {"consistencyLevel", "strong"}}),
            1100)
      << "level names are case-sensitive";
}

TEST_F(FakeMilvusTest, TokenAuth) {
  Start([] {
    FakeMilvusOptions o;
    o.token = "root:Milvus";
    return o;
  }());
  auto none = Post("collections/list", "{}");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(json::parse(none->body)["code"], 1800);
  auto wrong = Post("collections/list", "{}", {{"Authorization", "Bearer root:wrong"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto right = Post("collections/list", "{}", {{"Authorization", "Bearer root:Milvus"}});
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  EXPECT_EQ(json::parse(right->body)["code"], 0);
}

TEST_F(FakeMilvusTest, OlderServersAnswerCode200ForData) {
  Start([] {
    FakeMilvusOptions o;
    o.success_code = 200;
    return o;
  }());
  CreateImages("imgs");  // Data() expects 0: create is not a data endpoint
  EXPECT_EQ(Call("collections/describe", {{"collectionName", "imgs"}})["code"], 200);
  EXPECT_EQ(Call("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}})["code"], 200);
  EXPECT_EQ(Call("collections/release", {{"collectionName", "imgs"}})["code"], 0);
  EXPECT_EQ(Call("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}})["code"], 101);
}

TEST_F(FakeMilvusTest, SearchWithoutTopksLikeOlderServers) {
  Start([] {
    FakeMilvusOptions o;
    o.search_topks = false;
    return o;
  }());
  CreateImages("imgs", "L2", 2);
  Data("entities/insert", {{"collectionName", "imgs"}, {"data", {Row("a", "p", 1, {0, 0})}}});
  json r = Call("entities/search", {{"collectionName", "imgs"}, {"data", {{0, 0}}}});
  EXPECT_EQ(r["data"].size(), 1u);
  EXPECT_FALSE(r.contains("topks"));
}

TEST_F(FakeMilvusTest, InjectedFailuresAndCounters) {
  CreateImages("imgs", "L2", 2);
  fake_->FailNext("/entities/search", 2, 503, "<html><body>503 Service Unavailable</body></html>");
  fake_->FailNext("", 1, 200, R"({"code":65535,"message":"rate limit exceeded"})");
  // The first matching fault wins: a list (which no search fault matches) takes the catch-all one.
  auto list = Post("collections/list", "{}");
  ASSERT_TRUE(list);
  EXPECT_EQ(json::parse(list->body)["code"], 65535);
  json search = {{"collectionName", "imgs"}, {"data", {{0, 0}}}};
  for (int i = 0; i < 2; ++i) {
    auto r = Post("entities/search", search.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_NE(r->body.find("<html>"), std::string::npos);
  }
  EXPECT_EQ(Code("entities/search", search), 0) << "the faults are used up";
  EXPECT_EQ(fake_->Requests("/entities/search"), 3);
  EXPECT_EQ(fake_->Requests("/collections/create"), 1);
  EXPECT_EQ(fake_->Requests(), 5);
  EXPECT_EQ(json::parse(fake_->LastBody("/entities/search")), search);
  EXPECT_EQ(fake_->LastBody("/entities/upsert"), "");
}

TEST_F(FakeMilvusTest, MalformedAnswerAfterTheWriteHappened) {
  CreateImages("imgs", "L2", 2);
  fake_->MalformedNext("/entities/insert", 1);
  auto r = Post("entities/insert", json{{"collectionName", "imgs"}, {"data", {Row("a", "p", 1, {0, 0})}}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(json::parse(r->body, nullptr, false).is_discarded()) << r->body;
  EXPECT_EQ(fake_->Rows("imgs"), 1) << "the client cannot know, but the row is there";
}

TEST_F(FakeMilvusTest, HalfAcceptedBatch) {
  CreateImages("imgs", "L2", 2);
  fake_->HalfAcceptNext("/entities/upsert");
  EXPECT_EQ(Code("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}}), 0) << "not consumed by a query";
  json data = json::array();
  for (int i = 0; i < 5; ++i) data.push_back(Row("k" + std::to_string(i), "p", i + 1, {0, 0}));
  json half = Call("entities/upsert", {{"collectionName", "imgs"}, {"data", data}});
  EXPECT_NE(half["code"], 0);
  EXPECT_EQ(fake_->Rows("imgs"), 2) << "the first half (rounded down) is stored";
  EXPECT_EQ(Keys(Data("entities/query", {{"collectionName", "imgs"}, {"filter", "n > 0"}})),
            (std::vector<std::string>{"k0", "k1"}));
  EXPECT_EQ(Code("entities/upsert", {{"collectionName", "imgs"}, {"data", data}}), 0) << "a retry completes it";
  EXPECT_EQ(fake_->Rows("imgs"), 5);
}

TEST_F(FakeMilvusTest, DelayedAnswersTimeOutAndStopEndsThem) {
  CreateImages("imgs", "L2", 2);
  fake_->DelayNext("/collections/describe", 1, 3000);
  client_->set_read_timeout(0, 100 * 1000);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(Post("collections/describe", json{{"collectionName", "imgs"}}.dump())) << "the client gave up";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  client_->set_read_timeout(5, 0);
  EXPECT_EQ(Code("collections/describe", {{"collectionName", "imgs"}}), 0);

  fake_->DelayNext("", 1, 10000);
  std::thread waiting([&] {
    httplib::Client c("127.0.0.1", fake_->port());
    c.Post("/v2/vectordb/collections/list", "{}", "application/json");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  start = std::chrono::steady_clock::now();
  int port = fake_->port();
  fake_->Stop();
  waiting.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3)) << "Stop does not wait out a delay";
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(1, 0);
  auto r = after.Post("/v2/vectordb/collections/list", "{}", "application/json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), httplib::Error::Connection) << "refused after Stop";
  fake_->Stop();  // idempotent
}

TEST_F(FakeMilvusTest, OversizedBodiesAreRefused) {
  Start([] {
    FakeMilvusOptions o;
    o.max_request_bytes = 2000;
    return o;
  }());
  CreateImages("imgs", "L2", 2);
  json data = json::array();
  for (int i = 0; i < 100; ++i) data.push_back(Row("k" + std::to_string(i), "p", 1, {0, 0}));
  auto r = Post("entities/insert", json{{"collectionName", "imgs"}, {"data", data}}.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(json::parse(r->body)["code"], 1801);
  EXPECT_EQ(fake_->Rows("imgs"), 0);
  EXPECT_EQ(Code("entities/insert", {{"collectionName", "imgs"}, {"data", {Row("a", "p", 1, {0, 0})}}}), 0);
}

// The filter language, on rows with every kind of field.
class FilterTest : public FakeMilvusTest {
 protected:
  void SetUp() override {
    FakeMilvusTest::SetUp();
    json schema = {{"enableDynamicField", true},
                   {"fields",
                    {{{"fieldName", "pk"},
                      {"dataType", "VarChar"},
                      {"isPrimary", true},
                      {"elementTypeParams", {{"max_length", 16}}}},
                     {{"fieldName", "path"}, {"dataType", "VarChar"}, {"elementTypeParams", {{"max_length", 64}}}},
                     {{"fieldName", "n"}, {"dataType", "Int64"}},
                     {{"fieldName", "score"}, {"dataType", "Float"}},
                     {{"fieldName", "flag"}, {"dataType", "Bool"}},
                     {{"fieldName", "tag"},
                      {"dataType", "VarChar"},
                      {"nullable", true},
                      {"elementTypeParams", {{"max_length", 16}}}},
                     {{"fieldName", "meta"}, {"dataType", "JSON"}},
                     {{"fieldName", "v"}, {"dataType", "FloatVector"}, {"elementTypeParams", {{"dim", 2}}}}}}};
    Data("collections/create", {{"collectionName", "f"},
                                {"schema", schema},
                                {"indexParams", {{{"fieldName", "v"}, {"metricType", "L2"}}}},
                                {"params", {{"consistencyLevel", "Strong"}}}});
    auto row = [](std::string pk, std::string path, int n, double score, bool flag, json tag, json meta, json extra) {
      json r = {{"pk", pk},     {"path", path}, {"n", n},       {"score", score},
                {"flag", flag}, {"tag", tag},   {"meta", meta}, {"v", {0, 0}}};
      r.update(extra);
      return r;
    };
    json data = {
        row("a", "coco/a.jpg", 1, 0.5, true, "x", {{"tags", {"cat", "dog"}}, {"k", 1}}, {{"color", "red"}}),
        row("b", "coco/b\"q.jpg", 2, 1.5, false, nullptr, {{"tags", {"dog"}}, {"k", 2}}, json::object()),
        row("c", "voc/it's.png", 3, 2.5, true, "y", {{"tags", json::array()}, {"k", "2"}}, {{"color", "blue"}}),
        row("d", "100%\\_x", 4, 3.5, false, nullptr, {{"k", 2.0}}, json::object()),
        row("e", "caf\xC3\xA9", 5, 4.5, true, "x", json::object(), json::object()),
    };
    Data("entities/insert", {{"collectionName", "f"}, {"data", data}});
  }

  // The keys a query with `filter` returns, or the error code in the form "code N".
  std::string Match(const std::string& filter) {
    json j = Call("entities/query", {{"collectionName", "f"}, {"filter", filter}, {"outputFields", {"pk"}}});
    if (j.value("code", -1) != 0) {
      last_message_ = j.value("message", "");
      return "code " + std::to_string(j.value("code", -1));
    }
    std::string keys;
    for (const std::string& k : Keys(j["data"])) keys += k;
    return keys;
  }
  std::string last_message_;
};

TEST_F(FilterTest, Comparisons) {
  EXPECT_EQ(Match("n > 1 and n < 4"), "bc");
  EXPECT_EQ(Match("n >= 4 && score < 4"), "d");
  EXPECT_EQ(Match("n == 1 || n == 5"), "ae");
  EXPECT_EQ(Match("n == 1 OR n == 5"), "ae");
  EXPECT_EQ(Match("1 < n <= 3"), "bc") << "a range";
  EXPECT_EQ(Match("3 > n"), "ab") << "a constant on the left";
  EXPECT_EQ(Match("score > 2"), "cde") << "an integer constant against a Float";
  EXPECT_EQ(Match("n == 0x3"), "c");
  EXPECT_EQ(Match("n == -1"), "");
  EXPECT_EQ(Match("pk != \"a\" and (n < 3 or n > 4)"), "be");
  EXPECT_EQ(Match("not (n > 2)"), "ab");
  EXPECT_EQ(Match("NOT (n > 2)"), "ab");
  EXPECT_EQ(Match("!(n > 2)"), "ab");
}

TEST_F(FilterTest, StringLiteralsAndEscapes) {
  EXPECT_EQ(Match(R"(path == "coco/b\"q.jpg")"), "b") << "an escaped double quote";
  EXPECT_EQ(Match(R"(path == 'coco/b"q.jpg')"), "b") << "a double quote inside single quotes";
  EXPECT_EQ(Match(R"(path == 'voc/it\'s.png')"), "c") << "an escaped single quote";
  EXPECT_EQ(Match(R"(path == "voc/it's.png")"), "c");
  EXPECT_EQ(Match(R"(path == "100%\\_x")"), "d") << "an escaped backslash";
  EXPECT_EQ(Match(R"(path == "caf\u00e9")"), "e") << "\\u escapes are UTF-8";
  EXPECT_EQ(Match(R"(path == "caf\xc3\xa9")"), "e");
  EXPECT_EQ(Match(R"(path == "a\%b")"), "code 1100") << "Go's Unquote refuses unknown escapes";
  EXPECT_EQ(Match(R"(path == "unterminated)"), "code 1100");
}

TEST_F(FilterTest, InLists) {
  EXPECT_EQ(Match("n in [1, 3]"), "ac");
  EXPECT_EQ(Match("n IN [1, 3,]"), "ac") << "a trailing comma";
  EXPECT_EQ(Match("n not in [1, 3]"), "bde");
  EXPECT_EQ(Match("n NOT IN [1, 3]"), "bde");
  EXPECT_EQ(Match(R"(pk in ["e", "a", "zz"])"), "ae");
  EXPECT_EQ(Match("pk in []"), "");
  EXPECT_EQ(Match(R"(n in [1, "2"])"), "code 1100") << "a string in an Int64 list";
  EXPECT_EQ(Match(R"(tag in ["x", "y"])"), "ace");
  EXPECT_EQ(Match(R"(tag not in ["x"])"), "c") << "null is neither in nor not in";
}

TEST_F(FilterTest, Like) {
  EXPECT_EQ(Match(R"(path like "coco/%")"), "ab") << "prefix";
  EXPECT_EQ(Match(R"(path like "%.png")"), "c") << "suffix";
  EXPECT_EQ(Match(R"(path like "%/b%")"), "b") << "infix";
  EXPECT_EQ(Match(R"(path LIKE "coco/_.jpg")"), "a") << "_ is one character";
  EXPECT_EQ(Match(R"(path like "caf_")"), "e") << "one character, not one byte";
  EXPECT_EQ(Match(R"(path like "coco/a.jpg")"), "a") << "no wildcard: equality";
  EXPECT_EQ(Match(R"(path like "coco")"), "") << "the whole value must match";
  EXPECT_EQ(Match(R"(path like "100\\%%")"), "d") << "\\% is a literal %";
  EXPECT_EQ(Match(R"(path like "100\\%\\\\\\_x")"), "d") << "escaped %, \\ and _";
  EXPECT_EQ(Match(R"(path like "100\\_%")"), "") << "escaped _ is literal: d has % there";
  EXPECT_EQ(Match(R"(path like "%x\\")"), "code 1100") << "a trailing backslash";
  EXPECT_EQ(Match(R"(n like "1%")"), "code 1100") << "like needs a string field";
  EXPECT_EQ(Match(R"(not path like "coco/%")"), "cde") << "like binds tighter than not";
}

TEST_F(FilterTest, NullsBooleansAndJson) {
  EXPECT_EQ(Match("tag is null"), "bd");
  EXPECT_EQ(Match("tag IS NOT NULL"), "ace");
  EXPECT_EQ(Match(R"(tag == "x")"), "ae");
  EXPECT_EQ(Match(R"(tag != "x")"), "c") << "a comparison with null is not true";
  EXPECT_EQ(Match(R"(not (tag == "x"))"), "c") << "nor is its negation";
  EXPECT_EQ(Match("tag is null or n == 1"), "abd");
  EXPECT_EQ(Match("tag Is Null"), "code 1100") << "only 'is null' and 'IS NULL'";
  EXPECT_EQ(Match("flag"), "ace") << "a Bool field alone";
  EXPECT_EQ(Match("not flag"), "bd");
  EXPECT_EQ(Match("flag == True"), "ace");
  EXPECT_EQ(Match("flag == FALSE"), "bd");
  EXPECT_EQ(Match("flag == tRue"), "code 1100") << "not a boolean spelling: an unknown field";
  EXPECT_EQ(Match(R"(json_contains(meta["tags"], "dog"))"), "ab");
  EXPECT_EQ(Match(R"(JSON_CONTAINS_ANY(meta["tags"], ["cat", "x"]))"), "a");
  EXPECT_EQ(Match(R"(json_contains_all(meta["tags"], ["cat", "dog"]))"), "a");
  EXPECT_EQ(Match(R"(meta["k"] == 2)"), "bd") << "numbers compare as numbers; the string \"2\" does not";
  EXPECT_EQ(Match(R"(meta["k"] == "2")"), "c");
  EXPECT_EQ(Match(R"(meta["missing"] is null)"), "abcde");
  EXPECT_EQ(Match(R"(color == "red")"), "a") << "a dynamic field";
  EXPECT_EQ(Match(R"(color is null)"), "bde");
}

TEST_F(FilterTest, ErrorsAreCode1100) {
  for (const char* bad :
       {"n == \"1\"", "path > 1", "n = 1", "n + 1 == 2", "n == 1 and", "(n == 1", "not n == 1", "n", "v == 1", "1 == 1",
        "n in 3", "json_contains(path, \"a\")", "score ** 2 > 1", "unknown_fn(n)", "n == 99999999999999999999"}) {
    EXPECT_EQ(Match(bad), "code 1100") << bad;
    EXPECT_NE(last_message_.find("failed to create query plan"), std::string::npos) << bad << ": " << last_message_;
  }
  // Without dynamic fields an unknown name is an error.
  CreateImages("plain");
  json j = Call("entities/query", {{"collectionName", "plain"}, {"filter", "nope == 1"}});
  EXPECT_EQ(j["code"], 1100);
  EXPECT_NE(j["message"].get<std::string>().find("nope"), std::string::npos);
  json s = Call("entities/search", {{"collectionName", "plain"}, {"data", {{0, 0, 0, 0}}}, {"filter", "n >"}});
  EXPECT_EQ(s["code"], 1100) << "search filters too";
  json d = Call("entities/delete", {{"collectionName", "plain"}, {"filter", "n >"}});
  EXPECT_EQ(d["code"], 1100) << "and delete filters";
}

TEST_F(FilterTest, OutputsOfEachType) {
  json rows = Data("entities/get", {{"collectionName", "f"}, {"id", {"a"}}});
  ASSERT_EQ(rows.size(), 1u);
  const json& a = rows[0];
  EXPECT_EQ(a["score"], 0.5);
  EXPECT_EQ(a["flag"], true);
  EXPECT_EQ(a["n"], "1");
  ASSERT_TRUE(a["meta"].is_string()) << "a JSON field comes back as its JSON text: " << a.dump();
  EXPECT_EQ(json::parse(a["meta"].get<std::string>())["k"], 1);
  EXPECT_EQ(a["color"], "red") << "dynamic keys with \"*\"";
  json only = Data("entities/get", {{"collectionName", "f"}, {"id", "c"}, {"outputFields", {"color"}}});
  EXPECT_EQ(only[0], json({{"pk", "c"}, {"color", "blue"}}));
}

}  // namespace
}  // namespace doppel::testing
