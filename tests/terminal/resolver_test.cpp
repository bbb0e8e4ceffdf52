#include "terminal/resolver.hpp"

#include <doctest/doctest.h>

using namespace cug;

namespace {

net::Address addr(const char* text) {
    return *net::Address::parse(text);
}

dns::ZoneData vpn1() {
    dns::ZoneData d;
    d.zone = "cug.";
    d.self = "USER-B";
    d.groups = {{"VPN1", *net::Prefix::parse("198.51.100.0/24"), addr("198.51.100.2")}};
    d.members = {{"USER-A", "VPN1", addr("198.51.100.1")}};
    return d;
}

bool has(const dns::Zone& zone, const std::string& name) {
    for (const auto& [n, a] : zone.names())
        if (n == name) return true;
    return false;
}

}  // namespace

TEST_CASE("the resolver rebuilds its zone only when the session's names change") {
    terminal::Resolver resolver(0);  // no sockets: the zone alone
    CHECK(resolver.zone().empty());

    REQUIRE(resolver.update(vpn1()).ok());
    const auto first = resolver.zone().serial();
    CHECK(has(resolver.zone(), "user-a.vpn1.cug."));

    // The agent calls update after every push; the same names keep the zone.
    REQUIRE(resolver.update(vpn1()).ok());
    CHECK(resolver.zone().serial() == first);

    // A member's new address, a new member, a new zone: each is a new zone.
    auto moved = vpn1();
    moved.members[0].address = addr("198.51.100.7");
    REQUIRE(resolver.update(moved).ok());
    CHECK(resolver.zone().serial() == first + 1);

    auto joined = moved;
    joined.members.push_back({"USER-C", "VPN1", addr("198.51.100.3")});
    REQUIRE(resolver.update(joined).ok());
    CHECK(resolver.zone().serial() == first + 2);
    CHECK(has(resolver.zone(), "user-c.vpn1.cug."));

    auto renamed = joined;
    renamed.zone = "corp.example.";
    REQUIRE(resolver.update(renamed).ok());
    CHECK(resolver.zone().serial() == first + 3);
    CHECK(has(resolver.zone(), "user-c.vpn1.corp.example."));

    // No session: no names; the same names again afterwards are a new zone.
    REQUIRE(resolver.update(std::nullopt).ok());
    CHECK(resolver.zone().empty());
    REQUIRE(resolver.update(renamed).ok());
    CHECK(resolver.zone().serial() == first + 4);
    CHECK(has(resolver.zone(), "user-a.vpn1.corp.example."));
}
