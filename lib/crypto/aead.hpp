// AES-256-GCM with a 12-byte nonce and the 16-byte tag after the ciphertext.
#pragma once

#include "core/result.hpp"
#include "crypto/secret.hpp"

#include <memory>
#include <span>

namespace cug::crypto {

inline constexpr std::size_t aead_key_size = 32;
inline constexpr std::size_t aead_nonce_size = 12;
inline constexpr std::size_t aead_tag_size = 16;

// One key, its cipher contexts set up once, so that sealing and opening a
// packet allocates nothing. Not for use by two threads at once.
class Aes256Gcm {
  public:
    static Result<Aes256Gcm> create(ByteView key);
    ~Aes256Gcm();
    Aes256Gcm(Aes256Gcm&&) noexcept;
    Aes256Gcm& operator=(Aes256Gcm&&) noexcept;

    // out.size() must be plaintext.size() + 16; out may be the plaintext's own
    // bytes (in place). False only if OpenSSL fails.
    bool seal(ByteView nonce, ByteView aad, ByteView plaintext, std::span<std::uint8_t> out);
    // out.size() must be sealed.size() - 16. False when the tag does not
    // verify; out is then zeroed.
    bool open(ByteView nonce, ByteView aad, ByteView sealed, std::span<std::uint8_t> out);

  private:
    struct Contexts;
    explicit Aes256Gcm(std::unique_ptr<Contexts> contexts);
    std::unique_ptr<Contexts> contexts_;
};

Bytes aead_seal(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext);
// Errc::invalid "authentication failed" for a wrong key, nonce, aad or a damaged message.
Result<SecretBuffer> aead_open(ByteView key, ByteView nonce, ByteView aad, ByteView sealed);

}  // namespace cug::crypto
