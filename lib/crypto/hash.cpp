#include "crypto/hash.hpp"

#include "crypto/openssl.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace cug::crypto {

namespace {

[[noreturn]] void digest_failed() {
    std::fputs("cug: SHA-256 failed inside OpenSSL\n", stderr);
    std::abort();
}

using MacCtx = std::unique_ptr<EVP_MAC_CTX, ossl::Deleter<EVP_MAC_CTX, EVP_MAC_CTX_free>>;

// An HMAC-SHA-256 context without a key yet.
MacCtx new_hmac() {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    MacCtx c(mac ? EVP_MAC_CTX_new(mac) : nullptr);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (!c || EVP_MAC_CTX_set_params(c.get(), params) != 1) digest_failed();
    return c;
}

// One context per thread, its digest set once: OpenSSL 3's one-shot HMAC
// (EVP_Q_mac) and HKDF look the algorithms up by name on every call, which
// was a third of cugd's time building a bundle of 49 peers.
EVP_MAC_CTX* thread_hmac() {
    thread_local const MacCtx ctx = new_hmac();
    return ctx.get();
}

Digest finish_mac(EVP_MAC_CTX* ctx, std::initializer_list<ByteView> pieces) {
    Digest out;
    std::size_t n = 0;
    for (ByteView p : pieces)
        if (!p.empty() && EVP_MAC_update(ctx, p.data(), p.size()) != 1) digest_failed();
    if (EVP_MAC_final(ctx, out.data(), &n, out.size()) != 1 || n != out.size()) digest_failed();
    return out;
}

}  // namespace

Digest hmac_sha256(ByteView key, std::initializer_list<ByteView> pieces) {
    EVP_MAC_CTX* ctx = thread_hmac();
    static const std::uint8_t zero = 0;
    // An empty key is the HMAC key of zero bytes; OpenSSL wants a pointer.
    if (EVP_MAC_init(ctx, key.empty() ? &zero : key.data(), key.size(), nullptr) != 1)
        digest_failed();
    const Digest out = finish_mac(ctx, pieces);
    // The context keeps a copy of the key and the keyed hash states until the
    // next key: a one-byte zero key replaces them now.
    if (EVP_MAC_init(ctx, &zero, 1, nullptr) != 1) digest_failed();
    return out;
}

Digest hmac_sha256(ByteView key, ByteView data) {
    return hmac_sha256(key, {data});
}

Digest sha256(ByteView data) {
    Digest out;
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr) != 1 ||
        n != out.size())
        digest_failed();
    return out;
}

struct HmacKey::Impl {
    MacCtx ctx = new_hmac();
};

HmacKey::HmacKey(ByteView key) : impl_(std::make_unique<Impl>()) {
    static const std::uint8_t zero = 0;
    if (EVP_MAC_init(impl_->ctx.get(), key.empty() ? &zero : key.data(), key.size(), nullptr) != 1)
        digest_failed();
}
HmacKey::~HmacKey() = default;  // EVP_MAC_CTX_free wipes the key and the keyed states
HmacKey::HmacKey(HmacKey&&) noexcept = default;
HmacKey& HmacKey::operator=(HmacKey&&) noexcept = default;

Digest HmacKey::mac(std::initializer_list<ByteView> pieces) const {
    // No key: start again from the keyed states.
    if (EVP_MAC_init(impl_->ctx.get(), nullptr, 0, nullptr) != 1) digest_failed();
    return finish_mac(impl_->ctx.get(), pieces);
}

struct Sha256::Impl {
    ossl::MdCtx ctx{EVP_MD_CTX_new()};
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
    if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr) != 1)
        digest_failed();
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(ByteView data) {
    if (EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size()) != 1) digest_failed();
}

Digest Sha256::finish() {
    Digest out;
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &n) != 1 ||
        EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr) != 1)
        digest_failed();
    return out;
}

}  // namespace cug::crypto
