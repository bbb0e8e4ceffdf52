// A PIV card (NIST SP 800-73-4, with the YubiKey extensions cug and
// yubico-piv-tool use) in software, for tests and the demo only: never shipped
// to terminals. Its whole state -- keys, objects, PIN, PUK, tries -- lives in a
// file, so the card can be pulled out (the program stops) and put back with
// the same identity.
#pragma once

#include "core/result.hpp"
#include "crypto/block.hpp"
#include "crypto/p256.hpp"
#include "crypto/x509.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace cug::vcard {

struct KeySlot {
    crypto::SecretBuffer private_der;  // PKCS#8
    std::uint8_t pin_policy = 0;       // 1 never, 2 once, 3 always (PIV numbering)
    std::uint8_t touch_policy = 1;
};

struct CardState {
    std::string pin = "123456";
    std::string puk = "12345678";
    int pin_tries = 3, pin_max = 3;
    int puk_tries = 3, puk_max = 3;
    crypto::BlockCipher management_cipher = crypto::BlockCipher::tdes;
    Bytes management_key;  // factory: 0102030405060708 three times
    std::map<std::uint8_t, KeySlot> keys;
    std::map<std::uint32_t, Bytes> objects;  // contents of the 53 wrapper
    std::uint32_t serial = 0;
    std::uint8_t version[3] = {5, 4, 3};
    // What this card can do, so tests can play older or lesser cards.
    bool knows_aes = true;          // else: 3DES management keys only
    bool ecc_key_agreement = true;  // else: refuses P-256 in slot 9D
    bool yubikey = true;            // else: no GET VERSION/SERIAL/METADATA/attestation
    std::optional<crypto::SecretBuffer> attestation_key;  // F9, with its cert in 5FFF01
};

// A blank card: factory PIN, PUK and management key, no keys or objects.
CardState factory_card(std::uint32_t serial);

// The state file: key=value lines (wire/kv.hpp). Written atomically.
Result<CardState> load_state(const std::filesystem::path& file);
Result<void> save_state(const std::filesystem::path& file, const CardState& state);

class VirtualPiv {
  public:
    // `persist` is called after every change that must outlive the session.
    VirtualPiv(CardState state, std::function<void(const CardState&)> persist)
        : state_(std::move(state)), persist_(std::move(persist)) {}

    // Power on and reset: nothing verified, nothing pending, PIV selected.
    void reset();
    // One command APDU in, one response APDU (data || SW1 SW2) out.
    Bytes process(ByteView apdu);
    const CardState& state() const { return state_; }

  private:
    struct Reply {
        Bytes data;
        std::uint16_t sw = 0x9000;
    };
    Reply dispatch(std::uint8_t ins, std::uint8_t p1, std::uint8_t p2, ByteView data);
    Reply select(ByteView data);
    Reply verify(std::uint8_t p2, ByteView data);
    Reply change_reference(std::uint8_t p2, ByteView data);
    Reply reset_retry_counter(ByteView data);
    Reply general_authenticate(std::uint8_t alg, std::uint8_t slot, ByteView data);
    Reply generate(std::uint8_t slot, ByteView data);
    Reply get_data(ByteView data);
    Reply put_data(ByteView data);
    Reply metadata(std::uint8_t slot);
    Reply set_management_key(ByteView data);
    Reply attest(std::uint8_t slot);
    void changed() { persist_(state_); }

    CardState state_;
    std::function<void(const CardState&)> persist_;
    bool selected_ = true;
    bool pin_verified_ = false;
    bool management_authenticated_ = false;
    Bytes witness_;  // the management-key witness being answered
    Bytes chained_;  // data of a command chain so far
    std::uint8_t chained_ins_ = 0;
    Bytes pending_;  // response data not yet fetched with GET RESPONSE
};

}  // namespace cug::vcard
