#include "crypto/block.hpp"

#include "crypto/openssl.hpp"

#include <openssl/evp.h>

namespace cug::crypto {

namespace {

const char* cipher_name(BlockCipher c) {
    switch (c) {
        case BlockCipher::tdes:
            return "DES-EDE3-ECB";
        case BlockCipher::aes128:
            return "AES-128-ECB";
        case BlockCipher::aes192:
            return "AES-192-ECB";
        case BlockCipher::aes256:
            return "AES-256-ECB";
    }
    return "";
}

Result<Bytes> run(BlockCipher cipher, ByteView key, ByteView block, bool encrypt) {
    if (key.size() != key_size(cipher) || block.size() != block_size(cipher))
        return make_error(Errc::invalid, "{}: a {}-byte key and a {}-byte block are needed",
                          cipher_name(cipher), key_size(cipher), block_size(cipher));
    EVP_CIPHER* evp = EVP_CIPHER_fetch(nullptr, cipher_name(cipher), nullptr);
    ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
    Bytes out(block.size() + 32);
    int n = 0, m = 0;
    const bool done =
        evp && ctx &&
        EVP_CipherInit_ex2(ctx.get(), evp, key.data(), nullptr, encrypt, nullptr) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1 &&
        EVP_CipherUpdate(ctx.get(), out.data(), &n, block.data(), static_cast<int>(block.size())) ==
            1 &&
        EVP_CipherFinal_ex(ctx.get(), out.data() + n, &m) == 1;
    EVP_CIPHER_free(evp);
    if (!done) return make_error(Errc::internal, "{} failed inside OpenSSL", cipher_name(cipher));
    out.resize(static_cast<std::size_t>(n + m));
    return out;
}

}  // namespace

std::size_t block_size(BlockCipher c) {
    return c == BlockCipher::tdes ? 8 : 16;
}

std::size_t key_size(BlockCipher c) {
    switch (c) {
        case BlockCipher::tdes:
            return 24;
        case BlockCipher::aes128:
            return 16;
        case BlockCipher::aes192:
            return 24;
        case BlockCipher::aes256:
            return 32;
    }
    return 0;
}

Result<Bytes> block_encrypt(BlockCipher c, ByteView key, ByteView block) {
    return run(c, key, block, true);
}

Result<Bytes> block_decrypt(BlockCipher c, ByteView key, ByteView block) {
    return run(c, key, block, false);
}

}  // namespace cug::crypto
