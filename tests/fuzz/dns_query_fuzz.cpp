// The resolver's request path (dns::respond): every datagram or TCP message
// a local program sends cug-tun's port 53, over both transports. What comes
// back must be a DNS response to that query and within the transport's size.
#include "dns/answer.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    static const dns::Zone zone = [] {
        dns::ZoneData d;
        d.zone = "cug.";
        d.self = "USER-B";
        d.groups = {
            {"VPN1", *net::Prefix::parse("198.51.100.0/24"), *net::Address::parse("198.51.100.2")},
            {"VPN3", *net::Prefix::parse("fd00:3::/64"), *net::Address::parse("fd00:3::2")}};
        d.members = {{"USER-A", "VPN1", *net::Address::parse("198.51.100.1")},
                     {"USER-C", "VPN3", *net::Address::parse("fd00:3::3")}};
        return dns::Zone(d, 1);
    }();
    const ByteView query(data, size);
    for (auto transport : {dns::Transport::udp, dns::Transport::tcp}) {
        const auto r = dns::respond(zone, query, transport);
        if (!r.message) {
            if (r.outcome != dns::Outcome::dropped) __builtin_trap();
            continue;
        }
        const Bytes& m = *r.message;
        const std::size_t limit = transport == dns::Transport::udp ? dns::max_udp_answer : 65535;
        if (m.size() < 12 || m.size() > limit) __builtin_trap();
        if (m[0] != data[0] || m[1] != data[1] || !(m[2] & 0x80)) __builtin_trap();  // id, QR
        if (m[3] & 0x80) __builtin_trap();  // never recursion available
    }
    return 0;
}
