// X.509 certificates: the server's self-signed certificate (its key is what
// terminals pin) and user certificates issued by it (subject = user ID, key =
// the card's key-agreement key).
#pragma once

#include "core/result.hpp"
#include "crypto/p256.hpp"

#include <cstdint>
#include <string>

typedef struct x509_st X509;

namespace cug::crypto {

struct CertificateRequest {
    // attestation: what a card's attestation key vouches for one of its keys.
    enum class Role { server_ca, user, attestation };
    std::string common_name;
    std::int64_t not_before = 0;  // unix seconds
    std::int64_t not_after = 0;
    Role role = Role::user;
};

class Certificate {
  public:
    // Canonical DER only, and nothing may follow it.
    static Result<Certificate> from_der(ByteView der);
    static Result<Certificate> from_pem(std::string_view pem);

    Certificate(const Certificate& other);
    Certificate& operator=(const Certificate& other);
    Certificate(Certificate&& other) noexcept;
    Certificate& operator=(Certificate&& other) noexcept;
    ~Certificate();

    Bytes to_der() const;
    std::string to_pem() const;
    std::string subject_cn() const;  // empty if there is none
    std::string issuer_cn() const;
    Result<PublicKey> public_key() const;  // P-256 only
    std::string serial_hex() const;        // lowercase
    Bytes serial() const;                  // big-endian magnitude
    std::int64_t not_before() const;
    std::int64_t not_after() const;
    Digest fingerprint() const;  // SHA-256 of the DER
    // The issuer name is the issuer's subject and the issuer's key signed it.
    bool issued_by(const Certificate& issuer) const;
    bool valid_at(std::int64_t unix_time) const;
    X509* native() const { return cert_; }

    explicit Certificate(X509* owned) : cert_(owned) {}

  private:
    X509* cert_ = nullptr;
};

Result<Certificate> make_self_signed(const PrivateKey& key, const CertificateRequest& request);
Result<Certificate> issue_certificate(const PrivateKey& issuer_key, const Certificate& issuer,
                                      const PublicKey& subject_key,
                                      const CertificateRequest& request);

}  // namespace cug::crypto
