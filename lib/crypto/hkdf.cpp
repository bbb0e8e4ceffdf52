#include "crypto/hkdf.hpp"

#include "crypto/hash.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace cug::crypto {

// RFC 5869 on the thread's HMAC context (crypto/hash.hpp): OpenSSL's HKDF
// provider fetches its digest and MAC by name on every derivation.
SecretBuffer hkdf_extract(ByteView salt, ByteView ikm) {
    // An absent salt is HashLen zero bytes: the same HMAC key as no bytes.
    Digest prk = hmac_sha256(salt, {ikm});
    SecretBuffer out = SecretBuffer::copy_of(ByteView(prk.data(), prk.size()));
    explicit_bzero(prk.data(), prk.size());
    return out;
}

namespace {

// RFC 5869 section 2.3 with `mac` as HMAC(PRK, ...).
template <typename Mac>
SecretBuffer expand(const Mac& mac, ByteView info, std::size_t length) {
    assert(length > 0 && length <= 255 * 32);
    SecretBuffer out(length);
    Digest t{};
    std::size_t done = 0;
    for (std::uint8_t i = 1; done < length; ++i) {
        const std::uint8_t counter[1] = {i};
        // T(i) = HMAC(PRK, T(i-1) || info || i), T(0) empty.
        t = mac({ByteView(t.data(), i == 1 ? 0 : t.size()), info, ByteView(counter, 1)});
        const std::size_t n = std::min(t.size(), length - done);
        std::memcpy(out.data() + done, t.data(), n);
        done += n;
    }
    explicit_bzero(t.data(), t.size());
    return out;
}

}  // namespace

SecretBuffer hkdf_expand(ByteView prk, ByteView info, std::size_t length) {
    return expand([&](std::initializer_list<ByteView> pieces) { return hmac_sha256(prk, pieces); },
                  info, length);
}

SecretBuffer HkdfExpander::expand(ByteView info, std::size_t length) const {
    return crypto::expand([&](std::initializer_list<ByteView> pieces) { return key_.mac(pieces); },
                          info, length);
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
