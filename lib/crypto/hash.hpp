// SHA-256 and HMAC-SHA-256.
#pragma once

#include "core/bytes.hpp"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>

namespace cug::crypto {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(ByteView data);
Digest hmac_sha256(ByteView key, ByteView data);
// HMAC over the concatenation of `pieces` (HKDF's blocks).
Digest hmac_sha256(ByteView key, std::initializer_list<ByteView> pieces);

// One HMAC-SHA-256 key for many messages (HKDF-Expand for the pairs of a
// bundle): the key schedule is done once. Wiped when destroyed.
class HmacKey {
  public:
    explicit HmacKey(ByteView key);
    ~HmacKey();
    HmacKey(HmacKey&&) noexcept;
    HmacKey& operator=(HmacKey&&) noexcept;
    Digest mac(std::initializer_list<ByteView> pieces) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Incremental SHA-256 (transcripts).
class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    void update(ByteView data);
    Digest finish();  // the object can be used again afterwards

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cug::crypto
