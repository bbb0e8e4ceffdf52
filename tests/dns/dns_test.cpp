#include "dns/answer.hpp"
#include "dns/zone.hpp"

#include <doctest/doctest.h>
#include <ldns/ldns.h>

#include <cstdlib>
#include <memory>

using namespace cug;
using namespace cug::dns;

namespace {

net::Address addr(const char* text) {
    return *net::Address::parse(text);
}

// Terminal 2 of the patent: USER-B in VPN1 (IPv4) and VPN3 (IPv6), A and C
// online; USER-C shares VPN3 only.
Zone patent_zone() {
    ZoneData d;
    d.zone = "cug.";
    d.self = "USER-B";
    d.groups = {{"VPN1", *net::Prefix::parse("198.51.100.0/24"), addr("198.51.100.2")},
                {"VPN3", *net::Prefix::parse("fd00:3::/64"), addr("fd00:3::2")}};
    d.members = {{"USER-A", "VPN1", addr("198.51.100.1")},
                 {"USER-A", "VPN3", addr("fd00:3::1")},
                 {"USER-C", "VPN3", addr("fd00:3::3")},
                 {"John.Doe", "VPN1", addr("198.51.100.9")}};
    return Zone(d, 7);
}

std::vector<std::string> labels(std::string_view name) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : name) {
        if (c == '.') {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

struct PacketFree {
    void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Packet = std::unique_ptr<ldns_pkt, PacketFree>;

Bytes query(const char* name, ldns_rr_type type, std::uint16_t edns = 0,
            ldns_rr_class cls = LDNS_RR_CLASS_IN) {
    ldns_rdf* owner = ldns_dname_new_frm_str(name);
    ldns_pkt* q = ldns_pkt_query_new(owner, type, cls, LDNS_RD);
    ldns_pkt_set_id(q, 0x1234);
    if (edns) ldns_pkt_set_edns_udp_size(q, edns);
    std::uint8_t* wire = nullptr;
    std::size_t size = 0;
    REQUIRE(ldns_pkt2wire(&wire, q, &size) == LDNS_STATUS_OK);
    Bytes out(wire, wire + size);
    std::free(wire);
    ldns_pkt_free(q);
    return out;
}

Packet parse(const Response& r) {
    REQUIRE(r.message);
    ldns_pkt* p = nullptr;
    REQUIRE(ldns_wire2pkt(&p, r.message->data(), r.message->size()) == LDNS_STATUS_OK);
    return Packet(p);
}

std::string answer_text(const ldns_pkt* p) {
    std::string out;
    const ldns_rr_list* answers = ldns_pkt_answer(p);
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(answers); ++i) {
        char* s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(answers, i), 0));
        out += (out.empty() ? "" : " ") + std::string(s);
        std::free(s);
    }
    return out;
}

}  // namespace

TEST_CASE("zones: what the administrator may give") {
    CHECK(*check_zone("cug") == "cug.");
    CHECK(*check_zone("Corp.Example.") == "corp.example.");
    CHECK(*check_zone("a-b.c1.d.e") == "a-b.c1.d.e.");
    for (const char* bad :
         {"", ".", "a..b", "-a", "a-", "a_b", "a b", "a.b.c.d.e", "2.0.192.in-addr.arpa", "arpa"})
        CHECK_MESSAGE(!check_zone(bad), bad);
    CHECK(!check_zone(std::string(64, 'a')));
    CHECK(*check_zone(std::string(63, 'a') + "." + std::string(63, 'b')) ==
          std::string(63, 'a') + "." + std::string(63, 'b') + ".");  // 128 with its dot
    CHECK(!check_zone(std::string(63, 'a') + "." + std::string(63, 'b') + ".c"));
}

TEST_CASE("labels: names map by the documented rule") {
    CHECK(*label_of("USER-A") == "user-a");
    CHECK(*label_of("John.Doe") == "john-doe");
    CHECK(*label_of("a_b") == "a-b");
    CHECK(*label_of(std::string(63, 'X')) == std::string(63, 'x'));
    CHECK(!label_of(std::string(64, 'x')));
}

TEST_CASE("the zone: full names, short forms, groups, other groups") {
    const Zone z = patent_zone();
    using K = Node::Kind;
    auto find = [&](std::string_view name) { return z.find(labels(name)); };
    CHECK(find("user-a.vpn1.cug").kind == K::host);
    CHECK(find("user-a.vpn1.cug").address == addr("198.51.100.1"));
    CHECK(find("user-a.vpn3.cug").address == addr("fd00:3::1"));
    CHECK(find("user-b.vpn1.cug").address == addr("198.51.100.2"));  // ourselves
    CHECK(find("john-doe.vpn1.cug").address == addr("198.51.100.9"));
    // USER-C shares only VPN3 with us: the short form works; USER-A shares two.
    CHECK(find("user-c.cug").kind == K::host);
    CHECK(find("user-c.cug").address == addr("fd00:3::3"));
    CHECK(find("user-a.cug").kind == K::absent);
    CHECK(find("user-b.cug").kind == K::absent);
    // A group is a name with names below it; another group is not there.
    CHECK(find("vpn1.cug").kind == K::empty);
    CHECK(find("vpn2.cug").kind == K::absent);
    CHECK(find("user-c.vpn2.cug").kind == K::absent);
    CHECK(find("user-c.vpn1.cug").kind == K::absent);
    CHECK(find("x.user-a.vpn1.cug").kind == K::absent);
    CHECK(find("cug").apex);
    CHECK(find("example.com").kind == K::not_ours);
    CHECK(find("cug.example").kind == K::not_ours);
    CHECK(find("").kind == K::not_ours);
    CHECK(Zone().find(labels("user-a.vpn1.cug")).kind == K::not_ours);
    CHECK(z.names().size() == 8);  // 3 + 3 full names, john-doe and user-c short
}

TEST_CASE("the zone: names that clash are nobody's") {
    ZoneData d;
    d.self = "ME";
    d.groups = {{"VPN1", *net::Prefix::parse("10.1.0.0/16"), addr("10.1.0.1")}};
    d.members = {{"user_x", "VPN1", addr("10.1.0.2")},
                 {"USER-X", "VPN1", addr("10.1.0.3")},
                 {"vpn1", "VPN1", addr("10.1.0.4")}};
    const Zone z(d, 1);
    CHECK(z.find(labels("user-x.vpn1.cug")).kind == Node::Kind::absent);
    CHECK(z.find(labels("me.vpn1.cug")).kind == Node::Kind::host);
    CHECK(z.find(labels("vpn1.vpn1.cug")).kind == Node::Kind::host);
    CHECK(z.find(labels("vpn1.cug")).kind == Node::Kind::empty);  // the group wins
    CHECK(z.find(labels("me.cug")).kind == Node::Kind::host);
}

TEST_CASE("the zone: reverse names of the groups' prefixes") {
    const Zone z = patent_zone();
    using K = Node::Kind;
    auto find = [&](std::string_view name) { return z.find(labels(name)); };
    auto n = find("1.100.51.198.in-addr.arpa");
    CHECK(n.kind == K::reverse);
    CHECK(n.target == "user-a.vpn1.cug.");
    CHECK(find("9.100.51.198.in-addr.arpa").target == "john-doe.vpn1.cug.");
    CHECK(find("77.100.51.198.in-addr.arpa").kind == K::absent);
    CHECK(find("100.51.198.in-addr.arpa").apex);
    CHECK(find("x.100.51.198.in-addr.arpa").kind == K::absent);
    CHECK(find("1.101.51.198.in-addr.arpa").kind == K::not_ours);
    CHECK(find("51.198.in-addr.arpa").kind == K::not_ours);
    CHECK(find("01.100.51.198.in-addr.arpa").kind == K::absent);
    CHECK(find("in-addr.arpa").kind == K::not_ours);
    // fd00:3::3 in nibbles.
    std::string v6 = "3.";
    for (int i = 0; i < 23; ++i)
        v6 += "0.";
    v6 += "3.0.0.0.0.0.d.f.ip6.arpa";
    CHECK(find(v6).kind == K::reverse);
    CHECK(find(v6).target == "user-c.vpn3.cug.");
    CHECK(z.reverse_zones() == std::vector<std::string>{"0.0.0.0.0.0.0.0.3.0.0.0.0.0.d.f.ip6.arpa.",
                                                        "100.51.198.in-addr.arpa."});
}

TEST_CASE("answers: A and AAAA by the group's family, case kept, authoritative, TTL 1") {
    const Zone z = patent_zone();
    auto r = respond(z, query("USER-A.VPN1.cug.", LDNS_RR_TYPE_A), Transport::udp);
    CHECK(r.outcome == Outcome::answered);
    auto p = parse(r);
    CHECK(ldns_pkt_id(p.get()) == 0x1234);
    CHECK(ldns_pkt_qr(p.get()));
    CHECK(ldns_pkt_aa(p.get()));
    CHECK(ldns_pkt_rd(p.get()));
    CHECK(!ldns_pkt_ra(p.get()));
    CHECK(answer_text(p.get()) == "198.51.100.1");
    const ldns_rr* rr = ldns_rr_list_rr(ldns_pkt_answer(p.get()), 0);
    CHECK(ldns_rr_ttl(rr) == 1);
    char* owner = ldns_rdf2str(ldns_rr_owner(rr));
    CHECK(std::string(owner) == "USER-A.VPN1.cug.");
    std::free(owner);

    p = parse(respond(z, query("user-c.vpn3.cug.", LDNS_RR_TYPE_AAAA), Transport::udp));
    CHECK(answer_text(p.get()) == "fd00:3::3");
    // The other family: NODATA, with the SOA for negative caching.
    r = respond(z, query("user-c.vpn3.cug.", LDNS_RR_TYPE_A), Transport::udp);
    CHECK(r.outcome == Outcome::nodata);
    p = parse(r);
    CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(p.get()) == 0);
    CHECK(ldns_pkt_nscount(p.get()) == 1);
    CHECK(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_authority(p.get()), 0)) == LDNS_RR_TYPE_SOA);
}

TEST_CASE("answers: NXDOMAIN, REFUSED, NOTIMP, PTR, SOA") {
    const Zone z = patent_zone();
    auto rcode = [&](const Bytes& q) {
        auto r = respond(z, q, Transport::udp);
        return ldns_pkt_get_rcode(parse(r).get());
    };
    CHECK(rcode(query("user-c.vpn2.cug.", LDNS_RR_TYPE_A)) == LDNS_RCODE_NXDOMAIN);
    CHECK(rcode(query("www.example.com.", LDNS_RR_TYPE_A)) == LDNS_RCODE_REFUSED);
    CHECK(rcode(query("user-a.vpn1.cug.", LDNS_RR_TYPE_A, 0, LDNS_RR_CLASS_CH)) ==
          LDNS_RCODE_REFUSED);
    CHECK(rcode(query("user-a.vpn1.cug.", LDNS_RR_TYPE_ANY)) == LDNS_RCODE_NOTIMPL);
    CHECK(rcode(query("cug.", LDNS_RR_TYPE_AXFR)) == LDNS_RCODE_REFUSED);
    auto refused = parse(respond(z, query("example.", LDNS_RR_TYPE_A), Transport::udp));
    CHECK(!ldns_pkt_aa(refused.get()));
    CHECK(ldns_pkt_ancount(refused.get()) + ldns_pkt_nscount(refused.get()) == 0);

    auto p =
        parse(respond(z, query("2.100.51.198.in-addr.arpa.", LDNS_RR_TYPE_PTR), Transport::udp));
    CHECK(answer_text(p.get()) == "user-b.vpn1.cug.");
    p = parse(respond(z, query("cug.", LDNS_RR_TYPE_SOA), Transport::udp));
    CHECK(ldns_pkt_ancount(p.get()) == 1);
}

TEST_CASE("answers: EDNS echoed, BADVERS, and never more than the transport allows") {
    const Zone z = patent_zone();
    auto p = parse(respond(z, query("user-a.vpn1.cug.", LDNS_RR_TYPE_A, 4096), Transport::udp));
    CHECK(ldns_pkt_edns(p.get()));
    CHECK(ldns_pkt_edns_udp_size(p.get()) == max_udp_answer);
    Bytes q = query("user-a.vpn1.cug.", LDNS_RR_TYPE_A, 1232);
    // The OPT record's TTL field holds the version: the byte after the extended rcode.
    q[q.size() - 5] = 1;
    auto r = respond(z, q, Transport::udp);
    p = parse(r);
    CHECK(ldns_pkt_ancount(p.get()) == 0);
    CHECK(ldns_pkt_edns_extended_rcode(p.get()) == 1);
}

TEST_CASE("answers: what is not a question gets nothing or FORMERR") {
    const Zone z = patent_zone();
    CHECK(respond(z, Bytes{}, Transport::udp).outcome == Outcome::dropped);
    CHECK(!respond(z, Bytes(11, 0), Transport::udp).message);
    Bytes q = query("user-a.vpn1.cug.", LDNS_RR_TYPE_A);
    Bytes response = q;
    response[2] |= 0x80;  // QR: a response is never answered
    CHECK(respond(z, response, Transport::udp).outcome == Outcome::dropped);
    Bytes cut(q.begin(), q.end() - 3);
    auto r = respond(z, cut, Transport::udp);
    CHECK(r.outcome == Outcome::formerr);
    CHECK(ldns_pkt_get_rcode(parse(r).get()) == LDNS_RCODE_FORMERR);
    Bytes two = q;
    two[5] = 2;  // two questions announced
    CHECK(respond(z, two, Transport::udp).outcome == Outcome::formerr);
    Bytes update = q;
    update[2] = static_cast<std::uint8_t>((update[2] & 0x87) | (5 << 3));  // UPDATE
    CHECK(respond(z, update, Transport::tcp).outcome == Outcome::notimp);
}
