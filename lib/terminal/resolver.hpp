// cug-tun's resolver (man/cug-tun.8, NAMES): the session's names served on
// UDP and TCP port 53 of each of the session's own addresses on the device,
// to this terminal only. A query whose source is not one of those addresses
// (a peer's, through the tunnel) gets nothing: the names of one group are
// never told to a member of another. Driven from the agent's event loop; a
// flood costs bounded CPU (a token bucket: beyond it the sockets are not
// read, and the kernel drops).
#pragma once

#include "dns/answer.hpp"
#include "dns/zone.hpp"
#include "net/address.hpp"

#include <poll.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cug::terminal {

struct ResolverStats {
    std::uint16_t port = 0;
    std::array<std::uint64_t, dns::outcomes> outcomes{};
    std::uint64_t not_local = 0;  // from an address not ours: nothing sent
    std::uint64_t bind_failures = 0;
};

class Resolver {
  public:
    // Port 0: no resolver at all (update() only keeps the zone).
    explicit Resolver(std::uint16_t port);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // The session's names (nullopt: none, every socket closes). Sockets open
    // for addresses new to the session and close for those it lost; the zone
    // is swapped at once, and rebuilt only when the names changed (the same
    // data keeps the zone and its serial). Errors: addresses that could not
    // be bound (the rest still serve).
    Result<void> update(const std::optional<dns::ZoneData>& data);

    const dns::Zone& zone() const { return zone_; }
    // The addresses served on, the session's first group's first.
    std::vector<net::Address> addresses() const;
    const ResolverStats& stats() const { return stats_; }

    // For the agent's poll: the descriptors to watch (appended), how long it
    // may sleep at most (ms, -1: no bound), and the work once poll returned.
    void add_fds(std::vector<pollfd>& fds) const;
    int timeout_ms() const;
    void handle(const pollfd* fds, std::size_t count);
    // At least once a second: idle TCP connections go.
    void tick();

  private:
    struct Listener;
    struct Connection;
    bool take_token();
    void serve_udp(Listener& l);
    void accept_tcp(Listener& l);
    void serve_tcp(Connection& c, short revents);
    bool ours(const net::Address& source) const;

    std::uint16_t port_;
    dns::Zone zone_;
    std::optional<dns::ZoneData> data_;  // what zone_ was built from
    std::uint32_t serial_ = 0;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<Connection>> connections_;
    ResolverStats stats_;
    // The token bucket: queries answered per second, and its fill.
    double tokens_ = 0;
    std::chrono::steady_clock::time_point refilled_;
};

}  // namespace cug::terminal
