#include "core/bytes.hpp"
#include "core/result.hpp"
#include "core/time.hpp"

#include <doctest/doctest.h>
#include <sysexits.h>

#include <memory>

using namespace cug;

namespace {

Result<std::unique_ptr<int>> make(int x) {
    if (x < 0) return make_error(Errc::invalid, "negative {}", x);
    return std::make_unique<int>(x);
}

Result<int> twice(int x) {
    auto p = CUG_TRY(make(x));
    return *p * 2;
}

Result<void> nested(int x) {
    // A lambda using the macro inside the macro's own expression.
    CUG_CHECK([&]() -> Result<void> {
        CUG_TRY(twice(x));
        return ok();
    }());
    return ok();
}

}  // namespace

TEST_CASE("results carry values or errors through CUG_TRY and CUG_CHECK") {
    CHECK(*twice(4) == 8);
    auto bad = twice(-1);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == Errc::invalid);
    CHECK(bad.error().message == "negative -1");
    CHECK(nested(1).ok());
    CHECK_FALSE(nested(-1).ok());
}

TEST_CASE("every error class maps to its sysexits status") {
    CHECK(exit_status(Errc::usage) == EX_USAGE);
    CHECK(exit_status(Errc::invalid) == EX_DATAERR);
    CHECK(exit_status(Errc::no_input) == EX_NOINPUT);
    CHECK(exit_status(Errc::not_found) == EX_NOUSER);
    CHECK(exit_status(Errc::unavailable) == EX_UNAVAILABLE);
    CHECK(exit_status(Errc::exists) == EX_CANTCREAT);
    CHECK(exit_status(Errc::temporary) == EX_TEMPFAIL);
    CHECK(exit_status(Errc::config) == EX_CONFIG);
    CHECK(std::string(errc_name(Errc::not_found)) == "not_found");
}

TEST_CASE("hex is strict") {
    CHECK(to_hex(Bytes{0x00, 0xab, 0xff}) == "00abff");
    CHECK(*from_hex("00abff") == Bytes{0x00, 0xab, 0xff});
    CHECK_FALSE(from_hex("0").has_value());
    CHECK_FALSE(from_hex("AB").has_value());
    CHECK_FALSE(from_hex("zz").has_value());
}

TEST_CASE("times are read as administrators write them") {
    const std::int64_t now = 1795392000;  // 2026-11-23T00:00:00Z
    CHECK(format_time(now) == "2026-11-23T00:00:00Z");
    CHECK(format_time(0) == "-");
    CHECK(*parse_time("2026-11-23", now) == now);
    CHECK(*parse_time("2026-11-23T10:00:05Z", now) == now + 36005);
    CHECK(*parse_time("2024-02-29", now) == 1709164800);
    CHECK(*parse_time("@1700000000", now) == 1700000000);
    CHECK(*parse_time("90s", now) == now - 90);
    CHECK(*parse_time("15m", now) == now - 900);
    CHECK(*parse_time("2h", now) == now - 7200);
    CHECK(*parse_time("7d", now) == now - 7 * 86400);
    for (const char* bad : {"", "yesterday", "2026-13-01", "2023-02-29", "2026-11-23T10:00:00",
                            "2026-11-23T24:00:00Z", "2026-1-23", "-5m", "05m", "@", "@-1", "5w",
                            "2026-11-23 10:00:00Z", "99999999999d"}) {
        auto r = parse_time(bad, now);
        CHECK_FALSE(r.ok());
        if (!r.ok()) CHECK(r.error().code == Errc::invalid);
    }
}
