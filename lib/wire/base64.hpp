// base64url (RFC 4648 section 5) without padding: the one encoding of binary
// values in key=value messages. Decoding is canonical: every byte string has
// exactly one accepted spelling.
#pragma once

#include "core/bytes.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace cug::wire {

std::string base64url_encode(ByteView data);
// Refuses padding, whitespace, other alphabets, a length of 1 mod 4, and
// non-zero unused bits in the last character.
std::optional<Bytes> base64url_decode(std::string_view text);

}  // namespace cug::wire
