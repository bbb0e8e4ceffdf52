#include "wire/base64.hpp"

#include <doctest/doctest.h>

using namespace cug;
using namespace cug::wire;

TEST_CASE("base64url without padding (RFC 4648 test vectors, URL alphabet)") {
    const char* cases[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (auto& c : cases) {
        CHECK(base64url_encode(as_bytes(c[0])) == c[1]);
        auto back = base64url_decode(c[1]);
        REQUIRE(back.has_value());
        CHECK(as_chars(*back) == c[0]);
    }
    const Bytes high{0xfb, 0xff, 0xfe};
    CHECK(base64url_encode(high) == "-__-");
    CHECK(*base64url_decode("-__-") == high);
}

TEST_CASE("base64url decoding is canonical") {
    for (const char* bad :
         {"Zg==", "Zm9v Yg", "Zm9v+g", "Zm9v/g", "Z", "Zm9vY", "Zh", "Zm9", "Zm8="})
        CHECK_FALSE(base64url_decode(bad).has_value());
    // "Zh" and "Zg" would both decode to "f" if unused bits were ignored.
    CHECK(base64url_decode("Zg").has_value());
    CHECK_FALSE(base64url_decode("Zh").has_value());
    CHECK_FALSE(base64url_decode("Zm9").has_value());  // 'o' would need "Zm8"
}
