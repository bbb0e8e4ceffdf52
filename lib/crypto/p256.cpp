#include "crypto/p256.hpp"

#include "crypto/openssl.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>
#include <cstring>

namespace cug::crypto {

namespace {

bool is_p256(EVP_PKEY* key) {
    if (!key || !EVP_PKEY_is_a(key, "EC")) return false;
    char group[64] = {};
    std::size_t n = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &n) !=
        1)
        return false;
    return std::strcmp(group, "prime256v1") == 0;
}

Result<PublicKey> checked_public(EVP_PKEY* key) {
    PublicKey owned(key);  // frees the key on every path
    if (!is_p256(key)) return make_error(Errc::invalid, "not a P-256 public key");
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1)
        return make_error(Errc::invalid, "the public key is not a valid P-256 point");
    return owned;
}

Result<PrivateKey> checked_private(EVP_PKEY* key) {
    PrivateKey owned(key);
    if (!is_p256(key)) return make_error(Errc::invalid, "not a P-256 private key");
    return owned;
}

ossl::Bio memory_bio(std::string_view text) {
    return ossl::Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

// --- PublicKey ---

Result<PublicKey> PublicKey::from_der(ByteView spki) {
    if (spki.size() > INT_MAX) return make_error(Errc::invalid, "public key too long");
    const unsigned char* p = spki.data();
    EVP_PKEY* key = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
    if (!key) return make_error(Errc::invalid, "not a DER SubjectPublicKeyInfo");
    if (p != spki.data() + spki.size()) {
        EVP_PKEY_free(key);
        return make_error(Errc::invalid, "bytes follow the public key");
    }
    return checked_public(key);
}

Result<PublicKey> PublicKey::from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    EVP_PKEY* key = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (!key) return make_error(Errc::invalid, "not a PEM public key");
    return checked_public(key);
}

Result<PublicKey> PublicKey::from_point(ByteView point) {
    if (point.size() != point_size || point[0] != 0x04)
        return make_error(Errc::invalid, "not an uncompressed P-256 point (04||X||Y, 65 bytes)");
    char group[] = "prime256v1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                          const_cast<std::uint8_t*>(point.data()), point.size()),
        OSSL_PARAM_construct_end()};
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* key = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1 || !key)
        return make_error(Errc::invalid, "the point is not on the P-256 curve");
    return checked_public(key);
}

PublicKey::PublicKey(const PublicKey& other) : key_(other.key_) {
    if (key_) EVP_PKEY_up_ref(key_);
}

PublicKey& PublicKey::operator=(const PublicKey& other) {
    if (this != &other) {
        if (other.key_) EVP_PKEY_up_ref(other.key_);
        EVP_PKEY_free(key_);
        key_ = other.key_;
    }
    return *this;
}

PublicKey::PublicKey(PublicKey&& other) noexcept : key_(other.key_) {
    other.key_ = nullptr;
}

PublicKey& PublicKey::operator=(PublicKey&& other) noexcept {
    if (this != &other) {
        EVP_PKEY_free(key_);
        key_ = other.key_;
        other.key_ = nullptr;
    }
    return *this;
}

PublicKey::~PublicKey() {
    EVP_PKEY_free(key_);
}

Bytes PublicKey::to_der() const {
    int n = i2d_PUBKEY(key_, nullptr);
    if (n <= 0) return {};
    Bytes out(static_cast<std::size_t>(n));
    unsigned char* p = out.data();
    i2d_PUBKEY(key_, &p);
    return out;
}

std::string PublicKey::to_pem() const {
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_) != 1) return {};
    return bio_text(bio.get());
}

Bytes PublicKey::to_point() const {
    Bytes out(point_size);
    std::size_t n = 0;
    if (EVP_PKEY_get_octet_string_param(key_, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out.data(),
                                        out.size(), &n) != 1 ||
        n != point_size)
        return {};
    return out;
}

Digest PublicKey::fingerprint() const {
    return sha256(to_der());
}

std::string PublicKey::fingerprint_text() const {
    const Digest d = fingerprint();
    unsigned char text[64] = {};
    int n = EVP_EncodeBlock(text, d.data(), static_cast<int>(d.size()));
    std::string out = "SHA256:";
    out.append(reinterpret_cast<const char*>(text), static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=')
        out.pop_back();
    return out;
}

bool PublicKey::operator==(const PublicKey& other) const {
    return key_ && other.key_ && EVP_PKEY_eq(key_, other.key_) == 1;
}

// --- PrivateKey ---

Result<PrivateKey> PrivateKey::generate() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (!key) return make_error(Errc::internal, "generating a P-256 key failed");
    return PrivateKey(key);
}

Result<PrivateKey> PrivateKey::from_der(ByteView pkcs8) {
    if (pkcs8.size() > INT_MAX) return make_error(Errc::invalid, "private key too long");
    const unsigned char* p = pkcs8.data();
    PKCS8_PRIV_KEY_INFO* info =
        d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(pkcs8.size()));
    if (!info) return make_error(Errc::invalid, "not a DER PKCS#8 private key");
    const bool trailing = p != pkcs8.data() + pkcs8.size();
    EVP_PKEY* key = trailing ? nullptr : EVP_PKCS82PKEY(info);
    PKCS8_PRIV_KEY_INFO_free(info);
    if (!key) return make_error(Errc::invalid, "not a usable PKCS#8 private key");
    return checked_private(key);
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
    auto bio = memory_bio(pem);
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (!key) return make_error(Errc::invalid, "not a PEM private key");
    return checked_private(key);
}

PrivateKey::PrivateKey(PrivateKey&& other) noexcept : key_(other.key_) {
    other.key_ = nullptr;
}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
    if (this != &other) {
        EVP_PKEY_free(key_);
        key_ = other.key_;
        other.key_ = nullptr;
    }
    return *this;
}

PrivateKey::~PrivateKey() {
    EVP_PKEY_free(key_);
}

SecretBuffer PrivateKey::to_der() const {
    PKCS8_PRIV_KEY_INFO* info = EVP_PKEY2PKCS8(key_);
    if (!info) return {};
    SecretBuffer out;
    int n = i2d_PKCS8_PRIV_KEY_INFO(info, nullptr);
    if (n > 0) {
        out = SecretBuffer(static_cast<std::size_t>(n));
        unsigned char* p = out.data();
        i2d_PKCS8_PRIV_KEY_INFO(info, &p);
    }
    PKCS8_PRIV_KEY_INFO_free(info);
    return out;
}

SecretBuffer PrivateKey::to_pem() const {
    // A memory BIO in the secure heap: the PEM text is as secret as the key.
    ossl::Bio bio(BIO_new(BIO_s_secmem()));
    if (!bio ||
        PEM_write_bio_PKCS8PrivateKey(bio.get(), key_, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return {};
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    if (n <= 0) return {};
    return SecretBuffer::copy_of(
        ByteView(reinterpret_cast<std::uint8_t*>(data), static_cast<std::size_t>(n)));
}

PublicKey PrivateKey::public_key() const {
    // Round-trip through the encoding so the copy holds no private part.
    auto key = PublicKey::from_der([&] {
        int n = i2d_PUBKEY(key_, nullptr);
        Bytes out(n > 0 ? static_cast<std::size_t>(n) : 0);
        unsigned char* p = out.data();
        if (n > 0) i2d_PUBKEY(key_, &p);
        return out;
    }());
    return key ? std::move(*key) : PublicKey(nullptr);
}

Result<SecretBuffer> ecdh(const PrivateKey& own, const PublicKey& peer) {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own.native(), nullptr));
    std::size_t n = 0;
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
        EVP_PKEY_derive_set_peer_ex(ctx.get(), peer.native(), 1) != 1 ||
        EVP_PKEY_derive(ctx.get(), nullptr, &n) != 1 || n != 32)
        return make_error(Errc::invalid, "ECDH with the peer's key failed");
    SecretBuffer out(n);
    if (EVP_PKEY_derive(ctx.get(), out.data(), &n) != 1 || n != 32)
        return make_error(Errc::invalid, "ECDH with the peer's key failed");
    return out;
}

Result<Bytes> sign(const PrivateKey& key, ByteView message) {
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    std::size_t n = 0;
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.native(),
                              nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &n, message.data(), message.size()) != 1)
        return make_error(Errc::internal, "ECDSA signing failed");
    Bytes out(n);
    if (EVP_DigestSign(ctx.get(), out.data(), &n, message.data(), message.size()) != 1)
        return make_error(Errc::internal, "ECDSA signing failed");
    out.resize(n);
    return out;
}

bool verify(const PublicKey& key, ByteView message, ByteView der_signature) {
    ossl::MdCtx ctx(EVP_MD_CTX_new());
    return ctx &&
           EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.native(),
                                   nullptr) == 1 &&
           EVP_DigestVerify(ctx.get(), der_signature.data(), der_signature.size(), message.data(),
                            message.size()) == 1;
}

Result<Bytes> sign_digest(const PrivateKey& key, const Digest& digest) {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.native(), nullptr));
    std::size_t n = 0;
    if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
        EVP_PKEY_sign(ctx.get(), nullptr, &n, digest.data(), digest.size()) != 1)
        return make_error(Errc::internal, "ECDSA signing failed");
    Bytes out(n);
    if (EVP_PKEY_sign(ctx.get(), out.data(), &n, digest.data(), digest.size()) != 1)
        return make_error(Errc::internal, "ECDSA signing failed");
    out.resize(n);
    return out;
}

bool verify_digest(const PublicKey& key, const Digest& digest, ByteView der_signature) {
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.native(), nullptr));
    return ctx && EVP_PKEY_verify_init(ctx.get()) == 1 &&
           EVP_PKEY_verify(ctx.get(), der_signature.data(), der_signature.size(), digest.data(),
                           digest.size()) == 1;
}

}  // namespace cug::crypto
