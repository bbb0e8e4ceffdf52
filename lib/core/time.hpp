// Wall-clock time as the store and the command-line programs use it: Unix
// seconds (and microseconds where ordering within a second matters), shown in
// RFC 3339 UTC.
#pragma once

#include "core/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace cug {

std::int64_t unix_now();         // seconds
std::int64_t unix_now_micros();  // microseconds

// "2026-11-23T23:32:57Z"; 0 (never) is shown as "-".
std::string format_time(std::int64_t unix_seconds);

// A point in time as an administrator types it, relative to `now`:
//   2026-11-23            midnight UTC of that day
//   2026-11-23T10:00:00Z  RFC 3339 in UTC (the Z is required)
//   @1795478400           Unix seconds
//   90s, 15m, 2h, 7d      that long before now
Result<std::int64_t> parse_time(std::string_view text, std::int64_t now);

}  // namespace cug
