// Byte strings and their hex form, shared by every module.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cug {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes to_bytes(std::string_view s) {
    return Bytes(s.begin(), s.end());
}

// Lowercase hex, two digits a byte.
std::string to_hex(ByteView data);
// Strict inverse of to_hex: even length, [0-9a-f] only (uppercase is refused so
// every byte string has exactly one spelling).
std::optional<Bytes> from_hex(std::string_view hex);

}  // namespace cug
