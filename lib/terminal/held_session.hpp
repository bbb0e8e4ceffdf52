// The session cug-tun's agent holds, and what happens to it: the hand-off
// from cug-login (read and checked whole before anything changes), cugd's
// pushes (peers up and down, groups lost, endpoints, rotations), and the
// picture the data plane gets from it. Its keys live in the secure heap and
// are wiped when it is dropped. No I/O here: the agent does that.
#pragma once

#include "core/result.hpp"
#include "crypto/p256.hpp"
#include "dataplane/dataplane.hpp"
#include "net/address.hpp"
#include "protocol/session.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cug::terminal {

struct HeldSession {
    std::string user, server, reader;
    crypto::PublicKey server_key{nullptr};
    protocol::Bundle bundle;
    crypto::SecretBuffer resume_key, push_key, udp_key;
    std::int64_t since = 0;
    bool acknowledged = false;
    // The current channel's push key and the last push sequence taken.
    crypto::SecretBuffer channel_push_key;
    std::uint64_t push_seq = 0;
    // The UDP hello: last counter sent, whether cugd answered it, and the
    // endpoint cugd saw.
    std::uint64_t hello_counter = 0;
    bool hello_answered = false;
    std::int64_t next_hello = 0;
    std::optional<net::Endpoint> observed;
    // Peers whose terminals cugd said are away (channel lost, session still
    // resumable), until it says they are back or they go.
    std::set<std::string> away;
    // New epochs installed (for receiving) but not yet active, by group.
    std::map<std::string, std::pair<std::uint64_t, std::vector<protocol::BundlePeer>>> pending;
};

// cug-login's cmd=session request, every field checked; nothing is taken
// from a request that fails anywhere.
Result<HeldSession> parse_handoff(const wire::Message& request, std::int64_t now);

// What a push did, for the agent to act on.
struct PushOutcome {
    std::optional<std::string> answer;  // to send cugd (rekeyed)
    std::optional<std::string> left;    // a group the session lost
};
// Opens, checks and applies one push (the next in sequence) to the session.
// Errc::protocol when it is out of sequence, does not open, or makes no
// sense; the session is then unchanged.
Result<PushOutcome> apply_push(HeldSession& held, const wire::Message& outer);

// The data plane's picture of the session: groups, and for each peer its
// keys (and the next ones during a rotation).
dataplane::View dataplane_view(const HeldSession& held);

}  // namespace cug::terminal
