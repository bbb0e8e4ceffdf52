#include "card/card.hpp"

namespace cug::card {

std::string CardIdentity::user_id() const {
    return user_certificate ? user_certificate->subject_cn() : std::string();
}

Result<void> CardIdentity::check_issued() const {
    if (!user_certificate || !server_certificate)
        return make_error(Errc::unavailable, "the card in '{}' is not a cug card (not enrolled)",
                          reader);
    if (!user_certificate->issued_by(*server_certificate))
        return make_error(Errc::permission,
                          "the card in '{}' is damaged: its user certificate was not issued by "
                          "the server certificate it carries",
                          reader);
    return ok();
}

Result<Card> Card::open(const std::optional<std::string>& reader) {
    auto context = CUG_TRY(Context::establish());
    auto name = CUG_TRY(context.pick_reader(reader));
    auto connection = CUG_TRY(context.connect(name));
    return Card(std::move(context), std::move(connection));
}

Result<CardIdentity> Card::identity() {
    auto transaction = CUG_TRY(Transaction::begin(connection_));
    Piv piv(connection_);
    CUG_CHECK(piv.select());
    CardIdentity id;
    id.reader = reader();
    id.version = CUG_TRY(piv.version());
    id.serial = CUG_TRY(piv.serial());
    id.user_certificate = CUG_TRY(piv.read_certificate(piv::slot_key_management));
    id.authentication_certificate = CUG_TRY(piv.read_certificate(piv::slot_card_authentication));
    id.server_certificate = CUG_TRY(piv.read_certificate(piv::slot_retired_95));
    id.pin_tries_left = CUG_TRY(piv.pin_tries_left());
    // The metadata says whether a key is there; without it, a certificate
    // issued for the slot is the best sign.
    auto kem = CUG_TRY(piv.metadata(piv::slot_key_management));
    auto auth = CUG_TRY(piv.metadata(piv::slot_card_authentication));
    const bool has_metadata = id.version.has_value() && id.version->major >= 5;
    id.key_agreement_key = has_metadata ? kem.has_value() : id.user_certificate.has_value();
    id.authentication_key =
        has_metadata ? auth.has_value() : id.authentication_certificate.has_value();
    return id;
}

Result<crypto::SecretBuffer> Card::agree(ByteView pin, const crypto::PublicKey& peer) {
    auto transaction = CUG_TRY(Transaction::begin(connection_));
    Piv piv(connection_);
    CUG_CHECK(piv.select());
    CUG_CHECK(piv.verify_pin(pin));
    return piv.ecdh(piv::slot_key_management, peer);
}

Result<Bytes> Card::sign_presence(const crypto::Digest& digest) {
    auto transaction = CUG_TRY(Transaction::begin(connection_));
    Piv piv(connection_);
    CUG_CHECK(piv.select());
    return piv.sign(piv::slot_card_authentication, digest);
}

}  // namespace cug::card
