#include "crypto/seal.hpp"

#include "crypto/aead.hpp"
#include "crypto/hkdf.hpp"

#include <cstdio>
#include <cstdlib>

namespace cug::crypto {

namespace {

constexpr std::uint8_t zero_nonce[aead_nonce_size] = {};

SecretBuffer seal_key(ByteView shared, ByteView context, ByteView ephemeral, ByteView recipient) {
    const Bytes info = length_prefixed({as_bytes("cug seal v1"), context, ephemeral, recipient});
    return hkdf({}, shared, info, aead_key_size);
}

}  // namespace

Bytes seal_to(const PublicKey& recipient, ByteView context, ByteView plaintext) {
    auto ephemeral = PrivateKey::generate();
    auto shared = ephemeral ? ecdh(*ephemeral, recipient) : Result<SecretBuffer>(ephemeral.error());
    if (!shared) {
        // Only a broken OpenSSL or a recipient key that is not a key gets here.
        std::fputs("cug: sealing failed inside OpenSSL\n", stderr);
        std::abort();
    }
    const Bytes point = ephemeral->public_key().to_point();
    const SecretBuffer key = seal_key(shared->view(), context, point, recipient.to_point());
    Bytes out = point;
    const Bytes body = aead_seal(key.view(), zero_nonce, context, plaintext);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

Result<SecretBuffer> open_sealed(const EcdhFunction& ecdh_with_recipient_key,
                                 const PublicKey& recipient, ByteView context, ByteView sealed) {
    if (sealed.size() < point_size + aead_tag_size)
        return make_error(Errc::invalid, "sealed message too short");
    auto ephemeral = PublicKey::from_point(sealed.first(point_size));
    if (!ephemeral) return make_error(Errc::invalid, "sealed message has a bad ephemeral key");
    auto shared = CUG_TRY(ecdh_with_recipient_key(*ephemeral));
    const SecretBuffer key =
        seal_key(shared.view(), context, sealed.first(point_size), recipient.to_point());
    auto plain = aead_open(key.view(), zero_nonce, context, sealed.subspan(point_size));
    if (!plain)
        return make_error(Errc::invalid, "sealed message does not open (wrong key or context)");
    return plain;
}

Result<SecretBuffer> open_sealed(const PrivateKey& recipient, ByteView context, ByteView sealed) {
    return open_sealed([&](const PublicKey& ephemeral) { return ecdh(recipient, ephemeral); },
                       recipient.public_key(), context, sealed);
}

}  // namespace cug::crypto
