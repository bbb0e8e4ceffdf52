// What cugd and the terminal programs compute alike: the login key schedule,
// the transcript proof, the sealed session bundle, pair keys, and the resume
// and presence proofs. docs/CONTROL-PLANE.md is the specification; this module
// and its tests are its reference.
#pragma once

#include "core/result.hpp"
#include "crypto/hash.hpp"
#include "crypto/hkdf.hpp"
#include "crypto/p256.hpp"
#include "crypto/secret.hpp"
#include "dns/zone.hpp"
#include "net/address.hpp"
#include "wire/kv.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cug::protocol {

inline constexpr std::uint64_t version = 1;
inline constexpr std::string_view exporter_login = "EXPORTER-cug-login-v1";
inline constexpr std::string_view exporter_resume = "EXPORTER-cug-resume-v1";
inline constexpr std::string_view exporter_presence = "EXPORTER-cug-presence-v1";
inline constexpr std::size_t exporter_size = 32;
inline constexpr std::size_t session_id_size = 16;

// Limits for messages on the control channel. A bundle holds at most
// max_peers peer entries (about 560 bytes each, base64 and sealing included),
// which bounds the largest sealed value and message.
inline constexpr std::size_t max_peers = 4000;
// Names (user, group, address: about 70 bytes each) of every other member
// of the session's groups, online or not, for the terminal's resolver.
inline constexpr std::size_t max_names = 16000;
inline constexpr std::size_t max_sealed = 4u << 20;
wire::Limits channel_limits();
// What cugd takes from a terminal: every message a terminal sends is small
// (the largest is a proof with a password of up to max_password bytes), so a
// connection that sends more is cut off before cugd buffers it.
inline constexpr std::size_t max_password = 1024;
wire::Limits terminal_limits();

struct LoginKeys {
    Bytes info;  // also the bundle's AAD
    crypto::SecretBuffer confirm, seal, resume, push, udp;
};

// info = length_prefixed("cug v1", user, H(card SPKI), E, H(server SPKI)).
Bytes login_info(std::string_view user, const crypto::PublicKey& card_key,
                 const crypto::PublicKey& ephemeral, const crypto::PublicKey& server_key);
// From the TLS exporter value (salt) and the ECDH x-coordinate.
LoginKeys derive_login_keys(ByteView exporter, ByteView shared_x, Bytes info);

// SHA-256 over the encoded hello and challenge, exactly as they were sent.
crypto::Digest transcript_hash(std::string_view hello, std::string_view challenge);
crypto::Digest login_proof(const LoginKeys& keys, const crypto::Digest& transcript);
bool check_login_proof(const LoginKeys& keys, const crypto::Digest& transcript, ByteView proof);

crypto::Digest resume_proof(ByteView k_resume, ByteView exporter);
// What the card's 9E key signs to show it is still there.
crypto::Digest presence_digest(ByteView challenge, ByteView exporter);

// One end of a pair in a group: the session, and its receiver index there.
// The index is what makes an instance of the pair unique: a membership
// removed and added again, or a new login, gets a new one (never reused), so
// the pair's keys are new with it and a counter at 0 never meets an old key.
struct PairEnd {
    ByteView session;
    std::uint32_t index = 0;
};

// K(a->b) for one direction of one pair of sessions in a group epoch:
// HKDF-SHA-256(salt none, epoch secret, info "cug data v1" || key id ||
// session a || index a || session b || index b).
crypto::SecretBuffer pair_key(ByteView epoch_secret, std::uint64_t key_id, PairEnd from,
                              PairEnd to);

// The same keys for many pairs of one epoch (a bundle of 49 peers needs 98):
// HKDF's extract step, the same for every pair, is done once.
class PairKeys {
  public:
    PairKeys(ByteView epoch_secret, std::uint64_t key_id);
    crypto::SecretBuffer derive(PairEnd from, PairEnd to) const;
    std::uint64_t key_id() const { return key_id_; }

  private:
    crypto::HkdfExpander expander_;
    std::uint64_t key_id_;
};

struct BundleGroup {
    std::string name;
    net::Prefix prefix;
    net::Address address;  // ours in this group
    std::uint64_t key_id = 0;
};

struct BundlePeer {
    std::string user;
    std::string group;
    net::Address address;
    std::optional<net::Endpoint> endpoint;
    std::uint32_t send_index = 0;  // the peer's receiver index for our packets
    std::uint32_t recv_index = 0;  // ours for the peer's packets
    std::uint64_t key_id = 0;      // the group epoch these keys are of
    crypto::SecretBuffer send_key, recv_key;
    std::int64_t not_after = 0;
};

// A member of one of the session's groups and its stable address there:
// what the terminal's resolver answers for <user>.<group>.<zone>.
struct BundleName {
    std::string user, group;
    net::Address address;
    bool operator==(const BundleName&) const = default;
};

struct Bundle {
    Bytes session;  // 16 bytes
    std::int64_t expires = 0;
    std::string zone{dns::default_zone};  // the DNS zone, canonical
    std::vector<BundleGroup> groups;
    std::vector<BundlePeer> peers;
    std::vector<BundleName> names;  // the other members, by group then address
};

// The bundle as a key=value message and back; decoding is strict (every key
// known, counts and indices consistent, values validated).
wire::Message encode_bundle(const Bundle& bundle);
Result<Bundle> decode_bundle(const wire::Message& message);
// One peer entry under the key prefix `p` ("peer.3."); decoding checks it
// against the session's groups. Pushes reuse them (protocol/session.hpp).
// A peer entry has this many keys, and one more when it has an endpoint.
inline constexpr std::size_t peer_fields = 9;
void encode_peer(wire::Message& m, const std::string& p, const BundlePeer& peer);
Result<BundlePeer> decode_peer(const wire::Message& m, const std::string& p,
                               const std::vector<BundleGroup>& groups);

// One name entry under the key prefix `p` ("name.3."), checked against the
// session's groups; the names push reuses them.
void encode_name(wire::Message& m, const std::string& p, const BundleName& name);
Result<BundleName> decode_name(const wire::Message& m, const std::string& p,
                               const std::vector<BundleGroup>& groups);

// Sealed under K_seal with the login info as AAD (docs/CONTROL-PLANE.md).
Bytes seal_bundle(const LoginKeys& keys, const Bundle& bundle);
Result<Bundle> open_bundle(const LoginKeys& keys, ByteView sealed);

}  // namespace cug::protocol
