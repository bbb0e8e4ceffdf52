// A cug card in a reader: what cug-admin, cug-login and cug-tun ask of it.
//
// Layout (man/cug.7, "THE CARD"): slot 9D holds the key-agreement key (ECDH at
// login, PIN once) and its certificate, issued by the server to the user ID;
// slot 9E the card-authentication key (presence signatures, no PIN) and its
// certificate; the retired-key object of slot 95 holds the server's
// certificate, the key the terminal pins.
#pragma once

#include "card/pcsc.hpp"
#include "card/piv.hpp"

#include <optional>
#include <string>

namespace cug::card {

struct CardIdentity {
    std::string reader;
    std::optional<PivVersion> version;  // YubiKeys and the virtual card
    std::optional<std::uint32_t> serial;
    std::optional<crypto::Certificate> user_certificate;            // 9D
    std::optional<crypto::Certificate> authentication_certificate;  // 9E
    std::optional<crypto::Certificate> server_certificate;          // 95
    bool key_agreement_key = false;  // known present (metadata, or its certificate)
    bool authentication_key = false;
    int pin_tries_left = -1;  // -1: the card does not say

    // The user ID the card carries (its 9D certificate's subject), or "".
    std::string user_id() const;
    // Whether this is a cug card: both certificates, the user's issued by the server.
    Result<void> check_issued() const;
};

class Card {
  public:
    // Connects to `reader`, or to the only reader holding a card.
    static Result<Card> open(const std::optional<std::string>& reader);

    const std::string& reader() const { return connection_.reader(); }
    Context& context() { return context_; }
    Connection& connection() { return connection_; }

    // Everything that can be read without the PIN.
    Result<CardIdentity> identity();
    // VERIFY and ECDH with the 9D key in one transaction, ended with a card
    // reset so the verified PIN does not outlive it.
    Result<crypto::SecretBuffer> agree(ByteView pin, const crypto::PublicKey& peer);
    // A presence signature with the 9E key (no PIN) over a digest.
    Result<Bytes> sign_presence(const crypto::Digest& digest);

  private:
    Card(Context context, Connection connection)
        : context_(std::move(context)), connection_(std::move(connection)) {}
    Context context_;
    Connection connection_;
};

}  // namespace cug::card
