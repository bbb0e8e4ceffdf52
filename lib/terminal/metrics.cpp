#include "terminal/metrics.hpp"

#include "metrics/exposition.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace cug::terminal {

std::string render_metrics(const dataplane::Stats& s, std::int64_t now) {
    using Type = metrics::Exposition::Type;
    metrics::Exposition e;
    const metrics::Labels interface {
        { "interface", s.interface }
    };

    e.family("cug_interface_info", Type::gauge,
             "The tunnel interface: its name, MTU and UDP port; always 1.");
    e.sample("cug_interface_info",
             {{"interface", s.interface},
              {"mtu", std::to_string(s.mtu)},
              {"port", std::to_string(s.port)},
              {"offload", s.offload ? "on" : "off"}},
             std::uint64_t{1});

    struct Direction {
        const char* name;
        const char* help;
        std::uint64_t dataplane::GroupStats::*group;
        std::uint64_t dataplane::PeerStats::*peer;
    };
    const Direction directions[] = {
        {"receive_bytes", "Plaintext bytes received (decrypted and written to the device)",
         &dataplane::GroupStats::rx_bytes, &dataplane::PeerStats::rx_bytes},
        {"transmit_bytes", "Plaintext bytes sent (read from the device and encrypted)",
         &dataplane::GroupStats::tx_bytes, &dataplane::PeerStats::tx_bytes},
        {"receive_packets", "Packets received", &dataplane::GroupStats::rx_packets,
         &dataplane::PeerStats::rx_packets},
        {"transmit_packets", "Packets sent (after segmentation)",
         &dataplane::GroupStats::tx_packets, &dataplane::PeerStats::tx_packets},
    };
    for (const auto& d : directions) {
        const std::string name = fmt::format("cug_group_{}_total", d.name);
        e.family(name, Type::counter, fmt::format("{}, per group, since cug-tun started.", d.help));
        for (const auto& g : s.groups)
            e.sample(name, {{"interface", s.interface}, {"group", g.group}}, g.*(d.group));
    }
    for (const auto& d : directions) {
        const std::string name = fmt::format("cug_peer_{}_total", d.name);
        e.family(name, Type::counter,
                 fmt::format("{}, per peer, in the peer's current session.", d.help));
        for (const auto& p : s.peers)
            e.sample(
                name,
                {{"interface", s.interface}, {"group", p.group}, {"peer", p.address.to_string()}},
                p.*(d.peer));
    }
    const std::pair<const char*, std::int64_t dataplane::PeerStats::*> ages[] = {
        {"cug_peer_last_receive_age_seconds", &dataplane::PeerStats::last_rx},
        {"cug_peer_last_transmit_age_seconds", &dataplane::PeerStats::last_tx},
    };
    for (const auto& [name, field] : ages) {
        e.family(name, Type::gauge,
                 std::string_view(name).find("receive") != std::string_view::npos
                     ? "Seconds since the last packet from the peer (absent: none yet)."
                     : "Seconds since the last packet to the peer (absent: none yet).");
        for (const auto& p : s.peers)
            if (p.*field != 0)
                e.sample(name,
                         {{"interface", s.interface},
                          {"group", p.group},
                          {"peer", p.address.to_string()}},
                         static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - p.*field)));
    }
    e.family("cug_peers", Type::gauge, "Pairs with a peer (one per peer and group).");
    e.sample("cug_peers", interface, static_cast<std::uint64_t>(s.peers.size()));
    e.family("cug_dropped_packets_total", Type::counter,
             "Packets dropped, by reason (man/cug-tun.8, COUNTERS).");
    for (std::size_t i = 0; i < dataplane::drop_reasons; ++i)
        e.sample("cug_dropped_packets_total",
                 {{"interface", s.interface},
                  {"reason", dataplane::drop_name(static_cast<dataplane::Drop>(i))}},
                 s.drops[i]);
    return e.text();
}

}  // namespace cug::terminal
