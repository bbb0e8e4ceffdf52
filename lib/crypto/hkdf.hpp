// HKDF-SHA-256 (RFC 5869).
#pragma once

#include "crypto/hash.hpp"
#include "crypto/secret.hpp"

#include <initializer_list>

namespace cug::crypto {

SecretBuffer hkdf_extract(ByteView salt, ByteView ikm);
// length <= 255 * 32.
SecretBuffer hkdf_expand(ByteView prk, ByteView info, std::size_t length);
// HKDF-Expand under one PRK for many infos (the pair keys of a bundle): the
// HMAC key schedule is done once.
class HkdfExpander {
  public:
    explicit HkdfExpander(ByteView prk) : key_(prk) {}
    SecretBuffer expand(ByteView info, std::size_t length) const;

  private:
    HmacKey key_;
};

SecretBuffer hkdf(ByteView salt, ByteView ikm, ByteView info, std::size_t length);

// Each part as a 2-byte big-endian length and its bytes: the unambiguous
// concatenation the key schedules use for "info" strings.
Bytes length_prefixed(std::initializer_list<ByteView> parts);

}  // namespace cug::crypto
