#include "crypto/hkdf.hpp"

#include "crypto/openssl.hpp"

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace cug::crypto {

namespace {

SecretBuffer run_hkdf(int mode, ByteView salt, ByteView key, ByteView info, std::size_t length) {
    static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    ossl::KdfCtx ctx(kdf ? EVP_KDF_CTX_new(kdf) : nullptr);
    char digest[] = "SHA256";
    std::vector<OSSL_PARAM> params;
    params.push_back(OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode));
    params.push_back(OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0));
    // An absent salt is HashLen zero bytes; an empty key for HMAC is the same.
    static std::uint8_t zero = 0;
    params.push_back(OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_KEY, key.empty() ? &zero : const_cast<std::uint8_t*>(key.data()),
        key.size()));
    if (!salt.empty())
        params.push_back(OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()), salt.size()));
    if (!info.empty())
        params.push_back(OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, const_cast<std::uint8_t*>(info.data()), info.size()));
    params.push_back(OSSL_PARAM_construct_end());
    SecretBuffer out(length);
    if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
        std::fputs("cug: HKDF failed inside OpenSSL\n", stderr);
        std::abort();
    }
    return out;
}

}  // namespace

SecretBuffer hkdf_extract(ByteView salt, ByteView ikm) {
    return run_hkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, salt, ikm, {}, 32);
}

SecretBuffer hkdf_expand(ByteView prk, ByteView info, std::size_t length) {
    assert(length > 0 && length <= 255 * 32);
    return run_hkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, {}, prk, info, length);
}

SecretBuffer hkdf(ByteView salt, ByteView ikm, ByteView info, std::size_t length) {
    SecretBuffer prk = hkdf_extract(salt, ikm);
    return hkdf_expand(prk.view(), info, length);
}

Bytes length_prefixed(std::initializer_list<ByteView> parts) {
    Bytes out;
    for (ByteView p : parts) {
        assert(p.size() <= 0xffff);
        out.push_back(static_cast<std::uint8_t>(p.size() >> 8));
        out.push_back(static_cast<std::uint8_t>(p.size()));
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

}  // namespace cug::crypto
