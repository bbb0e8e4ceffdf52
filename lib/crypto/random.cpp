#include "crypto/random.hpp"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cug::crypto {

namespace {

[[noreturn]] void no_randomness() {
    std::fputs("cug: the random number generator failed; refusing to continue\n", stderr);
    std::abort();
}

}  // namespace

void random_bytes(std::span<std::uint8_t> out) {
    if (out.empty()) return;
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) no_randomness();
}

SecretBuffer random_secret(std::size_t size) {
    SecretBuffer secret(size);
    if (size > 0 && RAND_priv_bytes(secret.data(), static_cast<int>(size)) != 1) no_randomness();
    return secret;
}

std::uint64_t random_u64() {
    std::uint8_t b[8];
    random_bytes(b);
    std::uint64_t v;
    std::memcpy(&v, b, sizeof v);
    return v;
}

}  // namespace cug::crypto
