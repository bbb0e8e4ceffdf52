// Sealing a message to a P-256 public key (ECIES-like): an ephemeral key
// agrees with the recipient's, HKDF turns the secret into a one-time AES-GCM
// key, and a caller-supplied context is bound into both the key and the AAD, so
// a sealed message cannot be moved to another purpose.
//
// Format: ephemeral public point (65 bytes) || ciphertext || tag (16).
// Key: HKDF-SHA256(salt = empty, ikm = ECDH x-coordinate,
//                  info = length_prefixed("cug seal v1", context, ephemeral, recipient), 32)
// Nonce: twelve zero bytes (every key seals exactly one message). AAD: context.
#pragma once

#include "core/result.hpp"
#include "crypto/p256.hpp"

#include <functional>

namespace cug::crypto {

Bytes seal_to(const PublicKey& recipient, ByteView context, ByteView plaintext);

// The recipient's side of ECDH with the ephemeral key; a smart card can do it.
using EcdhFunction = std::function<Result<SecretBuffer>(const PublicKey& ephemeral)>;

Result<SecretBuffer> open_sealed(const EcdhFunction& ecdh_with_recipient_key,
                                 const PublicKey& recipient, ByteView context, ByteView sealed);
Result<SecretBuffer> open_sealed(const PrivateKey& recipient, ByteView context, ByteView sealed);

}  // namespace cug::crypto
