// Pushes and the UDP hello (docs/CONTROL-PLANE.md, "Session life", "Endpoint").
#include "protocol/session.hpp"

#include "crypto/random.hpp"

#include <doctest/doctest.h>

using namespace cug;
using namespace cug::protocol;

namespace {

std::vector<BundleGroup> groups() {
    return {{"VPN1", *net::Prefix::parse("10.0.0.0/24"), *net::Address::parse("10.0.0.1"), 3}};
}

BundlePeer peer(std::string user, std::string address) {
    BundlePeer p;
    p.user = std::move(user);
    p.group = "VPN1";
    p.address = *net::Address::parse(address);
    p.send_index = 7;
    p.recv_index = 8;
    p.key_id = 5;
    p.send_key = crypto::random_secret(32);
    p.recv_key = crypto::random_secret(32);
    p.not_after = 1900000000;
    return p;
}

wire::Message reparse(const std::string& text) {
    auto m = wire::parse_message(text, channel_limits());
    REQUIRE(m.ok());
    return std::move(*m);
}

}  // namespace

TEST_CASE("a push opens only with its channel's key and its sequence number") {
    const auto k_push = crypto::random_secret(32);
    const Bytes exporter(32, 0x11), other_exporter(32, 0x12);
    const auto key = channel_push_key(k_push.view(), exporter);
    CHECK(!crypto::equal_ct(key.view(), channel_push_key(k_push.view(), other_exporter).view()));

    const wire::Message outer = reparse(seal_push(key.view(), 1, encode_peer_down("USER-B", "")));
    CHECK(outer.get("type").value_or("") == "push");
    auto inner = open_push(key.view(), 1, outer);
    REQUIRE(inner.ok());
    CHECK(inner->get("user").value_or("") == "USER-B");
    // Replayed (the terminal expects 2 now), reordered, or from another channel.
    CHECK(!open_push(key.view(), 2, outer).ok());
    const auto other = channel_push_key(k_push.view(), other_exporter);
    CHECK(!open_push(other.view(), 1, outer).ok());
    // A sequence number changed in transit does not open under the nonce it names.
    std::string text = outer.encode();
    text.replace(text.find("seq=1"), 5, "seq=2");
    CHECK(!open_push(key.view(), 2, reparse(text)).ok());
}

TEST_CASE("pushes decode strictly against the session's groups") {
    std::vector<BundlePeer> up;
    up.push_back(peer("USER-B", "10.0.0.2"));
    auto decoded = decode_push(encode_peer_up(up), groups());
    REQUIRE(decoded.ok());
    CHECK(decoded->kind == Push::Kind::peer_up);
    REQUIRE(decoded->peers.size() == 1);
    CHECK(decoded->peers[0].address.to_string() == "10.0.0.2");
    CHECK(crypto::equal_ct(decoded->peers[0].send_key.view(), up[0].send_key.view()));

    // A peer outside the group's prefix, or in a group the session lacks.
    std::vector<BundlePeer> outside;
    outside.push_back(peer("USER-B", "10.0.1.2"));
    CHECK(!decode_push(encode_peer_up(outside), groups()).ok());
    std::vector<BundlePeer> elsewhere;
    elsewhere.push_back(peer("USER-B", "10.0.0.2"));
    elsewhere[0].group = "VPN2";
    CHECK(!decode_push(encode_peer_up(elsewhere), groups()).ok());
    // An extra key, a bad name, an unknown kind.
    wire::Message extra = encode_peer_up(up);
    (void)extra.add("surprise", "1");
    CHECK(!decode_push(extra, groups()).ok());
    CHECK(!decode_push(encode_peer_down("no spaces allowed", ""), groups()).ok());
    wire::Message unknown;
    (void)unknown.add("type", "reboot");
    CHECK(!decode_push(unknown, groups()).ok());

    auto down = decode_push(encode_peer_down("USER-B", "VPN1"), groups());
    REQUIRE(down.ok());
    CHECK((down->kind == Push::Kind::peer_down && down->user == "USER-B" && down->group == "VPN1"));
    auto left = decode_push(encode_group_down("VPN1"), groups());
    REQUIRE(left.ok());
    CHECK((left->kind == Push::Kind::group_down && left->group == "VPN1"));
    auto moved =
        decode_push(encode_endpoint("USER-B", *net::Endpoint::parse("[fd00::2]:4000")), groups());
    REQUIRE(moved.ok());
    CHECK(moved->endpoint->to_string() == "[fd00::2]:4000");
    auto away = decode_push(encode_peer_presence("USER-B", true), groups());
    REQUIRE(away.ok());
    CHECK((away->kind == Push::Kind::peer_away && away->user == "USER-B"));
    auto back = decode_push(encode_peer_presence("USER-B", false), groups());
    REQUIRE(back.ok());
    CHECK((back->kind == Push::Kind::peer_back && back->user == "USER-B"));
    wire::Message away_group = encode_peer_presence("USER-B", true);
    (void)away_group.add("group", "VPN1");  // away is of the session, in every group
    CHECK(!decode_push(away_group, groups()).ok());
    CHECK(!decode_push(encode_peer_presence("no spaces allowed", true), groups()).ok());

    std::vector<BundlePeer> rekeyed;
    rekeyed.push_back(peer("USER-B", "10.0.0.2"));
    CHECK(!decode_push(encode_rekey("VPN1", 9, rekeyed), groups()).ok());  // keys of epoch 5
    rekeyed[0].key_id = 9;
    auto rekey = decode_push(encode_rekey("VPN1", 9, rekeyed), groups());
    REQUIRE(rekey.ok());
    CHECK((rekey->kind == Push::Kind::rekey && rekey->key_id == 9 && rekey->peers.size() == 1));
    CHECK(!decode_push(encode_rekey("VPN2", 9, rekeyed), groups()).ok());  // peers of another group
    auto activate = decode_push(encode_activate("VPN1", 9), groups());
    REQUIRE(activate.ok());
    CHECK((activate->kind == Push::Kind::activate && activate->key_id == 9));

    Bundle b;
    b.session = Bytes(16, 1);
    b.expires = 1900000000;
    b.groups = groups();
    b.peers.push_back(peer("USER-B", "10.0.0.2"));
    b.names.push_back({"USER-B", "VPN1", *net::Address::parse("10.0.0.2")});
    auto sync = decode_push(encode_sync(b), {});
    REQUIRE(sync.ok());
    CHECK(sync->kind == Push::Kind::sync);
    CHECK(sync->sync.session == b.session);
    CHECK(sync->sync.peers.size() == 1);
    CHECK(sync->sync.names == b.names);
    CHECK(sync->sync.zone == "cug.");

    // names: members that joined or moved, and those that left.
    const std::vector<BundleName> set{{"USER-C", "VPN1", *net::Address::parse("10.0.0.3")}};
    auto names = decode_push(encode_names("VPN1", set, {"USER-B"}), groups());
    REQUIRE(names.ok());
    CHECK(names->kind == Push::Kind::names);
    CHECK(names->group == "VPN1");
    CHECK(names->names == set);
    CHECK(names->gone == std::vector<std::string>{"USER-B"});
    CHECK(!decode_push(encode_names("VPN2", set, {}), groups()).ok());  // another group's entry
    const std::vector<BundleName> outside_prefix{
        {"USER-C", "VPN1", *net::Address::parse("10.9.0.3")}};
    CHECK(!decode_push(encode_names("VPN1", outside_prefix, {}), groups()).ok());
    CHECK(!decode_push(encode_names("VPN1", {}, {"no spaces allowed"}), groups()).ok());
    wire::Message more = encode_names("VPN1", set, {});
    (void)more.add("gone.0", "USER-B");  // beyond its count
    CHECK(!decode_push(more, groups()).ok());
}

TEST_CASE("the UDP hello authenticates the session; the reply carries the observed endpoint") {
    const auto k_udp = crypto::random_secret(32);
    const Bytes session(16, 0x42);
    const Bytes hello = udp_hello(k_udp.view(), session, 1234567);
    REQUIRE(hello.size() == udp_hello_size);
    auto parsed = parse_udp_hello(hello);
    REQUIRE(parsed.ok());
    CHECK(parsed->session == session);
    CHECK(parsed->counter == 1234567);
    CHECK(check_udp_hello(k_udp.view(), *parsed));
    CHECK(!check_udp_hello(crypto::random_secret(32).view(), *parsed));
    for (std::size_t i = 0; i < hello.size(); ++i) {  // any flipped bit is caught
        Bytes bad = hello;
        bad[i] ^= 0x01;
        auto p = parse_udp_hello(bad);
        CHECK((!p.ok() || !check_udp_hello(k_udp.view(), *p)));
    }
    CHECK(!parse_udp_hello(ByteView(hello).first(59)).ok());

    for (const char* seen : {"192.0.2.7:40000", "[fd00::7]:51820"}) {
        const auto observed = *net::Endpoint::parse(seen);
        const Bytes reply = udp_reply(k_udp.view(), session, 1234567, observed);
        REQUIRE(reply.size() == udp_reply_size);
        auto opened = open_udp_reply(k_udp.view(), session, 1234567, reply);
        REQUIRE(opened.ok());
        CHECK(opened->to_string() == seen);
        CHECK(!open_udp_reply(k_udp.view(), session, 1234568, reply).ok());  // not our hello
        CHECK(!open_udp_reply(k_udp.view(), Bytes(16, 0x43), 1234567, reply).ok());
        Bytes bad = reply;
        bad[40] ^= 1;  // the address
        CHECK(!open_udp_reply(k_udp.view(), session, 1234567, bad).ok());
    }
}
