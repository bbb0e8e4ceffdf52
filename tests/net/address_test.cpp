#include "net/address.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>

using namespace cug;
using namespace cug::net;

TEST_CASE("addresses parse strictly and print canonically") {
    CHECK(Address::parse("192.0.2.1")->to_string() == "192.0.2.1");
    CHECK(Address::parse("192.0.2.1")->family() == AF_INET);
    CHECK(Address::parse("FD00:0:0::01")->to_string() == "fd00::1");
    CHECK(Address::parse("::ffff:192.0.2.1")->is_v4() == false);
    for (const char* bad : {"", "192.0.2", "192.0.2.256", "192.0.2.01", "[fd00::1]", "fd00::1%eth0",
                            "fd00::/64", "host", " 192.0.2.1", "1.2.3.4.5"})
        CHECK_FALSE(Address::parse(bad).has_value());
    CHECK(Address::from_bytes(Bytes{192, 0, 2, 1})->to_string() == "192.0.2.1");
    CHECK_FALSE(Address::from_bytes(Bytes{1, 2, 3}).has_value());
    CHECK(*Address::parse("10.0.0.1") < *Address::parse("10.0.0.2"));
    CHECK(*Address::parse("255.255.255.255") < *Address::parse("::"));
    CHECK(*Address::parse("10.0.0.1") == *Address::parse("10.0.0.1"));
}

TEST_CASE("prefixes: parsing, host bits, containment and overlap") {
    auto p = Prefix::parse("10.0.0.0/24");
    REQUIRE(p.ok());
    CHECK(p->to_string() == "10.0.0.0/24");
    CHECK(p->host_bits() == 8);
    CHECK(p->contains(*Address::parse("10.0.0.255")));
    CHECK_FALSE(p->contains(*Address::parse("10.0.1.0")));
    CHECK_FALSE(p->contains(*Address::parse("::a00:1")));

    auto host_bits = Prefix::parse("10.0.0.1/24");
    REQUIRE_FALSE(host_bits.ok());
    CHECK(host_bits.error().message ==
          "'10.0.0.1/24' has host bits set (did you mean 10.0.0.0/24?)");
    CHECK(Prefix::parse("10.0.0.0/33").error().message ==
          "prefix length 33 is out of range for IPv4");
    for (const char* bad : {"10.0.0.0", "10.0.0.0/", "10.0.0.0/024", "10.0.0.0/-1", "/24",
                            "fd00::/129", "fd00::/64/1", "10.0.0/24"})
        CHECK_FALSE(Prefix::parse(bad).ok());

    auto all = *Prefix::parse("0.0.0.0/0");
    CHECK(all.contains(*Address::parse("203.0.113.7")));
    auto v6 = *Prefix::parse("fd00:1::/64");
    CHECK(v6.contains(*Address::parse("fd00:1::ffff:1")));
    CHECK_FALSE(v6.contains(*Address::parse("fd00:2::1")));
    auto host = *Prefix::parse("fd00::1/128");
    CHECK(host.contains(*Address::parse("fd00::1")));
    CHECK_FALSE(host.contains(*Address::parse("fd00::2")));
    CHECK((*Prefix::parse("::/0")).contains(*Address::parse("fd00::2")));

    auto overlap = [](const char* a, const char* b) {
        auto pa = *Prefix::parse(a), pb = *Prefix::parse(b);
        CHECK(pa.overlaps(pb) == pb.overlaps(pa));
        return pa.overlaps(pb);
    };
    CHECK(overlap("10.0.0.0/8", "10.1.0.0/16"));
    CHECK(overlap("10.0.0.0/24", "10.0.0.0/24"));
    CHECK_FALSE(overlap("10.0.0.0/24", "10.0.1.0/24"));
    CHECK_FALSE(overlap("10.0.0.0/8", "fd00::/8"));
    CHECK(overlap("fd00::/16", "fd00:1::/64"));
    CHECK_FALSE(overlap("fd00:1::/64", "fd00:2::/64"));
}

TEST_CASE("prefix arithmetic, including the widest and narrowest prefixes") {
    auto p = *Prefix::parse("10.0.0.0/24");
    CHECK(p.at(1)->to_string() == "10.0.0.1");
    CHECK(p.at(255)->to_string() == "10.0.0.255");
    CHECK_FALSE(p.at(256).has_value());
    CHECK(p.offset_of(*Address::parse("10.0.0.200")) == 200);
    auto v4all = *Prefix::parse("0.0.0.0/0");
    CHECK(v4all.at(0xffffffffu)->to_string() == "255.255.255.255");
    CHECK_FALSE(v4all.at(0x100000000u).has_value());
    auto v6all = *Prefix::parse("::/0");
    const unsigned __int128 max = ~static_cast<unsigned __int128>(0);
    CHECK(v6all.at(max)->to_string() == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    auto one = *Prefix::parse("fd00::1/128");
    CHECK(one.at(0)->to_string() == "fd00::1");
    CHECK_FALSE(one.at(1).has_value());
    auto two = *Prefix::parse("fd00::/127");
    CHECK(two.at(1)->to_string() == "fd00::1");
    CHECK_FALSE(two.at(2).has_value());
    auto half = *Prefix::parse("128.0.0.0/1");
    CHECK(half.contains(*Address::parse("255.0.0.1")));
    CHECK_FALSE(half.contains(*Address::parse("127.0.0.1")));
    auto v6 = *Prefix::parse("fd00:1::/64");
    CHECK(v6.at(0x10000)->to_string() == "fd00:1::1:0");
    CHECK(v6.offset_of(*Address::parse("fd00:1::1:0")) == 0x10000);
}

TEST_CASE("endpoints") {
    CHECK(Endpoint::parse("192.0.2.1:51820")->to_string() == "192.0.2.1:51820");
    CHECK(Endpoint::parse("[fd00::1]:443")->to_string() == "[fd00::1]:443");
    for (const char* bad : {"192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536", "fd00::1:443",
                            "[192.0.2.1]:1", "[fd00::1]443", "host:80", "192.0.2.1:080", ":80"})
        CHECK_FALSE(Endpoint::parse(bad).ok());
}

TEST_CASE("IPv4-mapped forms and socket addresses round-trip") {
    const auto v4 = *net::Endpoint::parse("192.0.2.7:51820");
    const auto v6 = *net::Endpoint::parse("[fd00::7]:4000");
    const auto sixteen = v4.address.to_v6_bytes();
    CHECK(net::Address::from_v6_bytes(sixteen) == v4.address);
    CHECK(net::Address::from_v6_bytes(v6.address.to_v6_bytes()) == v6.address);
    CHECK(*net::Address::from_bytes(sixteen) == *net::Address::parse("::ffff:192.0.2.7"));
    for (const auto& e : {v4, v6})
        for (bool mapped : {false, true}) {
            sockaddr_storage ss{};
            const unsigned len = net::to_sockaddr(e, &ss, mapped);
            CHECK(len ==
                  (e.address.is_v4() && !mapped ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)));
            CHECK(net::endpoint_from_sockaddr(&ss) == e);  // mapped comes back as IPv4
        }
}
