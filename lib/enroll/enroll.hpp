// Issuing a card to a user (cug-admin card enroll): keys generated on the
// card, certificates issued by the server key, a fresh management key kept
// sealed in the store, new PIN and PUK, and the user's public keys registered
// -- the store changes in one transaction at the end, or not at all.
#pragma once

#include "card/card.hpp"
#include "store/store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace cug::enroll {

struct EnrollOptions {
    std::string user;
    // The card's current management key; nullopt: the one this store sealed
    // for the card's previous owner, else the factory key.
    std::optional<crypto::SecretBuffer> management_key;
    crypto::SecretBuffer current_pin;  // empty: the factory PIN
    crypto::SecretBuffer current_puk;  // empty: the factory PUK
    crypto::SecretBuffer new_pin;
    crypto::SecretBuffer new_puk;  // empty: a random 8-digit PUK, returned
    std::vector<crypto::Certificate> attestation_roots;
    bool require_attestation = false;
    std::int64_t certificate_days = 3650;
};

struct EnrollResult {
    std::string user;
    std::string reader;
    std::string device;  // what the card is, for people and the audit log
    std::string key_agreement_fingerprint;
    std::string authentication_fingerprint;
    std::string attestation;     // "verified", "not offered", "offered, not verified"
    std::string management_key;  // its cipher, never its value
    std::optional<std::string> previous_owner;
    crypto::SecretBuffer generated_puk;  // when the caller gave none
};

Result<EnrollResult> enroll(store::Store& store, card::Card& card, EnrollOptions options);

// What `cug-admin card show` prints about a card, and how it relates to a store.
struct CardReport {
    card::CardIdentity identity;
    std::optional<bool> server_matches_store;  // nullopt: no store to compare with
    std::optional<bool> keys_match_store;      // the store's record of the card's user
};

Result<CardReport> inspect(card::Card& card, store::Store* store);

// The context a card's management key is sealed under, to the server key.
std::string management_key_context(std::string_view user);

}  // namespace cug::enroll
