// The subset of the PIV card application (NIST SP 800-73-4), and of the
// YubiKey's extensions to it, that cug needs. Works over any Transport; the
// caller decides where transactions begin and end.
#pragma once

#include "card/transport.hpp"
#include "crypto/block.hpp"
#include "crypto/hash.hpp"
#include "crypto/p256.hpp"
#include "crypto/x509.hpp"

#include <cstdint>
#include <optional>

namespace cug::card {

namespace piv {

inline constexpr std::uint8_t slot_authentication = 0x9a;
inline constexpr std::uint8_t slot_signature = 0x9c;
inline constexpr std::uint8_t slot_key_management = 0x9d;       // ECDH at login (PIN once)
inline constexpr std::uint8_t slot_card_authentication = 0x9e;  // presence signatures, no PIN
inline constexpr std::uint8_t slot_retired_95 = 0x95;           // holds the server certificate
inline constexpr std::uint8_t slot_attestation = 0xf9;          // YubiKey attestation key
inline constexpr std::uint8_t key_management_key = 0x9b;        // the management key's reference

inline constexpr std::uint8_t reference_pin = 0x80;
inline constexpr std::uint8_t reference_puk = 0x81;

inline constexpr std::uint8_t algorithm_p256 = 0x11;

inline constexpr std::uint32_t object_key_history = 0x5fc10c;
inline constexpr std::uint32_t object_chuid = 0x5fc102;

// The certificate object of a key slot (9A 5FC105, 9C 5FC10A, 9D 5FC10B,
// 9E 5FC101, retired 82-95 5FC10D-5FC120, F9 5FFF01); 0 for no such slot.
std::uint32_t certificate_object(std::uint8_t slot);

// PIV algorithm identifiers of management keys.
std::uint8_t algorithm_id(crypto::BlockCipher cipher);
std::optional<crypto::BlockCipher> cipher_for(std::uint8_t algorithm);

// The factory management key of PIV cards and YubiKeys: 01..08 three times.
Bytes default_management_key();
inline constexpr std::string_view default_pin = "123456";
inline constexpr std::string_view default_puk = "12345678";

}  // namespace piv

enum class PinPolicy : std::uint8_t { card_default = 0, never = 1, once = 2, always = 3 };
enum class TouchPolicy : std::uint8_t { card_default = 0, never = 1, always = 2, cached = 3 };

struct PivVersion {
    std::uint8_t major = 0, minor = 0, patch = 0;
};

struct SlotMetadata {
    std::uint8_t algorithm = 0;
    PinPolicy pin_policy = PinPolicy::card_default;
    TouchPolicy touch_policy = TouchPolicy::card_default;
    bool generated_on_card = false;  // origin: generated, not imported
    bool is_default = false;         // for PIN/PUK/management key: still the factory value
    int tries_left = -1;             // for PIN/PUK
    Bytes public_point;              // for key slots
};

// An Error for a status word; `what` says what was being done.
Error status_error(std::uint16_t sw, std::string_view what);

class Piv {
  public:
    explicit Piv(Transport& transport) : t_(transport) {}

    // Errc::unavailable "not a PIV card" when the application is missing.
    Result<void> select();
    // YubiKey extensions: nullopt on cards without them.
    Result<std::optional<PivVersion>> version();
    Result<std::optional<std::uint32_t>> serial();
    Result<std::optional<SlotMetadata>> metadata(std::uint8_t slot);

    // Tries left before the PIN blocks (0: blocked), without presenting one.
    Result<int> pin_tries_left();
    // The PIN is 6-8 bytes. Errc::permission with the tries left when wrong.
    Result<void> verify_pin(ByteView pin);
    Result<void> change_reference(std::uint8_t reference, ByteView old_value, ByteView new_value);
    Result<void> unblock_pin(ByteView puk, ByteView new_pin);

    // Mutual challenge-response with the management key (witness, then challenge).
    Result<void> authenticate(crypto::BlockCipher cipher, ByteView key);
    // YubiKey SET MANAGEMENT KEY; needs authenticate() first.
    Result<void> set_management_key(crypto::BlockCipher cipher, ByteView key);

    // A P-256 key pair made on the card; returns its public key.
    Result<crypto::PublicKey> generate(std::uint8_t slot, PinPolicy pin, TouchPolicy touch);

    // The contents of a data object's 53 wrapper; nullopt if the card has none.
    Result<std::optional<Bytes>> read_object(std::uint32_t tag);
    Result<void> write_object(std::uint32_t tag, ByteView contents);
    Result<std::optional<crypto::Certificate>> read_certificate(std::uint8_t slot);
    Result<void> write_certificate(std::uint8_t slot, const crypto::Certificate& certificate);

    // ECDH of the slot's private key with `peer`: the shared x-coordinate.
    Result<crypto::SecretBuffer> ecdh(std::uint8_t slot, const crypto::PublicKey& peer);
    // ECDSA over a SHA-256 digest; a DER signature.
    Result<Bytes> sign(std::uint8_t slot, const crypto::Digest& digest);
    // YubiKey attestation of a slot's key; nullopt when the card has none.
    Result<std::optional<crypto::Certificate>> attest(std::uint8_t slot);

  private:
    Result<Response> run(const Command& command, std::string_view what);
    Result<Bytes> general_authenticate(std::uint8_t algorithm, std::uint8_t slot,
                                       ByteView template_contents, std::string_view what);
    Transport& t_;
};

}  // namespace cug::card
