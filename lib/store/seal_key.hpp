// The key that seals a store's secrets before they leave the host (issue 16:
// the etcd backend): the server key, the groups' epoch secrets, the sealed
// management keys and the sessions' resume, push and UDP keys are sealed
// with it, so that an etcd snapshot or backup alone reveals none of them.
// Every cugd host of one store holds the same key, in a file of its own:
//
//   cug-store-seal-1:<43 characters of base64url: 32 random bytes>
//
// A sealed value: 0x01 | key id (4 bytes) | nonce (12, random) | AES-256-GCM
// ciphertext and tag, with the value's context (its key in the store) as
// associated data, so a sealed value moved to another key does not open.
// Random nonces: a store seals far fewer than 2^32 values under one key.
#pragma once

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "crypto/secret.hpp"

#include <array>
#include <filesystem>
#include <string_view>

namespace cug::store {

class SealKey {
  public:
    static SealKey generate();
    // The file must be a regular file (not a link), owned by root or by this
    // process's user, with no access for group or others.
    static Result<SealKey> load(const std::filesystem::path& file);
    static Result<SealKey> parse(std::string_view text);
    // Writes a new file (mode 0400; refuses to replace one).
    Result<void> save(const std::filesystem::path& file) const;

    // The first 4 bytes of SHA-256 of the key: which key sealed a value.
    std::array<std::uint8_t, 4> id() const;
    std::string id_text() const;  // 8 hex digits

    Bytes seal(ByteView plaintext, std::string_view context) const;
    // Errc::invalid with a message that says whether another key sealed it
    // or it was damaged or moved.
    Result<crypto::SecretBuffer> open(ByteView sealed, std::string_view context) const;

  private:
    explicit SealKey(crypto::SecretBuffer key);
    crypto::SecretBuffer key_;
};

}  // namespace cug::store
