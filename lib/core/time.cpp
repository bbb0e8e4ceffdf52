#include "core/time.hpp"

#include <charconv>
#include <chrono>
#include <ctime>

namespace cug {

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t unix_now_micros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string format_time(std::int64_t unix_seconds) {
    if (unix_seconds == 0) return "-";
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    if (!gmtime_r(&t, &tm)) return "-";
    char buf[32];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf, n);
}

namespace {

// Exactly `width` decimal digits.
bool fixed_digits(std::string_view s, std::size_t width, int& out) {
    if (s.size() != width) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    std::from_chars(s.data(), s.data() + s.size(), out);
    return true;
}

bool unsigned_decimal(std::string_view s, std::int64_t& out) {
    if (s.empty() || s.size() > 15 || (s.size() > 1 && s[0] == '0')) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    std::from_chars(s.data(), s.data() + s.size(), out);
    return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return std::int64_t{era} * 146097 + doe - 719468;
}

bool valid_date(int y, int m, int d) {
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

}  // namespace

Result<std::int64_t> parse_time(std::string_view text, std::int64_t now) {
    auto bad = [&] {
        return make_error(Errc::invalid,
                          "'{}' is not a time: use 2026-11-23, 2026-11-23T10:00:00Z, "
                          "@UNIXSECONDS or a duration such as 15m, 2h, 7d",
                          text.substr(0, 40));
    };
    if (text.empty()) return bad();
    if (text[0] == '@') {
        std::int64_t seconds;
        if (!unsigned_decimal(text.substr(1), seconds)) return bad();
        return seconds;
    }
    if (char unit = text.back(); unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') {
        std::int64_t count;
        if (!unsigned_decimal(text.substr(0, text.size() - 1), count)) return bad();
        const std::int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400;
        if (count > now / scale) return bad();
        return now - count * scale;
    }
    int y, mo, d, h = 0, mi = 0, s = 0;
    if (text.size() < 10 || text[4] != '-' || text[7] != '-' ||
        !fixed_digits(text.substr(0, 4), 4, y) || !fixed_digits(text.substr(5, 2), 2, mo) ||
        !fixed_digits(text.substr(8, 2), 2, d) || !valid_date(y, mo, d))
        return bad();
    if (text.size() > 10) {
        if (text.size() != 20 || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
            text[19] != 'Z' || !fixed_digits(text.substr(11, 2), 2, h) ||
            !fixed_digits(text.substr(14, 2), 2, mi) || !fixed_digits(text.substr(17, 2), 2, s) ||
            h > 23 || mi > 59 || s > 59)
            return bad();
    }
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

}  // namespace cug
