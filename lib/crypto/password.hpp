// Password hashing with Argon2id (RFC 9106) in the PHC string format, whose
// parameters travel inside the string so they can be raised later:
//   $argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>
#pragma once

#include "core/bytes.hpp"
#include "core/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace cug::crypto {

struct Argon2Params {
    // RFC 9106's second recommended option.
    std::uint32_t memory_kib = 65536;
    std::uint32_t iterations = 3;
    std::uint32_t parallelism = 4;

    // "m=65536,t=3,p=4": all three, in that order, canonical decimals, with
    // p 1..16, m 8*p..4194304 (4 GiB), t 1..64.
    static Result<Argon2Params> parse(std::string_view text);
    std::string to_string() const;
    bool operator==(const Argon2Params&) const = default;
};

Result<std::string> hash_password(ByteView password, const Argon2Params& params);
// True or false for a well-formed hash; Errc::invalid for a malformed one (or
// one whose parameters are outside the bounds above, so a damaged store cannot
// make us allocate terabytes).
Result<bool> verify_password(std::string_view phc, ByteView password);
Result<Argon2Params> phc_params(std::string_view phc);
// Whether a stored hash was made with other parameters than `wanted`.
bool needs_rehash(std::string_view phc, const Argon2Params& wanted);

}  // namespace cug::crypto
