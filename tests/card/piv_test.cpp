// The PIV client against the virtual card, in-process (the integration tests
// put the same two on either side of the real pcscd).
#include "card/piv.hpp"
#include "core/time.hpp"
#include "crypto/random.hpp"
#include "support/temp_dir.hpp"
#include "vcard/virtual_piv.hpp"

#include <doctest/doctest.h>

using namespace cug;
using namespace cug::card;

namespace {

// Hands APDUs straight to a virtual card, and remembers every answer.
class Loopback : public Transport {
  public:
    explicit Loopback(vcard::VirtualPiv& card) : card_(card) {}
    Result<Bytes> transmit_raw(ByteView apdu) override {
        Bytes answer = card_.process(apdu);
        answers.push_back(answer);
        return answer;
    }
    std::string_view name() const override { return "loopback"; }
    std::vector<Bytes> answers;

  private:
    vcard::VirtualPiv& card_;
};

struct Fixture {
    vcard::CardState saved;
    int saves = 0;
    vcard::VirtualPiv card{vcard::factory_card(12345678), [this](const vcard::CardState& s) {
                               ++saves;
                               saved.pin = s.pin;
                               saved.pin_tries = s.pin_tries;
                           }};
    Loopback link{card};
    Piv piv{link};
};

template <typename T>
T must(Result<T> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(*r);
}
void must(Result<void> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
}

bool contains(const Bytes& haystack, ByteView needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

crypto::Certificate some_certificate(const std::string& cn) {
    auto key = crypto::PrivateKey::generate();
    crypto::CertificateRequest r{cn, 1700000000, 2000000000,
                                 crypto::CertificateRequest::Role::server_ca};
    return *crypto::make_self_signed(*key, r);
}

}  // namespace

TEST_CASE("select, version, serial; other applications are refused") {
    Fixture f;
    must(f.piv.select());
    auto version = must(f.piv.version());
    REQUIRE(version.has_value());
    CHECK(version->major == 5);
    CHECK(must(f.piv.serial()) == 12345678u);
    // An unknown AID gets 6A82 and PIV stays selected.
    auto other = must(
        f.link.transmit(Command{0x00, 0xa4, 0x04, 0x00, Bytes{0xa0, 0x00, 0x00, 0x00, 0x01}, 256}));
    CHECK(other.sw == 0x6a82);
    CHECK(must(f.piv.pin_tries_left()) == 3);
}

TEST_CASE("PIN: tries counted, blocked at zero, unblocked with the PUK, changed") {
    Fixture f;
    must(f.piv.select());
    auto wrong = f.piv.verify_pin(as_bytes("654321"));
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.error().code == Errc::permission);
    CHECK(wrong.error().message == "verifying the PIN: wrong PIN (2 tries left)");
    CHECK(f.saved.pin_tries == 2);  // persisted: pulling the card does not reset it
    must(f.piv.verify_pin(as_bytes(piv::default_pin)));
    CHECK(must(f.piv.pin_tries_left()) == 3);
    f.card.reset();  // power cycle: verification gone
    CHECK(must(f.piv.pin_tries_left()) == 3);
    for (int i = 0; i < 3; ++i)
        CHECK_FALSE(f.piv.verify_pin(as_bytes("000000")).ok());
    CHECK(must(f.piv.pin_tries_left()) == 0);
    auto blocked = f.piv.verify_pin(as_bytes(piv::default_pin));
    REQUIRE_FALSE(blocked.ok());
    CHECK(blocked.error().message.find("blocked") != std::string::npos);
    must(f.piv.unblock_pin(as_bytes(piv::default_puk), as_bytes("24681357")));
    must(f.piv.verify_pin(as_bytes("24681357")));
    must(f.piv.change_reference(piv::reference_pin, as_bytes("24681357"), as_bytes("13572468")));
    CHECK_FALSE(f.piv.verify_pin(as_bytes("24681357")).ok());
    must(f.piv.verify_pin(as_bytes("13572468")));
    CHECK(f.saved.pin == "13572468");
    CHECK_FALSE(f.piv.verify_pin(as_bytes("12345")).ok());      // too short to send
    CHECK_FALSE(f.piv.verify_pin(as_bytes("123456789")).ok());  // too long
}

TEST_CASE("management key: mutual authentication, wrong keys refused, AES-256 set") {
    Fixture f;
    must(f.piv.select());
    const Bytes factory = piv::default_management_key();
    // Generating needs the management key.
    auto refused = f.piv.generate(piv::slot_key_management, PinPolicy::card_default,
                                  TouchPolicy::card_default);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == Errc::permission);

    Bytes wrong = factory;
    wrong[0] ^= 0x02;  // not bit 0: DES ignores parity bits
    auto bad = f.piv.authenticate(crypto::BlockCipher::tdes, wrong);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("wrong management key") != std::string::npos);
    must(f.piv.authenticate(crypto::BlockCipher::tdes, factory));

    crypto::SecretBuffer aes = crypto::random_secret(32);
    must(f.piv.set_management_key(crypto::BlockCipher::aes256, aes.view()));
    f.card.reset();
    CHECK_FALSE(f.piv.authenticate(crypto::BlockCipher::tdes, factory).ok());
    CHECK_FALSE(f.piv.authenticate(crypto::BlockCipher::aes256, Bytes(32, 1)).ok());
    must(f.piv.authenticate(crypto::BlockCipher::aes256, aes.view()));
    auto meta = must(f.piv.metadata(piv::key_management_key));
    REQUIRE(meta.has_value());
    CHECK(meta->algorithm == 0x0c);
    CHECK_FALSE(meta->is_default);
}

TEST_CASE("keys: generated on the card, used there, never read out") {
    Fixture f;
    must(f.piv.select());
    must(f.piv.authenticate(crypto::BlockCipher::tdes, piv::default_management_key()));
    auto kem = must(f.piv.generate(piv::slot_key_management, PinPolicy::once, TouchPolicy::never));
    auto auth =
        must(f.piv.generate(piv::slot_card_authentication, PinPolicy::never, TouchPolicy::never));
    CHECK_FALSE(kem == auth);

    // ECDH with 9D needs the PIN; the shared secret matches the host's side.
    auto ephemeral = must(crypto::PrivateKey::generate());
    auto no_pin = f.piv.ecdh(piv::slot_key_management, ephemeral.public_key());
    REQUIRE_FALSE(no_pin.ok());
    CHECK(no_pin.error().code == Errc::permission);
    must(f.piv.verify_pin(as_bytes(piv::default_pin)));
    auto on_card = must(f.piv.ecdh(piv::slot_key_management, ephemeral.public_key()));
    auto on_host = must(crypto::ecdh(ephemeral, kem));
    CHECK(crypto::equal_ct(on_card.view(), on_host.view()));

    // 9E signs without a PIN, after a power cycle too.
    f.card.reset();
    const auto digest = crypto::sha256(as_bytes("presence challenge"));
    auto signature = must(f.piv.sign(piv::slot_card_authentication, digest));
    CHECK(crypto::verify_digest(auth, digest, signature));
    CHECK_FALSE(crypto::verify_digest(kem, digest, signature));

    auto meta = must(f.piv.metadata(piv::slot_card_authentication));
    REQUIRE(meta.has_value());
    CHECK(meta->pin_policy == PinPolicy::never);
    CHECK(meta->generated_on_card);
    CHECK(*crypto::PublicKey::from_point(meta->public_point) == auth);

    // No answer to anything ever held a private scalar.
    for (const auto& [slot, key] : f.card.state().keys) {
        auto pkcs8 = key.private_der.view();
        ByteView scalar = pkcs8.subspan(pkcs8.size() >= 67 ? 36 : 0, 32);
        for (const Bytes& answer : f.link.answers)
            CHECK_FALSE(contains(answer, scalar));
    }
}

TEST_CASE("certificates: long objects go chained and come back in parts") {
    Fixture f;
    must(f.piv.select());
    CHECK_FALSE(must(f.piv.read_certificate(piv::slot_key_management)).has_value());
    auto cert = some_certificate(std::string(60, 'x'));
    CHECK_FALSE(f.piv.write_certificate(piv::slot_key_management, cert).ok());  // no mgmt key
    must(f.piv.authenticate(crypto::BlockCipher::tdes, piv::default_management_key()));
    must(f.piv.write_certificate(piv::slot_key_management, cert));
    must(f.piv.write_certificate(piv::slot_retired_95, some_certificate("server")));
    auto back = must(f.piv.read_certificate(piv::slot_key_management));
    REQUIRE(back.has_value());
    CHECK(back->fingerprint() == cert.fingerprint());
    CHECK(must(f.piv.read_certificate(piv::slot_retired_95))->subject_cn() == "server");
    // A 1 KiB object: written as a chain of 255-byte commands, read with GET RESPONSE.
    Bytes blob(1024);
    crypto::random_bytes(blob);
    must(f.piv.write_object(piv::object_chuid, blob));
    CHECK(*must(f.piv.read_object(piv::object_chuid)) == blob);
    // Le smaller than the answer: the card says 61xx and the client collects the rest.
    auto part = must(
        f.link.transmit(Command{0x00, 0xcb, 0x3f, 0xff, Bytes{0x5c, 0x03, 0x5f, 0xc1, 0x02}, 8}));
    CHECK(part.data.size() == 1024 + 4);
}

TEST_CASE("the card state survives being pulled out and put back") {
    cug::testing::TempDir dir;
    const auto file = dir / "card.state";
    vcard::CardState initial = vcard::factory_card(42);
    must(vcard::save_state(file, initial));
    crypto::PublicKey kem = [&] {
        vcard::VirtualPiv card(must(vcard::load_state(file)), [&](const vcard::CardState& s) {
            must(vcard::save_state(file, s));
        });
        Loopback link(card);
        Piv piv(link);
        must(piv.select());
        must(piv.authenticate(crypto::BlockCipher::tdes, piv::default_management_key()));
        auto key =
            must(piv.generate(piv::slot_key_management, PinPolicy::once, TouchPolicy::never));
        must(piv.write_certificate(piv::slot_retired_95, some_certificate("server")));
        CHECK_FALSE(piv.verify_pin(as_bytes("999999")).ok());
        return key;
    }();
    vcard::VirtualPiv card(must(vcard::load_state(file)), [](const vcard::CardState&) {});
    Loopback link(card);
    Piv piv(link);
    must(piv.select());
    CHECK(must(piv.pin_tries_left()) == 2);
    CHECK(must(piv.read_certificate(piv::slot_retired_95))->subject_cn() == "server");
    must(piv.verify_pin(as_bytes(piv::default_pin)));
    auto ephemeral = must(crypto::PrivateKey::generate());
    auto shared = must(piv.ecdh(piv::slot_key_management, ephemeral.public_key()));
    CHECK(crypto::equal_ct(shared.view(), must(crypto::ecdh(ephemeral, kem)).view()));
}

TEST_CASE("lesser cards: no AES, no ECC key agreement in 9D, no YubiKey extensions") {
    vcard::CardState state = vcard::factory_card(1);
    state.knows_aes = false;
    state.ecc_key_agreement = false;
    state.yubikey = false;
    vcard::VirtualPiv card(std::move(state), [](const vcard::CardState&) {});
    Loopback link(card);
    Piv piv(link);
    must(piv.select());
    CHECK_FALSE(must(piv.version()).has_value());
    CHECK_FALSE(must(piv.metadata(piv::slot_key_management)).has_value());
    CHECK_FALSE(must(piv.attest(piv::slot_key_management)).has_value());
    must(piv.authenticate(crypto::BlockCipher::tdes, piv::default_management_key()));
    auto no_aes = piv.set_management_key(crypto::BlockCipher::aes256, Bytes(32, 7));
    CHECK_FALSE(no_aes.ok());
    auto no_ecc = piv.generate(piv::slot_key_management, PinPolicy::once, TouchPolicy::never);
    REQUIRE_FALSE(no_ecc.ok());
    CHECK(no_ecc.error().message == "generating a P-256 key in slot 9D: the card refused the data");
}

TEST_CASE("attestation: the F9 key vouches for a generated key") {
    auto ca_key = must(crypto::PrivateKey::generate());
    auto ca = must(crypto::make_self_signed(ca_key, {"Test PIV Root", 1700000000, 2100000000,
                                                     crypto::CertificateRequest::Role::server_ca}));
    vcard::CardState state = vcard::factory_card(77);
    auto f9 = must(crypto::PrivateKey::generate());
    auto f9_cert = must(crypto::issue_certificate(
        ca_key, ca, f9.public_key(),
        {"Attestation 77", 1700000000, 2100000000, crypto::CertificateRequest::Role::server_ca}));
    state.attestation_key = f9.to_der();
    Bytes contents = tlv(0x70, f9_cert.to_der());
    state.objects[piv::certificate_object(0xf9)] = contents;
    vcard::VirtualPiv card(std::move(state), [](const vcard::CardState&) {});
    Loopback link(card);
    Piv piv(link);
    must(piv.select());
    must(piv.authenticate(crypto::BlockCipher::tdes, piv::default_management_key()));
    auto key = must(piv.generate(piv::slot_key_management, PinPolicy::once, TouchPolicy::never));
    auto attestation = must(piv.attest(piv::slot_key_management));
    REQUIRE(attestation.has_value());
    auto intermediate = must(piv.read_certificate(piv::slot_attestation));
    REQUIRE(intermediate.has_value());
    CHECK(*attestation->public_key() == key);
    CHECK(attestation->issued_by(*intermediate));
    CHECK(intermediate->issued_by(ca));
}
