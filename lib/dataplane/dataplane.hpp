// cug-tun's data plane (docs/DATA-PLANE.md): the TUN device, one worker
// thread per queue with its own UDP socket (SO_REUSEPORT, one port), and the
// table of pairs the session's keys describe.
//
// The agent thread owns the picture: it calls update() with the session's
// groups and pairs whenever cugd's pushes change them (or clear() when the
// session ends), and the workers take the new table at their next batch. The
// workers never block on the agent, and the agent never waits for a worker.
#pragma once

#include "core/result.hpp"
#include "net/address.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cug::dataplane {

struct Config {
    std::string interface = "cug0";
    unsigned threads = 0;  // 0: one per online CPU (at most 8)
    std::uint16_t port = 51820;
    unsigned mtu = 1420;
    // TCP segmentation offload on the device (IFF_VNET_HDR, TSO4/6): the
    // kernel hands over 64 KiB super-packets, cug-tun cuts them itself and
    // sends the datagrams of each with UDP GSO. Off: one packet per read.
    bool offload = true;
    // How long a pair's previous receive key stays after a rotation switched
    // to the new one (packets already on their way).
    std::chrono::seconds rotation_grace{5};
};

// What the session says (keys are borrowed for the call; the data plane keeps
// only its own cipher contexts).
struct GroupView {
    std::string name;
    net::Prefix prefix;
    net::Address address;  // ours
};
struct KeyView {
    std::uint64_t key_id = 0;
    ByteView send_key, recv_key;
};
struct PeerView {
    std::string user, group;
    net::Address address;
    std::optional<net::Endpoint> endpoint;
    // cugd says the peer's terminal lost its channel (its session can still
    // resume): packets to it are dropped here, counted, not sent into the void.
    bool away = false;
    std::uint32_t send_index = 0, recv_index = 0;
    std::int64_t not_after = 0;
    KeyView current;
    std::optional<KeyView> next;  // installed by a rotation, not yet active
};
struct View {
    std::vector<GroupView> groups;
    std::vector<PeerView> peers;
};

// Why packets were dropped; every drop counts under exactly one reason.
enum class Drop : unsigned {
    malformed,          // too short (an empty datagram too), truncated, nonzero padding
    not_data,           // neither a data packet nor an answer to our UDP hello
    unknown_index,      // no pair has this receiver index (before any crypto)
    auth_failed,        // the tag did not verify
    replay,             // counter seen before or behind the window
    key_expired,        // the direction key passed its not-after time or 2^36 bytes
    wrong_source,       // inner source is not the peer's overlay address
    wrong_destination,  // inner destination is not ours in the pair's group
    not_ip,             // from the TUN: not an IPv4/IPv6 packet
    no_peer,            // from the TUN: no logged-in member has that address
    not_our_source,     // from the TUN: source is not our address in that group
    no_endpoint,        // the peer's UDP endpoint is not known yet
    peer_away,          // from the TUN: the peer's terminal is away (cugd said so)
    too_big,            // from the TUN: larger than the MTU (the network: over 64 KiB)
    send_failed,        // sendmmsg refused it
    tun_write_failed,   // the TUN refused it
    count_
};
inline constexpr std::size_t drop_reasons = static_cast<std::size_t>(Drop::count_);
const char* drop_name(Drop reason);

// A pair's counters belong to the peer's session: a new session (or new
// receiver indices) starts them again from 0.
struct PeerStats {
    std::string user, group;
    net::Address address;  // the peer's in the group
    std::uint64_t rx_bytes = 0, tx_bytes = 0, rx_packets = 0, tx_packets = 0;
    std::int64_t last_rx = 0, last_tx = 0;  // unix seconds, 0: never
};

// A group's traffic since the data plane opened, over every pair it ever had
// (never going back: the counters of pairs that ended are kept).
struct GroupStats {
    std::string group;
    std::uint64_t rx_bytes = 0, tx_bytes = 0, rx_packets = 0, tx_packets = 0;
};

struct Stats {
    std::string interface;
    unsigned mtu = 0, threads = 0;
    bool offload = false;  // on unless --no-offload or the kernel lacks TSO or UDP GSO
    std::uint16_t port = 0;
    std::array<std::uint64_t, drop_reasons> drops{};
    std::vector<PeerStats> peers;
    std::vector<GroupStats> groups;  // by name
};

class DataPlane {
  public:
    // Opens the TUN device (configured and up, no addresses yet), the UDP
    // sockets and the netlink socket; no threads yet, so that the caller can
    // drop privileges first.
    static Result<std::unique_ptr<DataPlane>> open(Config config);
    virtual ~DataPlane() = default;

    virtual Result<void> start_workers() = 0;
    // Installs the session's picture: addresses on the device for its groups,
    // pairs and keys for the workers. Errors concern only the device's
    // addresses; the keys are installed regardless.
    virtual Result<void> update(const View& view) = 0;
    // The session ended: every key goes, and the device's addresses.
    virtual void clear() = 0;
    // Safe from any thread (the metrics server's too).
    virtual Stats stats() const = 0;

    virtual std::uint16_t port() const = 0;
    // Datagrams on the data plane's port of the shape of cugd's answers to
    // the UDP hello (control_reply_size bytes, "cugh") arrive here, one per
    // read; the agent counts those it refuses with count().
    virtual int control_fd() const = 0;
    virtual void send_control(ByteView datagram, const net::Endpoint& to) = 0;
    virtual void count(Drop reason) = 0;
};

}  // namespace cug::dataplane
