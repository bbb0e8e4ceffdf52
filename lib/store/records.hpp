// The records the store keeps, and their byte encoding.
//
// Every value is a version byte followed by tag-length-value fields (tag u8,
// length u16, strictly ascending tags, no unknown tags). Keys are names or
// big-endian numbers so LMDB's byte order is the natural order. The decoders
// read bytes that may have been damaged on disk, so they are bounds-checked,
// strict, and fuzzed (tests/fuzz/store_records_fuzz.cpp).
#pragma once

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "crypto/secret.hpp"
#include "net/address.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cug::store {

// 2: the `noise` database.
inline constexpr std::uint32_t schema_version = 2;

// What cug-admin card enroll records about a user's card (issue: smart card).
struct CardKeys {
    Bytes key_agreement;          // public point of slot 9D (65 bytes, uncompressed)
    Bytes authentication;         // public point of slot 9E (65 bytes)
    Bytes certificate_serial;     // serial of the user certificate on the card
    std::int64_t enrolled = 0;    // unix seconds
    Bytes management_key_sealed;  // the card's management key, sealed to the server key
    std::string device;           // what the card said it is (attestation), for display
};

struct User {
    std::string name;  // the key; not stored in the value
    bool enabled = true;
    std::int64_t created = 0;
    std::string password_hash;  // Argon2id PHC string
    std::int64_t password_changed = 0;
    std::uint32_t failed_logins = 0;  // consecutive, reset by a success or a new password
    std::int64_t last_failure = 0;
    std::optional<CardKeys> card;
};

// A group key epoch: the secret pair keys are derived from, never sent anywhere.
struct Epoch {
    std::uint64_t key_id = 0;  // unique in the store, never reused
    crypto::SecretBuffer secret;
    std::int64_t created = 0;
};

struct Group {
    std::string name;  // the key
    net::Prefix prefix;
    std::int64_t created = 0;
    std::uint64_t member_count = 0;
    std::uint64_t next_offset = 1;  // where the next address search starts
    Epoch current;
    std::optional<Epoch> previous;
};

struct Membership {
    std::string user;
    std::string group;
    net::Address address;  // stable overlay address in the group's prefix
    std::int64_t added = 0;
};

// A logged-in user: the patent's registration table (drawing 8), one row per
// user (one active terminal each).
struct Session {
    std::string user;  // the key
    Bytes id;          // 16 random bytes, the session's name on the wire
    // Receiver indices, one per group the user was in at login: packets this
    // session sends in that group carry it, and every receiver finds the pair
    // state by it (unique store-wide, never reused).
    std::vector<std::pair<std::string, std::uint32_t>> indices;
    std::optional<std::uint32_t> index_in(std::string_view group) const {
        for (const auto& [g, i] : indices)
            if (g == group) return i;
        return std::nullopt;
    }
    std::int64_t login_time = 0;
    std::int64_t last_seen = 0;
    std::int64_t expires = 0;
    bool acknowledged = false;              // the terminal confirmed the bundle (patent step 12)
    Bytes card_serial;                      // the certificate serial of the card that logged in
    crypto::SecretBuffer resume_key;        // K_resume: proves a resume without the card
    crypto::SecretBuffer push_key;          // K_push
    crypto::SecretBuffer udp_key;           // K_udp: authenticates the UDP hello
    std::optional<net::Endpoint> endpoint;  // the UDP source cugd observed
    std::optional<net::Endpoint> control;   // where the control channel came from
};

struct AuditEntry {
    std::uint64_t seq = 0;     // the key: strictly increasing, never reused
    std::int64_t time_us = 0;  // unix microseconds
    std::uint32_t uid = 0;     // the Unix user that made the change
    std::string actor;         // that user's name ("root", "root via sudo by alice")
    std::string program;       // "cug-admin", "cugd"
    std::string action;        // "user.add", "member.del", ...
    std::string subject;       // what it was done to ("USER-A", "VPN1/USER-A")
    std::string detail;        // free text, never a secret
};

// What strangers did from one address in one minute, counted rather than
// written one by one (cugd gathers it; it has its own bounded ring, so it
// never pushes security-relevant entries out of the audit log).
struct NoiseEntry {
    std::uint64_t seq = 0;                  // the key, as in the audit log
    std::int64_t minute = 0;                // unix seconds of the minute's start
    std::string source;                     // the address
    std::uint64_t connections_refused = 0;  // over the startup caps
    std::uint64_t handshakes_failed = 0;    // TLS that failed or took too long
    std::uint64_t logins_refused = 0;       // before the card proof held
    std::uint64_t resumes_refused = 0;      // a session id or proof that did not hold
    std::string users;                      // some of the user IDs tried, comma-separated
};

// Encoders never fail: the store only builds records from validated values.
Bytes encode_user(const User&);
Bytes encode_group(const Group&);
Bytes encode_membership(const Membership&);  // the value only (address, added)
Bytes encode_audit(const AuditEntry&);
Bytes encode_session(const Session&);
Bytes encode_noise(const NoiseEntry&);

// Decoders take the key's parts from the caller and the value from the store.
Result<User> decode_user(std::string_view name, ByteView value);
Result<Group> decode_group(std::string_view name, ByteView value);
Result<Membership> decode_membership(std::string_view user, std::string_view group, ByteView value);
Result<AuditEntry> decode_audit(std::uint64_t seq, ByteView value);
Result<Session> decode_session(std::string_view user, ByteView value);
Result<NoiseEntry> decode_noise(std::uint64_t seq, ByteView value);

// Keys.
Bytes membership_key(std::string_view user, std::string_view group);     // user \0 group
Bytes address_key(std::string_view group, const net::Address& address);  // group \0 bytes
Bytes seq_key(std::uint64_t seq);                                        // 8 bytes big-endian
// Splits "a\0b"; nullopt if there is no separator.
std::optional<std::pair<std::string_view, std::string_view>> split_key(ByteView key);
std::optional<std::uint64_t> parse_seq_key(ByteView key);

}  // namespace cug::store
