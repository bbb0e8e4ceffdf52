#include "crypto/hash.hpp"

#include "crypto/openssl.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace cug::crypto {

namespace {

[[noreturn]] void digest_failed() {
    std::fputs("cug: SHA-256 failed inside OpenSSL\n", stderr);
    std::abort();
}

}  // namespace

Digest sha256(ByteView data) {
    Digest out;
    unsigned int n = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr) != 1 ||
        n != out.size())
        digest_failed();
    return out;
}

Digest hmac_sha256(ByteView key, ByteView data) {
    Digest out;
    std::size_t n = 0;
    static const std::uint8_t empty = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.empty() ? &empty : key.data(),
                   key.size(), data.data(), data.size(), out.data(), out.size(), &n) ||
        n != out.size())
        digest_failed();
    return out;
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
