// The TUN device and rtnetlink, for real: in a network namespace of a child
// process (skipped when not root).
#include "dataplane/tun.hpp"

#include "support/netns_child.hpp"

#include <doctest/doctest.h>

#include <ifaddrs.h>
#include <net/if.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>

using namespace cug;
using namespace cug::dataplane;

namespace {

std::set<std::string> addresses_of(const std::string& name) {
    std::set<std::string> out;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return out;
    for (auto* a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_name != name) continue;
        if (a->ifa_addr->sa_family != AF_INET && a->ifa_addr->sa_family != AF_INET6) continue;
        out.insert(net::endpoint_from_sockaddr(a->ifa_addr).address.to_string());
    }
    freeifaddrs(list);
    return out;
}

// What the child checks; the status says which step failed (0: all good).
int child() {
    auto tun = TunDevice::open("cugtest0", 2);
    if (!tun || tun->queues().size() != 2 || tun->index() == 0) return 3;
    if (auto again = TunDevice::open("cugtest0", 1); again || again.error().code != Errc::exists)
        return 4;
    auto nl = Netlink::open();
    if (!nl || !nl->set_link(tun->index(), 1420, true)) return 5;
    // The cap on segments per super-packet, read back by iproute2.
    if (!nl->set_gso_max_segs(tun->index(), 64)) return 13;
    if (FILE* ip = popen("ip -d link show cugtest0", "r")) {
        char text[4096] = {};
        const std::size_t n = fread(text, 1, sizeof text - 1, ip);
        pclose(ip);
        if (std::string(text, n).find("gso_max_segs 64 ") == std::string::npos) return 14;
    } else {
        return 14;
    }
    const auto v4 = *net::Address::parse("198.51.100.7");
    const auto v6 = *net::Address::parse("fd00:2::7");
    if (!nl->add_address(tun->index(), v4, 24) || !nl->add_address(tun->index(), v6, 64)) return 6;
    if (addresses_of("cugtest0") != std::set<std::string>{"198.51.100.7", "fd00:2::7"}) {
        for (const auto& a : addresses_of("cugtest0"))
            std::fprintf(stderr, "cugtest0 has %s\n", a.c_str());
        return 7;
    }
    if (!nl->delete_address(tun->index(), v4, 24)) return 8;
    if (addresses_of("cugtest0") != std::set<std::string>{"fd00:2::7"}) return 9;
    if (nl->delete_address(tun->index(), v4, 24)) return 10;  // not there any more
    if (TunDevice::open("bad/name", 1) || TunDevice::open("", 1) ||
        TunDevice::open("sixteen-chars-xx", 1))
        return 11;
    { TunDevice gone = std::move(*tun); }
    if (if_nametoindex("cugtest0") != 0) return 12;  // not persistent: it went with its queues
    return 0;
}

}  // namespace

TEST_CASE("a multi-queue TUN device, configured over rtnetlink, goes with its last queue") {
    test::in_new_netns(child);
}
