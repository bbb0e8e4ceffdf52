#include "crypto/x509.hpp"

#include "crypto/openssl.hpp"
#include "crypto/random.hpp"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <ctime>

namespace cug::crypto {

namespace {

std::string name_cn(const X509_NAME* name) {
    if (!name) return {};
    int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index < 0) return {};
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n < 0) return {};
    std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
    return out;
}

std::int64_t to_unix(const ASN1_TIME* t) {
    std::tm tm{};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return static_cast<std::int64_t>(timegm(&tm));
}

bool add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
    if (!ext) return false;
    const bool added = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return added;
}

Result<Certificate> build(const PrivateKey& signer, const X509* issuer,
                          const PublicKey& subject_key, const CertificateRequest& request) {
    if (request.common_name.empty() || request.common_name.size() > 64)
        return make_error(Errc::invalid, "a certificate's common name must be 1-64 bytes");
    if (request.not_after <= request.not_before)
        return make_error(Errc::invalid, "a certificate must end after it starts");
    ossl::X509Ptr cert(X509_new());
    auto fail = [] { return make_error(Errc::internal, "building a certificate failed"); };
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return fail();

    // A positive 128-bit random serial.
    std::uint8_t serial[16];
    random_bytes(serial);
    serial[0] &= 0x7f;
    serial[0] |= 0x01;  // keep it 16 bytes long
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    const bool serial_set = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
    if (!serial_set) return fail();

    X509_NAME* subject = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_NID(
            subject, NID_commonName, MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(request.common_name.c_str()), -1, -1, 0) != 1)
        return fail();
    if (X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject) != 1 ||
        !ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(request.not_before)) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(request.not_after)) ||
        X509_set_pubkey(cert.get(), subject_key.native()) != 1)
        return fail();

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? const_cast<X509*>(issuer) : cert.get(), cert.get(), nullptr,
                   nullptr, 0);
    const bool server = request.role == CertificateRequest::Role::server_ca;
    if (request.role == CertificateRequest::Role::attestation) {
        if (!add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"))
            return fail();
        if (X509_sign(cert.get(), signer.native(), EVP_sha256()) <= 0) return fail();
        return Certificate(cert.release());
    }
    const bool extensions =
        add_extension(cert.get(), &ctx, NID_basic_constraints,
                      server ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE") &&
        add_extension(cert.get(), &ctx, NID_key_usage,
                      server ? "critical,keyCertSign,cRLSign,digitalSignature"
                             : "critical,keyAgreement,digitalSignature") &&
        add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash") &&
        (server || (add_extension(cert.get(), &ctx, NID_ext_key_usage, "clientAuth") &&
                    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always")));
    if (!extensions) return fail();
    if (X509_sign(cert.get(), signer.native(), EVP_sha256()) <= 0) return fail();
    return Certificate(cert.release());
}

}  // namespace

Result<Certificate> Certificate::from_der(ByteView der) {
    if (der.size() > INT_MAX) return make_error(Errc::invalid, "certificate too long");
    const unsigned char* p = der.data();
    X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    if (!cert) return make_error(Errc::invalid, "not a DER X.509 certificate");
    if (p != der.data() + der.size()) {
        X509_free(cert);
        return make_error(Errc::invalid, "bytes follow the certificate");
    }
    // OpenSSL reads BER leniently; one spelling per certificate keeps
    // fingerprints and comparisons honest.
    Certificate parsed(cert);
    if (parsed.to_der() != Bytes(der.begin(), der.end()))
        return make_error(Errc::invalid, "the certificate is not in canonical DER");
    return parsed;
}

Result<Certificate> Certificate::from_pem(std::string_view pem) {
    ossl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509* cert = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (!cert) return make_error(Errc::invalid, "not a PEM certificate");
    return Certificate(cert);
}

Certificate::Certificate(const Certificate& other) : cert_(other.cert_) {
    if (cert_) X509_up_ref(cert_);
}

Certificate& Certificate::operator=(const Certificate& other) {
    if (this != &other) {
        if (other.cert_) X509_up_ref(other.cert_);
        X509_free(cert_);
        cert_ = other.cert_;
    }
    return *this;
}

Certificate::Certificate(Certificate&& other) noexcept : cert_(other.cert_) {
    other.cert_ = nullptr;
}

Certificate& Certificate::operator=(Certificate&& other) noexcept {
    if (this != &other) {
        X509_free(cert_);
        cert_ = other.cert_;
        other.cert_ = nullptr;
    }
    return *this;
}

Certificate::~Certificate() {
    X509_free(cert_);
}

Bytes Certificate::to_der() const {
    int n = i2d_X509(cert_, nullptr);
    if (n <= 0) return {};
    Bytes out(static_cast<std::size_t>(n));
    unsigned char* p = out.data();
    i2d_X509(cert_, &p);
    return out;
}

std::string Certificate::to_pem() const {
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert_) != 1) return {};
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string Certificate::subject_cn() const {
    return name_cn(X509_get_subject_name(cert_));
}
std::string Certificate::issuer_cn() const {
    return name_cn(X509_get_issuer_name(cert_));
}

Result<PublicKey> Certificate::public_key() const {
    EVP_PKEY* key = X509_get0_pubkey(cert_);
    if (!key) return make_error(Errc::invalid, "the certificate's public key is unreadable");
    int n = i2d_PUBKEY(key, nullptr);
    if (n <= 0) return make_error(Errc::invalid, "the certificate's public key is unreadable");
    Bytes der(static_cast<std::size_t>(n));
    unsigned char* p = der.data();
    i2d_PUBKEY(key, &p);
    return PublicKey::from_der(der);
}

Bytes Certificate::serial() const {
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_), nullptr);
    if (!bn) return {};
    Bytes out(static_cast<std::size_t>(BN_num_bytes(bn)));
    BN_bn2bin(bn, out.data());
    BN_free(bn);
    return out;
}

std::string Certificate::serial_hex() const {
    return to_hex(serial());
}

std::int64_t Certificate::not_before() const {
    return to_unix(X509_get0_notBefore(cert_));
}
std::int64_t Certificate::not_after() const {
    return to_unix(X509_get0_notAfter(cert_));
}

Digest Certificate::fingerprint() const {
    return sha256(to_der());
}

bool Certificate::issued_by(const Certificate& issuer) const {
    if (X509_NAME_cmp(X509_get_issuer_name(cert_), X509_get_subject_name(issuer.cert_)) != 0)
        return false;
    EVP_PKEY* key = X509_get0_pubkey(issuer.cert_);
    return key && X509_verify(cert_, key) == 1;
}

bool Certificate::valid_at(std::int64_t unix_time) const {
    return not_before() <= unix_time && unix_time <= not_after();
}

Result<Certificate> make_self_signed(const PrivateKey& key, const CertificateRequest& request) {
    return build(key, nullptr, key.public_key(), request);
}

Result<Certificate> issue_certificate(const PrivateKey& issuer_key, const Certificate& issuer,
                                      const PublicKey& subject_key,
                                      const CertificateRequest& request) {
    auto issuer_public = CUG_TRY(issuer.public_key());
    if (!(issuer_public == issuer_key.public_key()))
        return make_error(Errc::invalid, "the issuer key does not match the issuer certificate");
    return build(issuer_key, issuer.native(), subject_key, request);
}

}  // namespace cug::crypto
