// Randomness from OpenSSL's DRBGs; a machine without randomness stops here.
#pragma once

#include "crypto/secret.hpp"

#include <cstdint>
#include <span>

namespace cug::crypto {

// Public randomness (nonces, serials, identifiers).
void random_bytes(std::span<std::uint8_t> out);
// Private randomness (keys), from the separate private DRBG, into a secret buffer.
SecretBuffer random_secret(std::size_t size);
std::uint64_t random_u64();

}  // namespace cug::crypto
