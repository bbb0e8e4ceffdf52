// SHA-256 and HMAC-SHA-256.
#pragma once

#include "core/bytes.hpp"

#include <array>
#include <cstdint>
#include <memory>

namespace cug::crypto {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(ByteView data);
Digest hmac_sha256(ByteView key, ByteView data);

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
