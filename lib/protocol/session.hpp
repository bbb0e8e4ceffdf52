// The session's life after login (docs/CONTROL-PLANE.md, "Session life" and
// "Endpoint"): pushes from cugd sealed under a per-channel push key, and the
// UDP hello by which cugd learns the terminal's endpoint as it sees it.
#pragma once

#include "protocol/login.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cug::protocol {

// --- pushes ------------------------------------------------------------------
//
// A push travels as `type=push seq=N sealed=<...>`, where sealed is
// AES-256-GCM under the channel's push key with the nonce 0^4 || u64be(seq).
// seq starts at 1 on every channel and only grows; the key is new for every
// channel, so a nonce never repeats under one key even across cugd restarts:
//   K_push,channel = HKDF(salt = TLS-Exporter("EXPORTER-cug-resume-v1"), ikm = K_push,
//                         info = "cug push v1", 32)
crypto::SecretBuffer channel_push_key(ByteView k_push, ByteView resume_exporter);
std::string seal_push(ByteView channel_key, std::uint64_t seq, const wire::Message& inner);
// Checks seq == expected, opens, parses. Errc::protocol on anything wrong.
Result<wire::Message> open_push(ByteView channel_key, std::uint64_t expected_seq,
                                const wire::Message& outer);

// What a push says, decoded and checked against the session's groups.
struct Push {
    enum class Kind {
        sync,        // the whole picture: groups and peers replace what the terminal had
        peer_up,     // new or changed pair keys for these peers (upsert by user and group)
        peer_down,   // forget this user's keys (in one group, or in all)
        group_down,  // the session lost this group (membership removed)
        endpoint,    // a peer's UDP endpoint changed
        peer_away,   // a peer's terminal lost its channel; its session may resume
        peer_back,   // ... and resumed
        rekey,       // a group's new epoch: install these pair keys for receiving
        activate,    // ... and now send with them (the old ones go)
        names,       // a group's members changed: names set (by user) and gone
    };
    Kind kind = Kind::sync;
    Bundle sync;                    // sync
    std::vector<BundlePeer> peers;  // peer_up
    std::vector<BundleName> names;  // names: added or moved (all in `group`)
    std::vector<std::string> gone;  // names: users no longer in `group`
    std::string user;               // peer_down, endpoint, peer_away, peer_back
    std::string group;              // peer_down (empty: every group), group_down, names
    std::optional<net::Endpoint> endpoint;
    std::uint64_t key_id = 0;  // rekey, activate
};

wire::Message encode_sync(const Bundle& bundle);
wire::Message encode_peer_up(const std::vector<BundlePeer>& peers);
wire::Message encode_peer_down(std::string_view user, std::string_view group);
wire::Message encode_group_down(std::string_view group);
wire::Message encode_endpoint(std::string_view user, const net::Endpoint& endpoint);
// type=peer-away or type=peer-back, user=
wire::Message encode_peer_presence(std::string_view user, bool away);
// Two-phase rotation of one group's epoch (docs/CONTROL-PLANE.md, "Rotation"):
// the terminal installs the new pair keys, answers type=rekeyed group= key_id=
// on the channel, and switches to them on the activate push.
wire::Message encode_rekey(std::string_view group, std::uint64_t key_id,
                           const std::vector<BundlePeer>& peers);
wire::Message encode_activate(std::string_view group, std::uint64_t key_id);
// type=names group= names=N name.K.* gone=M gone.K=<user>: the group's
// members that joined or moved, and those that left.
wire::Message encode_names(std::string_view group, const std::vector<BundleName>& set,
                           const std::vector<std::string>& gone);
// `groups` are the session's, to check peer entries against.
Result<Push> decode_push(const wire::Message& inner, const std::vector<BundleGroup>& groups);

// --- UDP hello -----------------------------------------------------------------
//
// hello (60 bytes) = "cugH" || session (16) || u64be(counter) || HMAC(K_udp,
//                    "cug udp hello v1" || session || counter)
// reply (78 bytes) = "cugh" || session (16) || u64be(counter) || address (16, IPv4
//                    mapped) || u16be(port) || HMAC(K_udp, "cug udp reply v1" || the rest)
// The counter is the sender's clock in microseconds; cugd takes a hello only
// with a counter above the last it took for the session and within
// hello_window_us of its own clock, so a recorded hello cannot move an
// endpoint later.
inline constexpr std::size_t udp_hello_size = 60;
inline constexpr std::size_t udp_reply_size = 78;
inline constexpr std::int64_t hello_window_us = 120'000'000;

struct UdpHello {
    Bytes session;
    std::uint64_t counter = 0;
    crypto::Digest mac{};
};

Bytes udp_hello(ByteView k_udp, ByteView session, std::uint64_t counter);
// Only the shape; the MAC is checked with the session's key by check_udp_hello.
Result<UdpHello> parse_udp_hello(ByteView datagram);
bool check_udp_hello(ByteView k_udp, const UdpHello& hello);

Bytes udp_reply(ByteView k_udp, ByteView session, std::uint64_t counter,
                const net::Endpoint& observed);
// The endpoint cugd observed, if the reply is authentic and answers `counter`.
Result<net::Endpoint> open_udp_reply(ByteView k_udp, ByteView session, std::uint64_t counter,
                                     ByteView datagram);

}  // namespace cug::protocol
