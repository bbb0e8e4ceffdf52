#include "enroll/enroll.hpp"

#include "core/time.hpp"
#include "crypto/random.hpp"
#include "crypto/seal.hpp"

namespace cug::enroll {

using card::Piv;
namespace piv = card::piv;

std::string management_key_context(std::string_view user) {
    return fmt::format("cug card management key v1:{}", user);
}

namespace {

struct ServerIdentity {
    crypto::PrivateKey key;
    crypto::Certificate certificate;
};

struct ManagementKey {
    crypto::BlockCipher cipher;
    crypto::SecretBuffer key;
};

const char* cipher_name(crypto::BlockCipher c) {
    switch (c) {
        case crypto::BlockCipher::tdes:
            return "3DES";
        case crypto::BlockCipher::aes128:
            return "AES-128";
        case crypto::BlockCipher::aes192:
            return "AES-192";
        case crypto::BlockCipher::aes256:
            return "AES-256";
    }
    return "?";
}

// Sealed form: algorithm id, then the key.
Bytes seal_management_key(const crypto::PublicKey& server, std::string_view user,
                          const ManagementKey& m) {
    crypto::SecretBuffer plain(1 + m.key.size());
    plain.data()[0] = piv::algorithm_id(m.cipher);
    std::copy(m.key.view().begin(), m.key.view().end(), plain.data() + 1);
    return crypto::seal_to(server, as_bytes(management_key_context(user)), plain.view());
}

Result<ManagementKey> open_management_key(const crypto::PrivateKey& server, std::string_view user,
                                          ByteView sealed) {
    auto plain =
        CUG_TRY(crypto::open_sealed(server, as_bytes(management_key_context(user)), sealed));
    auto cipher = plain.size() > 1 ? piv::cipher_for(plain.data()[0]) : std::nullopt;
    if (!cipher || plain.size() != 1 + crypto::key_size(*cipher))
        return make_error(Errc::config, "the sealed management key of {}'s card is malformed",
                          user);
    return ManagementKey{*cipher, crypto::SecretBuffer::copy_of(plain.view().subspan(1))};
}

// The ciphers a management key of this length may be for, the card's own word first.
std::vector<crypto::BlockCipher> ciphers_for(std::size_t length,
                                             std::optional<crypto::BlockCipher> said) {
    std::vector<crypto::BlockCipher> out;
    if (said && crypto::key_size(*said) == length) out.push_back(*said);
    for (auto c : {crypto::BlockCipher::tdes, crypto::BlockCipher::aes192,
                   crypto::BlockCipher::aes128, crypto::BlockCipher::aes256})
        if (crypto::key_size(c) == length && (!said || c != *said)) out.push_back(c);
    return out;
}

Result<void> check_new_secret(const crypto::SecretBuffer& value, std::string_view what,
                              std::string_view factory) {
    if (value.size() < 6 || value.size() > 8)
        return make_error(Errc::invalid, "the new {} must be 6 to 8 characters", what);
    if (as_chars(value.view()) == factory)
        return make_error(Errc::invalid, "the new {} is the factory default; choose another", what);
    return ok();
}

crypto::SecretBuffer random_digits(std::size_t n) {
    crypto::SecretBuffer out(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint8_t b;
        do {
            crypto::random_bytes(std::span<std::uint8_t>(&b, 1));
        } while (b >= 250);  // no modulo bias
        out.data()[i] = static_cast<std::uint8_t>('0' + b % 10);
    }
    return out;
}

std::string describe(const std::optional<card::PivVersion>& version,
                     const std::optional<std::uint32_t>& serial) {
    std::string out =
        version ? fmt::format("PIV card {}.{}.{}", version->major, version->minor, version->patch)
                : "PIV card";
    if (serial) out += fmt::format(" serial {}", *serial);
    return out;
}

// Attestation: the card's F9 key vouches for `key`, and a trusted root for the F9 key.
Result<std::string> check_attestation(Piv& p, std::uint8_t slot, const crypto::PublicKey& key,
                                      const EnrollOptions& o) {
    auto statement = CUG_TRY(p.attest(slot));
    if (!statement) {
        if (o.require_attestation)
            return make_error(Errc::permission,
                              "the card offers no attestation and --require-attestation was given");
        return std::string("not offered");
    }
    auto intermediate = CUG_TRY(p.read_certificate(piv::slot_attestation));
    auto attested = statement->public_key();
    if (!attested || !(*attested == key))
        return make_error(Errc::permission,
                          "the card's attestation of slot {:02X} names another key", slot);
    if (o.attestation_roots.empty()) {
        if (o.require_attestation)
            return make_error(Errc::usage, "--require-attestation needs --attestation-ca");
        return std::string("offered, not verified (no --attestation-ca)");
    }
    const bool chained =
        intermediate && statement->issued_by(*intermediate) &&
        std::any_of(o.attestation_roots.begin(), o.attestation_roots.end(),
                    [&](const crypto::Certificate& root) { return intermediate->issued_by(root); });
    if (!chained)
        return make_error(Errc::permission,
                          "the card's attestation does not lead to a trusted root; it may not "
                          "be the device it claims to be");
    return std::string("verified");
}

}  // namespace

Result<EnrollResult> enroll(store::Store& st, card::Card& card, EnrollOptions o) {
    // The store's side first: who, and the server identity that issues.
    ServerIdentity server = CUG_TRY(st.read([&](store::ReadTxn& t) -> Result<ServerIdentity> {
        CUG_TRY(t.user(o.user));
        return ServerIdentity{CUG_TRY(t.server_key()), CUG_TRY(t.server_certificate())};
    }));
    CUG_CHECK(check_new_secret(o.new_pin, "PIN", piv::default_pin));
    EnrollResult result;
    result.user = o.user;
    result.reader = card.reader();
    if (o.new_puk.empty()) {
        o.new_puk = random_digits(8);
        result.generated_puk = crypto::SecretBuffer::copy_of(o.new_puk.view());
    }
    CUG_CHECK(check_new_secret(o.new_puk, "PUK", piv::default_puk));
    if (o.current_pin.empty())
        o.current_pin = crypto::SecretBuffer::copy_of(as_bytes(piv::default_pin));
    if (o.current_puk.empty())
        o.current_puk = crypto::SecretBuffer::copy_of(as_bytes(piv::default_puk));

    auto transaction = CUG_TRY(card::Transaction::begin(card.connection()));
    Piv p(card.connection());
    CUG_CHECK(p.select());
    const auto version = CUG_TRY(p.version());
    const auto serial = CUG_TRY(p.serial());
    result.device = describe(version, serial);
    // Changing the management key is not in SP 800-73-4; cards without the
    // YubiKey extensions cannot do it, and cug leaves no factory key in place.
    if (!version)
        return make_error(Errc::unavailable,
                          "the card in '{}' cannot change its management key (no YubiKey PIV "
                          "extensions), and cug does not leave the factory key in place",
                          card.reader());

    // Whose card was it? A card of another deployment is not ours to take.
    auto old_server = CUG_TRY(p.read_certificate(piv::slot_retired_95));
    auto old_user = CUG_TRY(p.read_certificate(piv::slot_key_management));
    if (old_server && !(old_server->fingerprint() == server.certificate.fingerprint())) {
        auto other_key = old_server->public_key();
        return make_error(Errc::permission,
                          "the card in '{}' belongs to another cug deployment (server {}, key {}); "
                          "reset its PIV application before enrolling it here",
                          card.reader(), old_server->subject_cn(),
                          other_key ? other_key->fingerprint_text() : "unreadable");
    }
    if (old_server && old_user && old_user->issued_by(*old_server))
        result.previous_owner = old_user->subject_cn();

    // The card's current management key: given, sealed in our store, or the factory's.
    std::optional<crypto::BlockCipher> said;
    if (auto m = CUG_TRY(p.metadata(piv::key_management_key))) said = piv::cipher_for(m->algorithm);
    std::vector<ManagementKey> candidates;
    if (o.management_key) {
        for (auto c : ciphers_for(o.management_key->size(), said))
            candidates.push_back({c, crypto::SecretBuffer::copy_of(o.management_key->view())});
        if (candidates.empty())
            return make_error(Errc::invalid,
                              "a management key is 16, 24 or 32 bytes (hex), not {} bytes",
                              o.management_key->size());
    } else if (result.previous_owner) {
        auto owner = CUG_TRY(
            st.read([&](store::ReadTxn& t) { return t.find_user(*result.previous_owner); }));
        if (owner && owner->card && owner->card->certificate_serial == old_user->serial())
            candidates.push_back(CUG_TRY(
                open_management_key(server.key, owner->name, owner->card->management_key_sealed)));
    }
    if (candidates.empty())
        for (auto c : ciphers_for(24, said))
            candidates.push_back({c, crypto::SecretBuffer::copy_of(piv::default_management_key())});
    std::optional<ManagementKey> current;
    for (auto& candidate : candidates) {
        if (p.authenticate(candidate.cipher, candidate.key.view())) {
            current = std::move(candidate);
            break;
        }
    }
    if (!current)
        return make_error(Errc::permission,
                          "wrong management key for the card in '{}'; give its current one with "
                          "--mgmt-key-fd",
                          card.reader());

    // Keys on the card. Generating in 9D is also the test that the card can do
    // ECC key agreement there.
    auto kem =
        p.generate(piv::slot_key_management, card::PinPolicy::once, card::TouchPolicy::never);
    if (!kem)
        return make_error(kem.error().code == Errc::invalid ? Errc::unavailable : kem.error().code,
                          "the card in '{}' cannot make a P-256 key-agreement key in slot 9D ({})",
                          card.reader(), kem.error().message);
    auto auth = CUG_TRY(p.generate(piv::slot_card_authentication, card::PinPolicy::never,
                                   card::TouchPolicy::never));
    const std::string kem_attestation =
        CUG_TRY(check_attestation(p, piv::slot_key_management, *kem, o));
    const std::string auth_attestation =
        CUG_TRY(check_attestation(p, piv::slot_card_authentication, auth, o));
    result.attestation = kem_attestation == auth_attestation
                             ? kem_attestation
                             : kem_attestation + " / " + auth_attestation;
    if (auto m = CUG_TRY(p.metadata(piv::slot_key_management)))
        result.device +=
            fmt::format(", 9D PIN {}", m->pin_policy == card::PinPolicy::once     ? "once"
                                       : m->pin_policy == card::PinPolicy::always ? "always"
                                       : m->pin_policy == card::PinPolicy::never  ? "never"
                                                                                  : "default");

    // New PIN and PUK: the factory values must not survive enrollment.
    if (auto changed =
            p.change_reference(piv::reference_pin, o.current_pin.view(), o.new_pin.view());
        !changed)
        return make_error(changed.error().code, "{} (give the card's current PIN with --pin-fd)",
                          changed.error().message);
    if (auto changed =
            p.change_reference(piv::reference_puk, o.current_puk.view(), o.new_puk.view());
        !changed)
        return make_error(changed.error().code, "{} (give the card's current PUK with --puk-fd)",
                          changed.error().message);

    // Certificates: the user's on both keys, the server's in slot 95.
    const std::int64_t now = unix_now();
    crypto::CertificateRequest request{o.user, now - 300, now + o.certificate_days * 86400,
                                       crypto::CertificateRequest::Role::user};
    auto user_certificate =
        CUG_TRY(crypto::issue_certificate(server.key, server.certificate, *kem, request));
    auto auth_certificate =
        CUG_TRY(crypto::issue_certificate(server.key, server.certificate, auth, request));
    CUG_CHECK(p.write_certificate(piv::slot_key_management, user_certificate));
    CUG_CHECK(p.write_certificate(piv::slot_card_authentication, auth_certificate));
    CUG_CHECK(p.write_certificate(piv::slot_retired_95, server.certificate));
    // Key history: 20 retired slots "on card", so PIV middleware reads up to 95.
    Bytes history = card::tlv(0xc1, Bytes{20});
    card::append_tlv(history, 0xc2, Bytes{0});
    card::append_tlv(history, 0xfe, {});
    CUG_CHECK(p.write_object(piv::object_key_history, history));

    // A fresh random management key, AES-256 where the card knows it.
    ManagementKey fresh{crypto::BlockCipher::aes256, crypto::random_secret(32)};
    if (auto set = p.set_management_key(fresh.cipher, fresh.key.view()); !set) {
        if (set.error().code != Errc::invalid) return std::move(set).error();
        fresh = ManagementKey{crypto::BlockCipher::tdes, crypto::random_secret(24)};
        CUG_CHECK(p.set_management_key(fresh.cipher, fresh.key.view()));
    }
    result.management_key = cipher_name(fresh.cipher);
    result.key_agreement_fingerprint = kem->fingerprint_text();
    result.authentication_fingerprint = auth.fingerprint_text();

    // The store, in one transaction. If it fails, the card gets its old
    // management key back, so whoever holds that can try again.
    auto stored = st.write([&](store::WriteTxn& t) -> Result<void> {
        auto u = CUG_TRY(t.user(o.user));
        if (result.previous_owner && *result.previous_owner != o.user) {
            auto before = CUG_TRY(t.find_user(*result.previous_owner));
            if (before && before->card && before->card->certificate_serial == old_user->serial()) {
                before->card.reset();
                CUG_CHECK(t.put_user(*before));
                CUG_CHECK(t.audit_event("card.revoke", before->name,
                                        fmt::format("card re-issued to {}", o.user)));
            }
        }
        store::CardKeys k;
        k.key_agreement = kem->to_point();
        k.authentication = auth.to_point();
        k.certificate_serial = user_certificate.serial();
        k.enrolled = now;
        k.management_key_sealed = seal_management_key(server.key.public_key(), o.user, fresh);
        k.device = result.device;
        const bool replaced = u.card.has_value();
        u.card = std::move(k);
        CUG_CHECK(t.put_user(u));
        return t.audit_event("card.enroll", o.user,
                             fmt::format("{}{}, key {}, attestation {}{}", result.device,
                                         replaced ? " (replaces the previous card)" : "",
                                         result.key_agreement_fingerprint, result.attestation,
                                         result.previous_owner && *result.previous_owner != o.user
                                             ? ", previously " + *result.previous_owner
                                             : ""));
    });
    if (!stored) {
        if (p.authenticate(fresh.cipher, fresh.key.view()))
            (void)p.set_management_key(current->cipher, current->key.view());
        return std::move(stored).error();
    }
    return result;
}

Result<CardReport> inspect(card::Card& card, store::Store* st) {
    CardReport report;
    report.identity = CUG_TRY(card.identity());
    if (!st || !report.identity.server_certificate) return report;
    auto ours = CUG_TRY(st->read([](store::ReadTxn& t) { return t.server_certificate(); }));
    report.server_matches_store =
        report.identity.server_certificate->fingerprint() == ours.fingerprint();
    const std::string user = report.identity.user_id();
    if (*report.server_matches_store && !user.empty()) {
        auto record = CUG_TRY(st->read([&](store::ReadTxn& t) { return t.find_user(user); }));
        report.keys_match_store =
            record && record->card && report.identity.user_certificate &&
            record->card->certificate_serial == report.identity.user_certificate->serial();
    }
    return report;
}

}  // namespace cug::enroll
