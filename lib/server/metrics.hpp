// cugd's metrics (man/cugd.8, METRICS): counters the event loop and the
// worker threads add to, gauges the loop sets once a second, and two latency
// histograms; render() runs in the metrics server's thread and reads only
// atomics. No label holds a user ID or an address.
#pragma once

#include "metrics/exposition.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace cug::server {

struct ServerMetrics {
    // Logins by how they ended: the refusal reasons of the protocol, and a
    // login whose deadline passed.
    enum class Login : unsigned {
        ok,
        failed,
        disabled,
        locked,
        password,
        no_groups,
        timed_out,
        count_
    };
    enum class Ended : unsigned { logout, absent, kicked, expired, revoked, replaced, count_ };
    enum class Refused : unsigned { full, startups, per_source, count_ };
    // What cugd pushes to terminals, by the message's type.
    enum class Push : unsigned {
        sync,
        peer_up,
        peer_down,
        group_down,
        endpoint,
        peer_away,
        peer_back,
        rekey,
        activate,
        names,
        other,
        count_
    };

    template <class E>
    using Counts = std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(E::count_)>;

    Counts<Login> logins{};
    std::atomic<std::uint64_t> resumes{0}, resumes_refused{0};
    Counts<Ended> ended{};
    Counts<Refused> refused{};
    Counts<Push> pushes{};
    std::atomic<std::uint64_t> channels_opened{0};
    std::atomic<std::uint64_t> handshakes{0}, handshakes_failed{0};
    std::atomic<std::uint64_t> rotations{0}, rotation_timeouts{0};
    metrics::Histogram handshake_seconds{
        {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
    metrics::Histogram password_seconds{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};

    // Set by the loop once a second.
    std::atomic<std::uint64_t> sessions{0}, sessions_connected{0}, sessions_away{0};
    std::atomic<std::uint64_t> channels{0}, startups{0}, handshakes_pending{0};
    std::atomic<std::uint64_t> backoff_sources{0}, rotations_pending{0};
    std::atomic<std::int64_t> start_time{0};

    template <class E>
    static void add(Counts<E>& counts, E which) {
        counts[static_cast<std::size_t>(which)].fetch_add(1, std::memory_order_relaxed);
    }
    // A refusal's reason ("no-groups") as counted.
    void login_refused(std::string_view reason);
    // The label values, as logs name them too.
    static std::string_view name(Refused why);
    static std::string_view name(Ended why);
    // A push's type ("peer-up") as counted.
    void pushed(std::string_view type);

    std::string render() const;
};

}  // namespace cug::server
