#include "vcard/virtual_piv.hpp"

#include "card/apdu.hpp"
#include "card/piv.hpp"
#include "core/time.hpp"
#include "crypto/random.hpp"
#include "wire/kv.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace cug::vcard {

using card::append_tlv;
using card::find_tlv;
using card::tlv;

namespace {

constexpr std::uint8_t piv_aid[] = {0xa0, 0x00, 0x00, 0x03, 0x08};
constexpr std::size_t max_object = 3052;  // what a YubiKey 5 stores per object

// PINs arrive padded to 8 bytes with 0xFF; the value is what comes before.
std::optional<std::string> unpad(ByteView padded) {
    if (padded.size() != 8) return std::nullopt;
    std::size_t n = 8;
    while (n > 0 && padded[n - 1] == 0xff)
        --n;
    for (std::size_t i = 0; i < n; ++i)
        if (padded[i] == 0xff) return std::nullopt;
    if (n < 6) return std::nullopt;
    return std::string(as_chars(padded.first(n)));
}

std::uint16_t tries_sw(int tries) {
    return static_cast<std::uint16_t>(0x63c0 | (tries & 0x0f));
}

std::uint8_t cipher_id(crypto::BlockCipher c) {
    return card::piv::algorithm_id(c);
}

}  // namespace

CardState factory_card(std::uint32_t serial) {
    CardState s;
    s.management_key = card::piv::default_management_key();
    s.serial = serial;
    return s;
}

// --- the state file -----------------------------------------------------------

Result<CardState> load_state(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error(Errc::no_input, "cannot read card state {}", file.string());
    std::stringstream text;
    text << in.rdbuf();
    wire::Limits limits{16384, 16000, 256, 1 << 20};
    auto m = CUG_TRY(wire::parse_message(text.str(), limits));
    CardState s;
    s.pin = std::string(CUG_TRY(m.get("pin")));
    s.puk = std::string(CUG_TRY(m.get("puk")));
    s.pin_tries = static_cast<int>(CUG_TRY(m.get_u64("pin.tries", 0, 15)));
    s.pin_max = static_cast<int>(CUG_TRY(m.get_u64("pin.max", 1, 15)));
    s.puk_tries = static_cast<int>(CUG_TRY(m.get_u64("puk.tries", 0, 15)));
    s.puk_max = static_cast<int>(CUG_TRY(m.get_u64("puk.max", 1, 15)));
    auto cipher = card::piv::cipher_for(
        static_cast<std::uint8_t>(CUG_TRY(m.get_u64("management.algorithm", 1, 255))));
    if (!cipher) return make_error(Errc::invalid, "bad management.algorithm in the card state");
    s.management_cipher = *cipher;
    s.management_key = CUG_TRY(m.get_bytes("management.key", 32));
    s.serial = static_cast<std::uint32_t>(CUG_TRY(m.get_u64("serial", 0, UINT32_MAX)));
    s.version[0] = static_cast<std::uint8_t>(CUG_TRY(m.get_u64("version.major", 0, 255)));
    s.version[1] = static_cast<std::uint8_t>(CUG_TRY(m.get_u64("version.minor", 0, 255)));
    s.version[2] = static_cast<std::uint8_t>(CUG_TRY(m.get_u64("version.patch", 0, 255)));
    s.knows_aes = CUG_TRY(m.get_bool("caps.aes"));
    s.ecc_key_agreement = CUG_TRY(m.get_bool("caps.ecc_key_agreement"));
    s.yubikey = CUG_TRY(m.get_bool("caps.yubikey"));
    if (m.has("attestation.key")) {
        auto der = CUG_TRY(m.get_bytes("attestation.key", 4096));
        s.attestation_key = crypto::SecretBuffer::copy_of(der);
    }
    for (const auto& [key, value] : m) {
        unsigned n = 0;
        if (std::sscanf(key.c_str(), "key.%2x.private", &n) == 1 && key.size() == 14) {
            KeySlot slot;
            auto der = CUG_TRY(m.get_bytes(key, 4096));
            slot.private_der = crypto::SecretBuffer::copy_of(der);
            const std::string prefix = key.substr(0, 7);
            slot.pin_policy =
                static_cast<std::uint8_t>(CUG_TRY(m.get_u64(prefix + "pin_policy", 1, 3)));
            slot.touch_policy =
                static_cast<std::uint8_t>(CUG_TRY(m.get_u64(prefix + "touch_policy", 1, 3)));
            s.keys.emplace(static_cast<std::uint8_t>(n), std::move(slot));
        } else if (std::sscanf(key.c_str(), "object.%6x", &n) == 1 && key.size() == 13) {
            s.objects[n] = CUG_TRY(m.get_bytes(key, max_object + 16));
        }
    }
    return s;
}

Result<void> save_state(const std::filesystem::path& file, const CardState& s) {
    wire::Message m;
    CUG_CHECK(m.add("pin", s.pin));
    CUG_CHECK(m.add("puk", s.puk));
    CUG_CHECK(m.add_u64("pin.tries", static_cast<std::uint64_t>(s.pin_tries)));
    CUG_CHECK(m.add_u64("pin.max", static_cast<std::uint64_t>(s.pin_max)));
    CUG_CHECK(m.add_u64("puk.tries", static_cast<std::uint64_t>(s.puk_tries)));
    CUG_CHECK(m.add_u64("puk.max", static_cast<std::uint64_t>(s.puk_max)));
    CUG_CHECK(m.add_u64("management.algorithm", cipher_id(s.management_cipher)));
    CUG_CHECK(m.add_bytes("management.key", s.management_key));
    CUG_CHECK(m.add_u64("serial", s.serial));
    CUG_CHECK(m.add_u64("version.major", s.version[0]));
    CUG_CHECK(m.add_u64("version.minor", s.version[1]));
    CUG_CHECK(m.add_u64("version.patch", s.version[2]));
    CUG_CHECK(m.add_bool("caps.aes", s.knows_aes));
    CUG_CHECK(m.add_bool("caps.ecc_key_agreement", s.ecc_key_agreement));
    CUG_CHECK(m.add_bool("caps.yubikey", s.yubikey));
    if (s.attestation_key) CUG_CHECK(m.add_bytes("attestation.key", s.attestation_key->view()));
    for (const auto& [slot, key] : s.keys) {
        const std::string prefix = fmt::format("key.{:02x}.", slot);
        CUG_CHECK(m.add_bytes(prefix + "private", key.private_der.view()));
        CUG_CHECK(m.add_u64(prefix + "pin_policy", key.pin_policy));
        CUG_CHECK(m.add_u64(prefix + "touch_policy", key.touch_policy));
    }
    for (const auto& [tag, contents] : s.objects)
        CUG_CHECK(m.add_bytes(fmt::format("object.{:06x}", tag), contents));
    const std::string text = m.encode();
    const std::filesystem::path temporary = file.string() + ".new";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(Errc::io, "cannot write card state {}", temporary.string());
    const bool written =
        ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
        fsync(fd) == 0;
    ::close(fd);
    if (!written || std::rename(temporary.c_str(), file.c_str()) != 0)
        return make_error(Errc::io, "cannot write card state {}", file.string());
    return ok();
}

// --- the card -------------------------------------------------------------------

void VirtualPiv::reset() {
    selected_ = true;
    pin_verified_ = false;
    management_authenticated_ = false;
    witness_.clear();
    chained_.clear();
    pending_.clear();
}

Bytes VirtualPiv::process(ByteView apdu) {
    auto command = card::parse_command(apdu);
    Reply reply;
    if (!command) {
        reply.sw = 0x6700;
    } else if (command->ins == 0xc0 && (command->cla & ~0x10) == 0x00) {
        // GET RESPONSE: the next part of what is pending.
        if (pending_.empty()) reply.sw = 0x6985;
        reply.data = std::move(pending_);
        pending_.clear();
    } else {
        pending_.clear();  // any other command drops what was not fetched
        if ((command->cla & ~0x10) != 0x00) {
            reply.sw = 0x6e00;
        } else if (command->cla & 0x10) {
            // A chain: keep the data until the last command arrives.
            if (!chained_.empty() && chained_ins_ != command->ins) chained_.clear();
            chained_ins_ = command->ins;
            chained_.insert(chained_.end(), command->data.begin(), command->data.end());
            if (chained_.size() > 8192) {
                chained_.clear();
                reply.sw = 0x6700;
            }
            return card::encode_response(card::Response{{}, reply.sw});
        } else {
            Bytes data = std::move(command->data);
            if (!chained_.empty() && chained_ins_ == command->ins) {
                chained_.insert(chained_.end(), data.begin(), data.end());
                data = std::move(chained_);
            }
            chained_.clear();
            reply = dispatch(command->ins, command->p1, command->p2, data);
        }
    }
    // Answers go out at most Le (and never more than 256) bytes at a time.
    const std::size_t le = command && command->le ? *command->le : 256;
    if (reply.data.size() > le) {
        pending_.assign(reply.data.begin() + static_cast<std::ptrdiff_t>(le), reply.data.end());
        reply.data.resize(le);
        const std::size_t left = pending_.size();
        reply.sw = static_cast<std::uint16_t>(0x6100 | (left >= 256 ? 0 : left));
    }
    return card::encode_response(card::Response{std::move(reply.data), reply.sw});
}

VirtualPiv::Reply VirtualPiv::dispatch(std::uint8_t ins, std::uint8_t p1, std::uint8_t p2,
                                       ByteView data) {
    if (ins == 0xa4) return select(data);
    if (!selected_) return {{}, 0x6d00};
    switch (ins) {
        case 0x20:
            return verify(p2, data);
        case 0x24:
            return change_reference(p2, data);
        case 0x2c:
            return reset_retry_counter(data);
        case 0x87:
            return general_authenticate(p1, p2, data);
        case 0x47:
            return generate(p2, data);
        case 0xcb:
            return get_data(data);
        case 0xdb:
            return put_data(data);
    }
    if (!state_.yubikey) return {{}, 0x6d00};
    switch (ins) {
        case 0xfd:
            return {Bytes(std::begin(state_.version), std::end(state_.version)), 0x9000};
        case 0xf8: {
            Bytes s{static_cast<std::uint8_t>(state_.serial >> 24),
                    static_cast<std::uint8_t>(state_.serial >> 16),
                    static_cast<std::uint8_t>(state_.serial >> 8),
                    static_cast<std::uint8_t>(state_.serial)};
            return {s, 0x9000};
        }
        case 0xf7:
            return metadata(p2);
        case 0xff:
            return set_management_key(data);
        case 0xf9:
            return attest(p1);
    }
    return {{}, 0x6d00};
}

VirtualPiv::Reply VirtualPiv::select(ByteView data) {
    // Clients send the 5-byte RID prefix or the full AID: match by prefix.
    if (data.size() < sizeof piv_aid || std::memcmp(data.data(), piv_aid, sizeof piv_aid) != 0)
        return {{}, 0x6a82};  // PIV stays selected
    selected_ = true;
    // Application property template: AID, coexistent tag allocation authority,
    // the algorithms this card knows.
    Bytes contents = tlv(0x4f, Bytes{0x00, 0x00, 0x10, 0x00, 0x01, 0x00});
    append_tlv(contents, 0x79, tlv(0x4f, ByteView(piv_aid, sizeof piv_aid)));
    Bytes algorithms;
    append_tlv(algorithms, 0x80, Bytes{0x03});
    if (state_.knows_aes) append_tlv(algorithms, 0x80, Bytes{0x0c});
    append_tlv(algorithms, 0x80, Bytes{card::piv::algorithm_p256});
    append_tlv(algorithms, 0x06, Bytes{0x00});
    append_tlv(contents, 0xac, algorithms);
    return {tlv(0x61, contents), 0x9000};
}

VirtualPiv::Reply VirtualPiv::verify(std::uint8_t p2, ByteView data) {
    if (p2 != card::piv::reference_pin) return {{}, 0x6a88};
    if (data.empty()) {  // status only
        if (state_.pin_tries == 0) return {{}, 0x6983};
        return {{}, pin_verified_ ? std::uint16_t{0x9000} : tries_sw(state_.pin_tries)};
    }
    if (state_.pin_tries == 0) return {{}, 0x6983};
    auto pin = unpad(data);
    if (!pin || *pin != state_.pin) {
        pin_verified_ = false;
        state_.pin_tries -= 1;
        changed();
        return {{}, state_.pin_tries == 0 ? std::uint16_t{0x6983} : tries_sw(state_.pin_tries)};
    }
    pin_verified_ = true;
    if (state_.pin_tries != state_.pin_max) {
        state_.pin_tries = state_.pin_max;
        changed();
    }
    return {};
}

VirtualPiv::Reply VirtualPiv::change_reference(std::uint8_t p2, ByteView data) {
    const bool puk = p2 == card::piv::reference_puk;
    if (!puk && p2 != card::piv::reference_pin) return {{}, 0x6a88};
    if (data.size() != 16) return {{}, 0x6a80};
    int& tries = puk ? state_.puk_tries : state_.pin_tries;
    std::string& value = puk ? state_.puk : state_.pin;
    if (tries == 0) return {{}, 0x6983};
    auto old_value = unpad(data.first(8));
    auto new_value = unpad(data.subspan(8));
    if (!old_value || *old_value != value) {
        tries -= 1;
        changed();
        return {{}, tries == 0 ? std::uint16_t{0x6983} : tries_sw(tries)};
    }
    if (!new_value) return {{}, 0x6a80};
    value = *new_value;
    tries = puk ? state_.puk_max : state_.pin_max;
    changed();
    return {};
}

VirtualPiv::Reply VirtualPiv::reset_retry_counter(ByteView data) {
    if (data.size() != 16) return {{}, 0x6a80};
    if (state_.puk_tries == 0) return {{}, 0x6983};
    auto puk = unpad(data.first(8));
    auto pin = unpad(data.subspan(8));
    if (!puk || *puk != state_.puk) {
        state_.puk_tries -= 1;
        changed();
        return {{}, state_.puk_tries == 0 ? std::uint16_t{0x6983} : tries_sw(state_.puk_tries)};
    }
    if (!pin) return {{}, 0x6a80};
    state_.pin = *pin;
    state_.pin_tries = state_.pin_max;
    state_.puk_tries = state_.puk_max;
    changed();
    return {};
}

VirtualPiv::Reply VirtualPiv::general_authenticate(std::uint8_t alg, std::uint8_t slot,
                                                   ByteView data) {
    auto outer = find_tlv(data, 0x7c);
    if (!outer || !*outer) return {{}, 0x6a80};
    const ByteView t = **outer;

    if (slot == card::piv::key_management_key) {
        if (alg != cipher_id(state_.management_cipher)) return {{}, 0x6a86};
        const std::size_t n = crypto::block_size(state_.management_cipher);
        auto witness = find_tlv(t, 0x80);
        auto challenge = find_tlv(t, 0x81);
        if (!witness || !challenge) return {{}, 0x6a80};
        if (*witness && (*witness)->empty() && !*challenge) {
            // Step 1: a fresh witness, encrypted under the management key.
            witness_.assign(n, 0);
            crypto::random_bytes(witness_);
            auto encrypted =
                crypto::block_encrypt(state_.management_cipher, state_.management_key, witness_);
            if (!encrypted) return {{}, 0x6f00};
            return {tlv(0x7c, tlv(0x80, *encrypted)), 0x9000};
        }
        if (*witness && *challenge && (*challenge)->size() == n) {
            // Step 2: the host decrypted our witness; answer its challenge.
            const bool proven = !witness_.empty() && crypto::equal_ct(**witness, witness_);
            witness_.clear();
            if (!proven) {
                management_authenticated_ = false;
                return {{}, 0x6982};
            }
            auto answer =
                crypto::block_encrypt(state_.management_cipher, state_.management_key, **challenge);
            if (!answer) return {{}, 0x6f00};
            management_authenticated_ = true;
            return {tlv(0x7c, tlv(0x82, *answer)), 0x9000};
        }
        return {{}, 0x6a80};
    }

    if (alg != card::piv::algorithm_p256) return {{}, 0x6a80};
    auto found = state_.keys.find(slot);
    if (found == state_.keys.end()) return {{}, 0x6a80};
    const KeySlot& key = found->second;
    if (key.pin_policy != 1 && !pin_verified_) return {{}, 0x6982};
    if (key.pin_policy == 3) pin_verified_ = false;  // "always": one use per VERIFY
    auto private_key = crypto::PrivateKey::from_der(key.private_der.view());
    if (!private_key) return {{}, 0x6f00};
    auto response = find_tlv(t, 0x82);
    auto peer = find_tlv(t, 0x85);
    auto digest = find_tlv(t, 0x81);
    if (!response || !*response || !peer || !digest) return {{}, 0x6a80};
    if (*peer) {
        auto peer_key = crypto::PublicKey::from_point(**peer);
        if (!peer_key) return {{}, 0x6a80};
        auto shared = crypto::ecdh(*private_key, *peer_key);
        if (!shared) return {{}, 0x6a80};
        return {tlv(0x7c, tlv(0x82, shared->view())), 0x9000};
    }
    if (*digest && (*digest)->size() == 32) {
        crypto::Digest d;
        std::memcpy(d.data(), (*digest)->data(), 32);
        auto signature = crypto::sign_digest(*private_key, d);
        if (!signature) return {{}, 0x6f00};
        return {tlv(0x7c, tlv(0x82, *signature)), 0x9000};
    }
    return {{}, 0x6a80};
}

VirtualPiv::Reply VirtualPiv::generate(std::uint8_t slot, ByteView data) {
    if (!management_authenticated_) return {{}, 0x6982};
    const bool key_slot = slot == 0x9a || slot == 0x9c || slot == 0x9d || slot == 0x9e ||
                          (slot >= 0x82 && slot <= 0x95);
    if (!key_slot) return {{}, 0x6a86};
    auto control = find_tlv(data, 0xac);
    if (!control || !*control) return {{}, 0x6a80};
    auto alg = find_tlv(**control, 0x80);
    if (!alg || !*alg || (*alg)->size() != 1 || (**alg)[0] != card::piv::algorithm_p256)
        return {{}, 0x6a80};
    if (slot == card::piv::slot_key_management && !state_.ecc_key_agreement) return {{}, 0x6a80};
    auto pin_policy = find_tlv(**control, 0xaa);
    auto touch_policy = find_tlv(**control, 0xab);
    KeySlot key;
    // PIV defaults: 9E needs no PIN; the others want it once per session.
    key.pin_policy = slot == card::piv::slot_card_authentication ? 1 : slot == 0x9c ? 3 : 2;
    if (pin_policy && *pin_policy && (*pin_policy)->size() == 1 && (**pin_policy)[0] != 0)
        key.pin_policy = (**pin_policy)[0];
    if (touch_policy && *touch_policy && (*touch_policy)->size() == 1 && (**touch_policy)[0] != 0)
        key.touch_policy = (**touch_policy)[0];
    if (key.pin_policy < 1 || key.pin_policy > 3) return {{}, 0x6a80};
    auto generated = crypto::PrivateKey::generate();
    if (!generated) return {{}, 0x6f00};
    key.private_der = generated->to_der();
    const Bytes point = generated->public_key().to_point();
    state_.keys[slot] = std::move(key);
    changed();
    return {tlv(0x7f49, tlv(0x86, point)), 0x9000};
}

namespace {

std::optional<std::uint32_t> object_tag(ByteView data) {
    auto id = find_tlv(data, 0x5c);
    if (!id || !*id || (*id)->empty() || (*id)->size() > 3) return std::nullopt;
    std::uint32_t tag = 0;
    for (std::uint8_t b : **id)
        tag = tag << 8 | b;
    return tag;
}

}  // namespace

VirtualPiv::Reply VirtualPiv::get_data(ByteView data) {
    auto tag = object_tag(data);
    if (!tag) return {{}, 0x6a80};
    auto found = state_.objects.find(*tag);
    if (found == state_.objects.end()) return {{}, 0x6a82};
    return {tlv(0x53, found->second), 0x9000};
}

VirtualPiv::Reply VirtualPiv::put_data(ByteView data) {
    if (!management_authenticated_) return {{}, 0x6982};
    auto tag = object_tag(data);
    auto contents = find_tlv(data, 0x53);
    if (!tag || !contents || !*contents) return {{}, 0x6a80};
    if ((*contents)->size() > max_object) return {{}, 0x6a84};
    if ((*contents)->empty())
        state_.objects.erase(*tag);
    else
        state_.objects[*tag] = Bytes((*contents)->begin(), (*contents)->end());
    changed();
    return {};
}

VirtualPiv::Reply VirtualPiv::metadata(std::uint8_t slot) {
    Bytes out;
    if (slot == card::piv::reference_pin || slot == card::piv::reference_puk) {
        const bool puk = slot == card::piv::reference_puk;
        append_tlv(out, 0x01, Bytes{0xff});
        append_tlv(out, 0x05,
                   Bytes{static_cast<std::uint8_t>(
                       (puk ? state_.puk == "12345678" : state_.pin == "123456") ? 1 : 0)});
        append_tlv(out, 0x06,
                   Bytes{static_cast<std::uint8_t>(puk ? state_.puk_max : state_.pin_max),
                         static_cast<std::uint8_t>(puk ? state_.puk_tries : state_.pin_tries)});
        return {out, 0x9000};
    }
    if (slot == card::piv::key_management_key) {
        append_tlv(out, 0x01, Bytes{cipher_id(state_.management_cipher)});
        append_tlv(out, 0x02, Bytes{0x00, 0x01});
        append_tlv(out, 0x05,
                   Bytes{static_cast<std::uint8_t>(state_.management_key ==
                                                   card::piv::default_management_key())});
        return {out, 0x9000};
    }
    auto found = state_.keys.find(slot);
    if (found == state_.keys.end()) return {{}, 0x6a82};
    auto key = crypto::PrivateKey::from_der(found->second.private_der.view());
    if (!key) return {{}, 0x6f00};
    append_tlv(out, 0x01, Bytes{card::piv::algorithm_p256});
    append_tlv(out, 0x02, Bytes{found->second.pin_policy, found->second.touch_policy});
    append_tlv(out, 0x03, Bytes{0x01});  // generated on the card
    append_tlv(out, 0x04, tlv(0x86, key->public_key().to_point()));
    return {out, 0x9000};
}

VirtualPiv::Reply VirtualPiv::set_management_key(ByteView data) {
    if (!management_authenticated_) return {{}, 0x6982};
    if (data.size() < 3 || data[1] != card::piv::key_management_key) return {{}, 0x6a80};
    auto cipher = card::piv::cipher_for(data[0]);
    if (!cipher || data[0] == 0 || (*cipher != crypto::BlockCipher::tdes && !state_.knows_aes))
        return {{}, 0x6a80};
    if (data[2] != crypto::key_size(*cipher) || data.size() != 3u + data[2]) return {{}, 0x6a80};
    state_.management_cipher = *cipher;
    state_.management_key.assign(data.begin() + 3, data.end());
    changed();
    return {};
}

VirtualPiv::Reply VirtualPiv::attest(std::uint8_t slot) {
    if (!state_.attestation_key) return {{}, 0x6d00};
    auto found = state_.keys.find(slot);
    if (found == state_.keys.end()) return {{}, 0x6a82};
    auto signer = crypto::PrivateKey::from_der(state_.attestation_key->view());
    auto issuer_contents = state_.objects.find(card::piv::certificate_object(0xf9));
    if (!signer || issuer_contents == state_.objects.end()) return {{}, 0x6f00};
    auto issuer_der = find_tlv(issuer_contents->second, 0x70);
    if (!issuer_der || !*issuer_der) return {{}, 0x6f00};
    auto issuer = crypto::Certificate::from_der(**issuer_der);
    auto key = crypto::PrivateKey::from_der(found->second.private_der.view());
    if (!issuer || !key) return {{}, 0x6f00};
    const std::int64_t now = unix_now();
    crypto::CertificateRequest request{fmt::format("YubiKey PIV Attestation {:02x}", slot),
                                       now - 60, now + 3650 * 86400,
                                       crypto::CertificateRequest::Role::attestation};
    auto certificate = crypto::issue_certificate(*signer, *issuer, key->public_key(), request);
    if (!certificate) return {{}, 0x6f00};
    return {certificate->to_der(), 0x9000};
}

}  // namespace cug::vcard
