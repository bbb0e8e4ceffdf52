#include "card/piv.hpp"

#include "crypto/random.hpp"

#include <cstring>

namespace cug::card {

namespace piv {

std::uint32_t certificate_object(std::uint8_t slot) {
    switch (slot) {
        case slot_authentication:
            return 0x5fc105;
        case slot_signature:
            return 0x5fc10a;
        case slot_key_management:
            return 0x5fc10b;
        case slot_card_authentication:
            return 0x5fc101;
        case slot_attestation:
            return 0x5fff01;
    }
    if (slot >= 0x82 && slot <= 0x95) return 0x5fc10d + (slot - 0x82);
    return 0;
}

std::uint8_t algorithm_id(crypto::BlockCipher cipher) {
    switch (cipher) {
        case crypto::BlockCipher::tdes:
            return 0x03;
        case crypto::BlockCipher::aes128:
            return 0x08;
        case crypto::BlockCipher::aes192:
            return 0x0a;
        case crypto::BlockCipher::aes256:
            return 0x0c;
    }
    return 0;
}

std::optional<crypto::BlockCipher> cipher_for(std::uint8_t algorithm) {
    switch (algorithm) {
        case 0x00:  // "default": 3DES on PIV cards and YubiKeys before 5.7
        case 0x03:
            return crypto::BlockCipher::tdes;
        case 0x08:
            return crypto::BlockCipher::aes128;
        case 0x0a:
            return crypto::BlockCipher::aes192;
        case 0x0c:
            return crypto::BlockCipher::aes256;
    }
    return std::nullopt;
}

Bytes default_management_key() {
    Bytes key;
    for (int round = 0; round < 3; ++round)
        for (std::uint8_t b = 1; b <= 8; ++b)
            key.push_back(b);
    return key;
}

}  // namespace piv

namespace {

constexpr std::uint8_t aid[] = {0xa0, 0x00, 0x00, 0x03, 0x08};

// PINs and PUKs travel as 8 bytes padded with 0xFF.
Result<crypto::SecretBuffer> padded(ByteView value, std::string_view what) {
    if (value.size() < 6 || value.size() > 8)
        return make_error(Errc::invalid, "the {} must be 6 to 8 characters", what);
    crypto::SecretBuffer out(8);
    std::memset(out.data(), 0xff, 8);
    std::memcpy(out.data(), value.data(), value.size());
    return out;
}

}  // namespace

Error status_error(std::uint16_t sw, std::string_view what) {
    if ((sw & 0xfff0) == 0x63c0) {
        const int left = sw & 0x0f;
        return with_reason(make_error(Errc::permission, "{}: wrong {} ({} {} left)", what,
                                      what.find("PUK") != std::string_view::npos ? "PUK" : "PIN",
                                      left, left == 1 ? "try" : "tries"),
                           Reason::wrong_pin);
    }
    switch (sw) {
        case 0x6982:
            return make_error(Errc::permission, "{}: security status not satisfied", what);
        case 0x6983:
            return make_error(Errc::permission, "{}: blocked (too many wrong tries)", what);
        case 0x6985:
            return make_error(Errc::permission, "{}: conditions of use not satisfied", what);
        case 0x6a80:
            return make_error(Errc::invalid, "{}: the card refused the data", what);
        case 0x6a82:
            return make_error(Errc::not_found, "{}: not on the card", what);
        case 0x6a81:
        case 0x6d00:
        case 0x6e00:
            return make_error(Errc::unavailable, "{}: the card does not support it", what);
        case 0x6a84:
            return make_error(Errc::unavailable, "{}: the card is full", what);
        case 0x6a86:
        case 0x6b00:
            return make_error(Errc::invalid, "{}: incorrect parameters", what);
        case 0x6700:
            return make_error(Errc::protocol, "{}: wrong length", what);
        case 0x6300:
            return make_error(Errc::permission, "{}: verification failed", what);
    }
    return make_error(Errc::io, "{}: the card answered {:04X}", what, sw);
}

Result<Response> Piv::run(const Command& command, std::string_view what) {
    auto r = CUG_TRY(t_.transmit(command));
    if (!r.ok()) return status_error(r.sw, what);
    return r;
}

Result<void> Piv::select() {
    Command c{0x00, 0xa4, 0x04, 0x00, Bytes(std::begin(aid), std::end(aid)), 256};
    auto r = CUG_TRY(t_.transmit(c));
    if (r.sw == 0x6a82 || r.sw == 0x6d00 || r.sw == 0x6e00 || r.sw == 0x6a81)
        return make_error(Errc::unavailable, "the card in '{}' is not a PIV card", t_.name());
    if (!r.ok()) return status_error(r.sw, "selecting the PIV application");
    return ok();
}

Result<std::optional<PivVersion>> Piv::version() {
    auto r = CUG_TRY(t_.transmit(Command{0x00, 0xfd, 0x00, 0x00, {}, 256}));
    if (!r.ok() || r.data.size() != 3) return std::optional<PivVersion>();
    return std::optional<PivVersion>(PivVersion{r.data[0], r.data[1], r.data[2]});
}

Result<std::optional<std::uint32_t>> Piv::serial() {
    auto r = CUG_TRY(t_.transmit(Command{0x00, 0xf8, 0x00, 0x00, {}, 256}));
    if (!r.ok() || r.data.size() != 4) return std::optional<std::uint32_t>();
    return std::optional<std::uint32_t>(std::uint32_t{r.data[0]} << 24 | r.data[1] << 16 |
                                        r.data[2] << 8 | r.data[3]);
}

Result<std::optional<SlotMetadata>> Piv::metadata(std::uint8_t slot) {
    auto r = CUG_TRY(t_.transmit(Command{0x00, 0xf7, 0x00, slot, {}, 256}));
    if (r.sw == 0x6d00 || r.sw == 0x6a81 || r.sw == 0x6a82) return std::optional<SlotMetadata>();
    if (!r.ok()) return status_error(r.sw, "reading the slot's metadata");
    SlotMetadata m;
    for (const Tlv& t : CUG_TRY(parse_tlvs(r.data))) {
        switch (t.tag) {
            case 0x01:
                if (t.value.size() == 1) m.algorithm = t.value[0];
                break;
            case 0x02:
                if (t.value.size() == 2) {
                    m.pin_policy = static_cast<PinPolicy>(t.value[0] & 3);
                    m.touch_policy = static_cast<TouchPolicy>(t.value[1] & 3);
                }
                break;
            case 0x03:
                m.generated_on_card = t.value.size() == 1 && t.value[0] == 1;
                break;
            case 0x04:
                if (auto point = CUG_TRY(find_tlv(t.value, 0x86)))
                    m.public_point.assign(point->begin(), point->end());
                break;
            case 0x05:
                m.is_default = t.value.size() == 1 && t.value[0] == 1;
                break;
            case 0x06:
                if (t.value.size() == 2) m.tries_left = t.value[1];
                break;
        }
    }
    return std::optional<SlotMetadata>(std::move(m));
}

Result<int> Piv::pin_tries_left() {
    auto r = CUG_TRY(t_.transmit(Command{0x00, 0x20, 0x00, piv::reference_pin, {}, std::nullopt}));
    if ((r.sw & 0xfff0) == 0x63c0) return r.sw & 0x0f;
    if (r.sw == 0x6983) return 0;
    if (r.ok()) {
        // Already verified in this session: the card does not say how many
        // tries are left; the metadata (YubiKey) does.
        if (auto m = CUG_TRY(metadata(piv::reference_pin)); m && m->tries_left >= 0)
            return m->tries_left;
        return -1;
    }
    return status_error(r.sw, "reading the PIN's state");
}

Result<void> Piv::verify_pin(ByteView pin) {
    auto value = CUG_TRY(padded(pin, "PIN"));
    Command c{0x00,
              0x20,
              0x00,
              piv::reference_pin,
              Bytes(value.view().begin(), value.view().end()),
              std::nullopt};
    auto r = t_.transmit(c);
    std::fill(c.data.begin(), c.data.end(), 0);
    if (!r) return std::move(r).error();
    if (r->sw == 0x6983)
        return with_reason(
            make_error(Errc::permission, "the PIN is blocked; unblock it with the PUK"),
            Reason::pin_blocked);
    if (!r->ok()) return status_error(r->sw, "verifying the PIN");
    return ok();
}

Result<void> Piv::change_reference(std::uint8_t reference, ByteView old_value, ByteView new_value) {
    const char* what = reference == piv::reference_puk ? "PUK" : "PIN";
    auto old_padded = CUG_TRY(padded(old_value, what));
    auto new_padded = CUG_TRY(padded(new_value, what));
    Command c{0x00,
              0x24,
              0x00,
              reference,
              Bytes(old_padded.view().begin(), old_padded.view().end()),
              std::nullopt};
    c.data.insert(c.data.end(), new_padded.view().begin(), new_padded.view().end());
    auto r = t_.transmit(c);
    std::fill(c.data.begin(), c.data.end(), 0);
    if (!r) return std::move(r).error();
    if (!r->ok())
        return status_error(
            r->sw, reference == piv::reference_puk ? "changing the PUK" : "changing the PIN");
    return ok();
}

Result<void> Piv::unblock_pin(ByteView puk, ByteView new_pin) {
    auto puk_padded = CUG_TRY(padded(puk, "PUK"));
    auto pin_padded = CUG_TRY(padded(new_pin, "PIN"));
    Command c{0x00,
              0x2c,
              0x00,
              piv::reference_pin,
              Bytes(puk_padded.view().begin(), puk_padded.view().end()),
              std::nullopt};
    c.data.insert(c.data.end(), pin_padded.view().begin(), pin_padded.view().end());
    auto r = t_.transmit(c);
    std::fill(c.data.begin(), c.data.end(), 0);
    if (!r) return std::move(r).error();
    if (!r->ok()) return status_error(r->sw, "unblocking the PIN with the PUK");
    return ok();
}

Result<Bytes> Piv::general_authenticate(std::uint8_t algorithm, std::uint8_t slot,
                                        ByteView template_contents, std::string_view what) {
    Command c{0x00, 0x87, algorithm, slot, tlv(0x7c, template_contents), 256};
    auto r = CUG_TRY(run(c, what));
    auto outer = CUG_TRY(find_tlv(r.data, 0x7c));
    if (!outer) return make_error(Errc::protocol, "{}: the card's answer has no 7C template", what);
    return Bytes(outer->begin(), outer->end());
}

Result<void> Piv::authenticate(crypto::BlockCipher cipher, ByteView key) {
    const std::uint8_t alg = piv::algorithm_id(cipher);
    const std::size_t n = crypto::block_size(cipher);
    constexpr std::string_view what = "authenticating with the management key";
    // 1. The card's witness, encrypted under the management key.
    auto first = CUG_TRY(general_authenticate(alg, piv::key_management_key, tlv(0x80, {}), what));
    auto witness = CUG_TRY(find_tlv(first, 0x80));
    if (!witness || witness->size() != n)
        return make_error(Errc::protocol, "{}: the card sent no usable witness", what);
    // 2. The witness decrypted (proving we hold the key) and our own challenge.
    auto decrypted = CUG_TRY(crypto::block_decrypt(cipher, key, *witness));
    Bytes challenge(n);
    crypto::random_bytes(challenge);
    Bytes second = tlv(0x80, decrypted);
    append_tlv(second, 0x81, challenge);
    Command c{0x00, 0x87, alg, piv::key_management_key, tlv(0x7c, second), 256};
    auto r = CUG_TRY(t_.transmit(c));
    if (r.sw == 0x6982 || r.sw == 0x6a80 || r.sw == 0x6300)
        return make_error(Errc::permission, "{}: wrong management key", what);
    if (!r.ok()) return status_error(r.sw, what);
    // 3. The card's answer proves it holds the same key.
    auto outer = CUG_TRY(find_tlv(r.data, 0x7c));
    auto response = outer ? CUG_TRY(find_tlv(*outer, 0x82)) : std::optional<ByteView>();
    auto expected = CUG_TRY(crypto::block_encrypt(cipher, key, challenge));
    if (!response || !crypto::equal_ct(*response, expected))
        return make_error(Errc::permission, "{}: the card did not prove the same key", what);
    return ok();
}

Result<void> Piv::set_management_key(crypto::BlockCipher cipher, ByteView key) {
    if (key.size() != crypto::key_size(cipher))
        return make_error(Errc::invalid, "a management key of {} bytes does not fit the cipher",
                          key.size());
    Command c{
        0x00,
        0xff,
        0xff,
        0xff,
        {piv::algorithm_id(cipher), piv::key_management_key, static_cast<std::uint8_t>(key.size())},
        std::nullopt};
    c.data.insert(c.data.end(), key.begin(), key.end());
    auto r = t_.transmit(c);
    std::fill(c.data.begin(), c.data.end(), 0);
    if (!r) return std::move(r).error();
    if (!r->ok()) return status_error(r->sw, "setting the management key");
    return ok();
}

Result<crypto::PublicKey> Piv::generate(std::uint8_t slot, PinPolicy pin, TouchPolicy touch) {
    Bytes contents = tlv(0x80, Bytes{piv::algorithm_p256});
    if (pin != PinPolicy::card_default)
        append_tlv(contents, 0xaa, Bytes{static_cast<std::uint8_t>(pin)});
    if (touch != TouchPolicy::card_default)
        append_tlv(contents, 0xab, Bytes{static_cast<std::uint8_t>(touch)});
    const std::string what = fmt::format("generating a P-256 key in slot {:02X}", slot);
    auto r = CUG_TRY(run(Command{0x00, 0x47, 0x00, slot, tlv(0xac, contents), 256}, what));
    auto key = CUG_TRY(find_tlv(r.data, 0x7f49));
    auto point = key ? CUG_TRY(find_tlv(*key, 0x86)) : std::optional<ByteView>();
    if (!point) return make_error(Errc::protocol, "{}: the card returned no public key", what);
    auto public_key = crypto::PublicKey::from_point(*point);
    if (!public_key)
        return make_error(Errc::protocol, "{}: the card returned a bad key: {}", what,
                          public_key.error().message);
    return public_key;
}

Result<std::optional<Bytes>> Piv::read_object(std::uint32_t tag) {
    Bytes id{static_cast<std::uint8_t>(tag >> 16), static_cast<std::uint8_t>(tag >> 8),
             static_cast<std::uint8_t>(tag)};
    if (tag <= 0xff) id = Bytes{static_cast<std::uint8_t>(tag)};
    auto r = CUG_TRY(t_.transmit(Command{0x00, 0xcb, 0x3f, 0xff, tlv(0x5c, id), 256}));
    if (r.sw == 0x6a82) return std::optional<Bytes>();
    if (!r.ok()) return status_error(r.sw, fmt::format("reading data object {:06X}", tag));
    auto contents = CUG_TRY(find_tlv(r.data, 0x53));
    if (!contents)
        return make_error(Errc::protocol, "data object {:06X} is not wrapped in tag 53", tag);
    return std::optional<Bytes>(Bytes(contents->begin(), contents->end()));
}

Result<void> Piv::write_object(std::uint32_t tag, ByteView contents) {
    Bytes data =
        tlv(0x5c, Bytes{static_cast<std::uint8_t>(tag >> 16), static_cast<std::uint8_t>(tag >> 8),
                        static_cast<std::uint8_t>(tag)});
    append_tlv(data, 0x53, contents);
    CUG_TRY(run(Command{0x00, 0xdb, 0x3f, 0xff, std::move(data), std::nullopt},
                fmt::format("writing data object {:06X}", tag)));
    return ok();
}

Result<std::optional<crypto::Certificate>> Piv::read_certificate(std::uint8_t slot) {
    auto contents = CUG_TRY(read_object(piv::certificate_object(slot)));
    if (!contents || contents->empty()) return std::optional<crypto::Certificate>();
    auto der = CUG_TRY(find_tlv(*contents, 0x70));
    if (!der || der->empty()) return std::optional<crypto::Certificate>();
    auto info = CUG_TRY(find_tlv(*contents, 0x71));
    if (info && !info->empty() && (*info)[0] != 0)
        return make_error(Errc::unavailable,
                          "the certificate in slot {:02X} is compressed, which cug does not read",
                          slot);
    auto certificate = crypto::Certificate::from_der(*der);
    if (!certificate)
        return make_error(Errc::invalid, "the certificate in slot {:02X}: {}", slot,
                          certificate.error().message);
    return std::optional<crypto::Certificate>(std::move(*certificate));
}

Result<void> Piv::write_certificate(std::uint8_t slot, const crypto::Certificate& certificate) {
    Bytes contents = tlv(0x70, certificate.to_der());
    append_tlv(contents, 0x71, Bytes{0x00});  // not compressed
    append_tlv(contents, 0xfe, {});           // no error detection code
    return write_object(piv::certificate_object(slot), contents);
}

Result<crypto::SecretBuffer> Piv::ecdh(std::uint8_t slot, const crypto::PublicKey& peer) {
    Bytes contents = tlv(0x82, {});
    append_tlv(contents, 0x85, peer.to_point());
    auto answer = CUG_TRY(general_authenticate(
        piv::algorithm_p256, slot, contents, fmt::format("key agreement with slot {:02X}", slot)));
    auto shared = CUG_TRY(find_tlv(answer, 0x82));
    if (!shared || shared->size() != 32)
        return make_error(Errc::protocol, "the card's key agreement answer is malformed");
    auto out = crypto::SecretBuffer::copy_of(*shared);
    std::fill(answer.begin(), answer.end(), 0);
    return out;
}

Result<Bytes> Piv::sign(std::uint8_t slot, const crypto::Digest& digest) {
    Bytes contents = tlv(0x82, {});
    append_tlv(contents, 0x81, digest);
    auto answer = CUG_TRY(general_authenticate(piv::algorithm_p256, slot, contents,
                                               fmt::format("signing with slot {:02X}", slot)));
    auto signature = CUG_TRY(find_tlv(answer, 0x82));
    if (!signature || signature->empty() || signature->size() > 80)
        return make_error(Errc::protocol, "the card's signature is malformed");
    return Bytes(signature->begin(), signature->end());
}

Result<std::optional<crypto::Certificate>> Piv::attest(std::uint8_t slot) {
    auto r = CUG_TRY(t_.transmit(Command{0x00, 0xf9, slot, 0x00, {}, 256}));
    if (r.sw == 0x6d00 || r.sw == 0x6a81 || r.sw == 0x6e00)
        return std::optional<crypto::Certificate>();
    if (!r.ok()) return status_error(r.sw, fmt::format("attesting slot {:02X}", slot));
    auto certificate = crypto::Certificate::from_der(r.data);
    if (!certificate)
        return make_error(Errc::invalid, "the attestation of slot {:02X}: {}", slot,
                          certificate.error().message);
    return std::optional<crypto::Certificate>(std::move(*certificate));
}

}  // namespace cug::card
