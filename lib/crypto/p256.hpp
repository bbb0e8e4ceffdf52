// NIST P-256 keys: the only curve cug uses (PIV cards do it in slots 9D/9E).
#pragma once

#include "core/result.hpp"
#include "crypto/hash.hpp"
#include "crypto/secret.hpp"

#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace cug::crypto {

inline constexpr std::size_t point_size = 65;  // 04 || X || Y

class PublicKey {
  public:
    // SubjectPublicKeyInfo; other curves and key types are refused.
    static Result<PublicKey> from_der(ByteView spki);
    static Result<PublicKey> from_pem(std::string_view pem);
    // An uncompressed point, checked to be on the curve.
    static Result<PublicKey> from_point(ByteView point);

    PublicKey(const PublicKey& other);
    PublicKey& operator=(const PublicKey& other);
    PublicKey(PublicKey&& other) noexcept;
    PublicKey& operator=(PublicKey&& other) noexcept;
    ~PublicKey();

    Bytes to_der() const;
    std::string to_pem() const;
    Bytes to_point() const;
    // SHA-256 of the SubjectPublicKeyInfo, and its text form "SHA256:<base64>".
    Digest fingerprint() const;
    std::string fingerprint_text() const;
    bool operator==(const PublicKey& other) const;
    EVP_PKEY* native() const { return key_; }

    explicit PublicKey(EVP_PKEY* owned) : key_(owned) {}

  private:
    EVP_PKEY* key_ = nullptr;
};

class PrivateKey {
  public:
    static Result<PrivateKey> generate();
    // PKCS#8 (unencrypted), DER or PEM.
    static Result<PrivateKey> from_der(ByteView pkcs8);
    static Result<PrivateKey> from_pem(std::string_view pem);

    PrivateKey(PrivateKey&& other) noexcept;
    PrivateKey& operator=(PrivateKey&& other) noexcept;
    PrivateKey(const PrivateKey&) = delete;
    PrivateKey& operator=(const PrivateKey&) = delete;
    ~PrivateKey();

    SecretBuffer to_der() const;
    SecretBuffer to_pem() const;
    PublicKey public_key() const;
    EVP_PKEY* native() const { return key_; }

    explicit PrivateKey(EVP_PKEY* owned) : key_(owned) {}

  private:
    EVP_PKEY* key_ = nullptr;
};

// The shared secret's x-coordinate (32 bytes).
Result<SecretBuffer> ecdh(const PrivateKey& own, const PublicKey& peer);
// ECDSA with SHA-256; DER signature.
Result<Bytes> sign(const PrivateKey& key, ByteView message);
bool verify(const PublicKey& key, ByteView message, ByteView der_signature);
// The same over a SHA-256 digest computed elsewhere (what a PIV card signs).
Result<Bytes> sign_digest(const PrivateKey& key, const Digest& digest);
bool verify_digest(const PublicKey& key, const Digest& digest, ByteView der_signature);

}  // namespace cug::crypto
