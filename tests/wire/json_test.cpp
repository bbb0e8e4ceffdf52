#include "wire/json.hpp"
#include "wire/text.hpp"

#include <doctest/doctest.h>

using namespace cug::wire;

TEST_CASE("JSON output is pretty, typed and escaped") {
    JsonWriter j;
    j.begin_object();
    j.field("name", "USER-A");
    j.field("count", std::uint64_t{3});
    j.field("delta", std::int64_t{-2});
    j.field("ok", true);
    j.key("none");
    j.null();
    j.key("list");
    j.begin_array();
    j.value("a");
    j.begin_object();
    j.end_object();
    j.end_array();
    j.key("empty");
    j.begin_array();
    j.end_array();
    j.end_object();
    CHECK(j.str() ==
          "{\n  \"name\": \"USER-A\",\n  \"count\": 3,\n  \"delta\": -2,\n  \"ok\": true,\n"
          "  \"none\": null,\n  \"list\": [\n    \"a\",\n    {}\n  ],\n  \"empty\": []\n}\n");
}

TEST_CASE("strings: control characters escaped, UTF-8 kept, invalid UTF-8 replaced") {
    auto render = [](std::string_view s) {
        JsonWriter j;
        j.value(s);
        return j.str();
    };
    CHECK(render("q\"b\\n\nt\tc\x01\x7f") == "\"q\\\"b\\\\n\\nt\\tc\\u0001\\u007f\"\n");
    CHECK(render("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91") ==
          "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"\n");
    CHECK(render("\xff") == "\"\\ufffd\"\n");
    CHECK(render("\xc3") == "\"\\ufffd\"\n");                        // truncated sequence
    CHECK(render("\xc0\xaf") == "\"\\ufffd\\ufffd\"\n");             // overlong
    CHECK(render("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"\n");  // surrogate
}

TEST_CASE("outside text is quoted safely for one-line messages") {
    CHECK(quote_for_message("USER-A") == "'USER-A'");
    CHECK(quote_for_message("a\nb'c\\") == "'a\\x0ab\\x27c\\x5c'");
    CHECK(quote_for_message(std::string(50, 'x'), 4) == "'xxxx...'");
}
