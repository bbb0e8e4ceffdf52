#include "crypto/aead.hpp"

#include "crypto/openssl.hpp"

#include <openssl/evp.h>

#include <cassert>
#include <climits>
#include <cstring>

namespace cug::crypto {

namespace {

const EVP_CIPHER* aes_256_gcm() {
    static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    return cipher;
}

}  // namespace

struct Aes256Gcm::Contexts {
    ossl::CipherCtx encrypt{EVP_CIPHER_CTX_new()};
    ossl::CipherCtx decrypt{EVP_CIPHER_CTX_new()};
};

Aes256Gcm::Aes256Gcm(std::unique_ptr<Contexts> contexts) : contexts_(std::move(contexts)) {}
Aes256Gcm::~Aes256Gcm() = default;
Aes256Gcm::Aes256Gcm(Aes256Gcm&&) noexcept = default;
Aes256Gcm& Aes256Gcm::operator=(Aes256Gcm&&) noexcept = default;

Result<Aes256Gcm> Aes256Gcm::create(ByteView key) {
    if (key.size() != aead_key_size)
        return make_error(Errc::invalid, "an AES-256-GCM key is 32 bytes, not {}", key.size());
    auto c = std::make_unique<Contexts>();
    if (!c->encrypt || !c->decrypt || !aes_256_gcm() ||
        EVP_EncryptInit_ex2(c->encrypt.get(), aes_256_gcm(), key.data(), nullptr, nullptr) != 1 ||
        EVP_DecryptInit_ex2(c->decrypt.get(), aes_256_gcm(), key.data(), nullptr, nullptr) != 1)
        return make_error(Errc::internal, "setting up AES-256-GCM failed");
    return Aes256Gcm(std::move(c));
}

bool Aes256Gcm::seal(ByteView nonce, ByteView aad, ByteView plaintext,
                     std::span<std::uint8_t> out) {
    assert(nonce.size() == aead_nonce_size && out.size() == plaintext.size() + aead_tag_size);
    if (plaintext.size() > INT_MAX || aad.size() > INT_MAX) return false;
    EVP_CIPHER_CTX* ctx = contexts_->encrypt.get();
    int n = 0;
    if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1) return false;
    if (!aad.empty() &&
        EVP_EncryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) != 1)
        return false;
    if (!plaintext.empty() && EVP_EncryptUpdate(ctx, out.data(), &n, plaintext.data(),
                                                static_cast<int>(plaintext.size())) != 1)
        return false;
    std::uint8_t none[1];  // GCM's final step writes no bytes, but wants somewhere to
    if (EVP_EncryptFinal_ex(ctx, none, &n) != 1) return false;
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(aead_tag_size),
                               out.data() + plaintext.size()) == 1;
}

bool Aes256Gcm::open(ByteView nonce, ByteView aad, ByteView sealed, std::span<std::uint8_t> out) {
    assert(nonce.size() == aead_nonce_size && sealed.size() >= aead_tag_size &&
           out.size() == sealed.size() - aead_tag_size);
    if (sealed.size() > INT_MAX || aad.size() > INT_MAX) return false;
    EVP_CIPHER_CTX* ctx = contexts_->decrypt.get();
    const std::size_t length = sealed.size() - aead_tag_size;
    std::uint8_t tag[aead_tag_size];
    std::memcpy(tag, sealed.data() + length, aead_tag_size);  // `out` may overlap `sealed`
    std::uint8_t none[1];
    int n = 0;
    bool good =
        EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) == 1 &&
        (aad.empty() ||
         EVP_DecryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1) &&
        (length == 0 ||
         EVP_DecryptUpdate(ctx, out.data(), &n, sealed.data(), static_cast<int>(length)) == 1) &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(aead_tag_size), tag) == 1 &&
        EVP_DecryptFinal_ex(ctx, none, &n) == 1;
    if (!good && !out.empty()) OPENSSL_cleanse(out.data(), out.size());
    return good;
}

Bytes aead_seal(ByteView key, ByteView nonce, ByteView aad, ByteView plaintext) {
    auto cipher = Aes256Gcm::create(key);
    assert(cipher.ok());
    Bytes out(plaintext.size() + aead_tag_size);
    if (!cipher || !cipher->seal(nonce, aad, plaintext, out)) return {};
    return out;
}

Result<SecretBuffer> aead_open(ByteView key, ByteView nonce, ByteView aad, ByteView sealed) {
    if (nonce.size() != aead_nonce_size)
        return make_error(Errc::invalid, "an AES-GCM nonce is 12 bytes, not {}", nonce.size());
    if (sealed.size() < aead_tag_size)
        return make_error(Errc::invalid, "sealed data shorter than its tag");
    auto cipher = CUG_TRY(Aes256Gcm::create(key));
    SecretBuffer out(sealed.size() - aead_tag_size);
    if (!cipher.open(nonce, aad, sealed, out.span()))
        return make_error(Errc::invalid, "authentication failed");
    return out;
}

}  // namespace cug::crypto
