#include "store/records.hpp"

#include <doctest/doctest.h>

using namespace cug;
using namespace cug::store;

namespace {

User sample_user() {
    User u;
    u.name = "USER-A";
    u.enabled = false;
    u.created = 1700000000;
    u.password_hash = "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    u.password_changed = 1700000001;
    u.failed_logins = 3;
    u.last_failure = 1700000002;
    return u;
}

Group sample_group() {
    Group g;
    g.name = "VPN1";
    g.prefix = *net::Prefix::parse("10.0.0.0/24");
    g.created = 1700000000;
    g.member_count = 2;
    g.next_offset = 3;
    g.current.key_id = 7;
    g.current.secret = crypto::SecretBuffer(32);
    g.current.secret.data()[0] = 0xaa;
    g.current.created = 1700000005;
    return g;
}

}  // namespace

TEST_CASE("user records round-trip, with and without a card") {
    User u = sample_user();
    auto back = decode_user("USER-A", encode_user(u));
    REQUIRE(back.ok());
    CHECK(back->name == "USER-A");
    CHECK(back->enabled == false);
    CHECK(back->created == 1700000000);
    CHECK(back->password_hash == u.password_hash);
    CHECK(back->failed_logins == 3);
    CHECK(back->last_failure == 1700000002);
    CHECK_FALSE(back->card.has_value());

    u.card.emplace();
    u.card->key_agreement = Bytes(65, 4);
    u.card->authentication = Bytes(65, 5);
    u.card->certificate_serial = Bytes{1, 2, 3};
    u.card->enrolled = 1800000000;
    u.card->management_key_sealed = Bytes(113, 9);
    u.card->device = "virtual PIV";
    back = decode_user("USER-A", encode_user(u));
    REQUIRE(back.ok());
    REQUIRE(back->card.has_value());
    CHECK(back->card->key_agreement == Bytes(65, 4));
    CHECK(back->card->authentication == Bytes(65, 5));
    CHECK(back->card->certificate_serial == Bytes{1, 2, 3});
    CHECK(back->card->enrolled == 1800000000);
    CHECK(back->card->management_key_sealed == Bytes(113, 9));
    CHECK(back->card->device == "virtual PIV");
}

TEST_CASE("group records keep both epochs") {
    Group g = sample_group();
    auto back = decode_group("VPN1", encode_group(g));
    REQUIRE(back.ok());
    CHECK(back->prefix.to_string() == "10.0.0.0/24");
    CHECK(back->member_count == 2);
    CHECK(back->next_offset == 3);
    CHECK(back->current.key_id == 7);
    CHECK(back->current.secret.size() == 32);
    CHECK(back->current.secret.data()[0] == 0xaa);
    CHECK_FALSE(back->previous.has_value());

    g.previous.emplace();
    g.previous->key_id = 6;
    g.previous->secret = crypto::SecretBuffer(32);
    g.previous->created = 1600000000;
    back = decode_group("VPN1", encode_group(g));
    REQUIRE(back.ok());
    REQUIRE(back->previous.has_value());
    CHECK(back->previous->key_id == 6);
    CHECK(back->previous->created == 1600000000);

    g.prefix = *net::Prefix::parse("fd00:1::/64");
    back = decode_group("VPN1", encode_group(g));
    REQUIRE(back.ok());
    CHECK(back->prefix.to_string() == "fd00:1::/64");
}

TEST_CASE("memberships and audit entries round-trip") {
    Membership m{"USER-A", "VPN1", *net::Address::parse("10.0.0.1"), 1700000000};
    auto mb = decode_membership("USER-A", "VPN1", encode_membership(m));
    REQUIRE(mb.ok());
    CHECK(mb->address.to_string() == "10.0.0.1");
    CHECK(mb->added == 1700000000);

    AuditEntry a{42, 1700000000123456, 0, "root", "cug-admin", "user.add", "USER-A", "detail"};
    auto ab = decode_audit(42, encode_audit(a));
    REQUIRE(ab.ok());
    CHECK(ab->seq == 42);
    CHECK(ab->time_us == 1700000000123456);
    CHECK(ab->actor == "root");
    CHECK(ab->action == "user.add");
    CHECK(ab->detail == "detail");
}

TEST_CASE("damaged records are refused, never half-read") {
    const Bytes good = encode_user(sample_user());
    // Every truncation fails.
    for (std::size_t n = 0; n < good.size(); ++n) {
        auto r = decode_user("U", ByteView(good.data(), n));
        CHECK_FALSE(r.ok());
        if (!r.ok()) CHECK(r.error().code == Errc::config);
    }
    // A wrong version byte, a trailing byte, an unknown tag.
    Bytes bad = good;
    bad[0] = 2;
    CHECK_FALSE(decode_user("U", bad).ok());
    bad = good;
    bad.push_back(0);
    CHECK_FALSE(decode_user("U", bad).ok());
    bad = good;
    bad.insert(bad.end(), {99, 0, 0});
    CHECK_FALSE(decode_user("U", bad).ok());
    // Tags out of order: swap in a repeated first field at the end.
    bad = good;
    bad.insert(bad.end(), {1, 0, 1, 1});
    CHECK_FALSE(decode_user("U", bad).ok());
    // A flag that is neither 0 nor 1.
    bad = good;
    REQUIRE(bad[1] == 1);  // tag 1
    bad[4] = 7;
    CHECK_FALSE(decode_user("U", bad).ok());
    // A group whose secret is short.
    Group g = sample_group();
    g.current.secret = crypto::SecretBuffer(16);
    CHECK_FALSE(decode_group("VPN1", encode_group(g)).ok());
}

TEST_CASE("keys order the way lookups need") {
    // Group prefix scans must not run into a group whose name extends another's.
    CHECK(membership_key("VPN1", "") < membership_key("VPN10", ""));
    CHECK(address_key("VPN1", *net::Address::parse("10.0.0.255")) <
          address_key("VPN10", *net::Address::parse("10.0.0.1")));
    const Bytes key = membership_key("USER-A", "VPN1");
    auto parts = split_key(key);
    REQUIRE(parts.has_value());
    CHECK(parts->first == "USER-A");
    CHECK(parts->second == "VPN1");
    CHECK(parse_seq_key(seq_key(0x0102030405060708)) == 0x0102030405060708u);
    CHECK(seq_key(255) < seq_key(256));
    CHECK_FALSE(parse_seq_key(Bytes{1, 2, 3}).has_value());
}

TEST_CASE("session records round-trip and refuse damage") {
    Session s;
    s.id = Bytes(16, 7);
    s.indices = {{"VPN1", 42}, {"VPN2", 43}};
    s.login_time = 1;
    s.last_seen = 2;
    s.expires = 3;
    s.acknowledged = true;
    s.card_serial = Bytes{9};
    s.resume_key = crypto::SecretBuffer(32);
    s.push_key = crypto::SecretBuffer(32);
    s.udp_key = crypto::SecretBuffer(32);
    s.endpoint = *net::Endpoint::parse("[fd00::2]:51820");
    auto back = decode_session("USER-A", encode_session(s));
    REQUIRE(back.ok());
    CHECK(back->index_in("VPN2") == 43u);
    CHECK_FALSE(back->index_in("VPN3").has_value());
    CHECK(back->acknowledged);
    CHECK(back->endpoint->to_string() == "[fd00::2]:51820");
    CHECK_FALSE(back->control.has_value());
    s.indices = {{"VPN1", 0}};
    CHECK_FALSE(decode_session("USER-A", encode_session(s)).ok());
    s.indices.clear();
    s.id = Bytes(15, 7);
    CHECK_FALSE(decode_session("USER-A", encode_session(s)).ok());
}
