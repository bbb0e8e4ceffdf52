// The control plane's shared computations. The fixed vectors below were
// computed from docs/CONTROL-PLANE.md's text with Python's hmac and hashlib,
// independently of this code.
#include "protocol/login.hpp"

#include "crypto/hkdf.hpp"
#include "crypto/random.hpp"

#include <doctest/doctest.h>

using namespace cug;
using namespace cug::protocol;

namespace {

std::string hex_of(ByteView b) {
    return to_hex(b);
}

template <typename T>
T must(Result<T> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(*r);
}

Bytes fixed_info() {
    Bytes point(65, 0x55);
    point[0] = 0x04;
    return crypto::length_prefixed(
        {as_bytes("cug v1"), as_bytes("USER-A"), Bytes(32, 0x33), point, Bytes(32, 0x44)});
}

Bundle sample_bundle() {
    Bundle b;
    b.session = Bytes(16, 0xab);
    b.expires = 1900000000;
    b.groups.push_back(
        {"VPN1", *net::Prefix::parse("10.0.0.0/24"), *net::Address::parse("10.0.0.1"), 3});
    BundlePeer p;
    p.user = "USER-B";
    p.group = "VPN1";
    p.address = *net::Address::parse("10.0.0.2");
    p.endpoint = *net::Endpoint::parse("192.0.2.2:51820");
    p.send_index = 17;
    p.recv_index = 18;
    p.key_id = 5;
    p.send_key = crypto::random_secret(32);
    p.recv_key = crypto::random_secret(32);
    p.not_after = 1900000000;
    b.peers.push_back(std::move(p));
    b.zone = "corp.example.";
    b.names.push_back({"USER-B", "VPN1", *net::Address::parse("10.0.0.2")});
    b.names.push_back({"USER-Z", "VPN1", *net::Address::parse("10.0.0.9")});  // offline
    return b;
}

}  // namespace

TEST_CASE("key schedule, proofs and pair keys match the specification's vectors") {
    auto k = derive_login_keys(Bytes(32, 0x11), Bytes(32, 0x22), fixed_info());
    CHECK(hex_of(k.confirm.view()) ==
          "9d74dda601849f3b2e8edf59f4dbdaa26ef0668e753bd5bd8d988dfbb969e839");
    CHECK(hex_of(k.seal.view()) ==
          "e325772e5d739a620b96165ee459388a25e3f643f7019355d119238b3ca13cd0");
    CHECK(hex_of(k.resume.view()) ==
          "2860c52575223c43b86cec865a96051605656b1039f7c0ebc84ed809dcda27d5");
    CHECK(hex_of(k.push.view()) ==
          "8c7d0d0b469936ec743549388489a50c8573a0ef7bc5581c744e986885c7271e");
    CHECK(hex_of(k.udp.view()) ==
          "e94e645ec61f4beaecc99104053aff9cfd7fef528457935facf2ad5d596477e8");
    const auto transcript = transcript_hash("type=hello\nversion=1\nuser=USER-A\n\n",
                                            "type=challenge\nephemeral=AA\n\n");
    CHECK(hex_of(transcript) == "50bf6fce86e1469cae99e569c6d286a1dc7149d130ec6ab70d8656e325365e66");
    CHECK(hex_of(login_proof(k, transcript)) ==
          "23636cd6c38b15f2c710dab1f452729f1ff099d8b2f8880e80cb806680c59150");
    CHECK(check_login_proof(k, transcript, login_proof(k, transcript)));
    CHECK(hex_of(resume_proof(k.resume.view(), Bytes(32, 0x66))) ==
          "c9364404aa236c94d648714d8ddde814467278f454dc0cb0ac586c1e323de6bc");
    CHECK(hex_of(presence_digest(Bytes(32, 0x77), Bytes(32, 0x66))) ==
          "adeb3c1e08dbaf0388153ada552e88c4774632aa61fe0679b2a751c63fcdd046");
    const Bytes a(16, 0xaa), b(16, 0xbb);
    CHECK(hex_of(pair_key(Bytes(32, 0x99), 7, {a, 3}, {b, 4}).view()) ==
          "910c5e452791a5b97ac9c9af40f180a09e73af5bc185181803131fc4f109443b");
    // Directions differ.
    CHECK_FALSE(crypto::equal_ct(pair_key(Bytes(32, 0x99), 7, {a, 3}, {b, 4}).view(),
                                 pair_key(Bytes(32, 0x99), 7, {b, 4}, {a, 3}).view()));
    // A new instance of the pair (either end with a new receiver index, as
    // after a membership removed and added again) has new keys.
    CHECK_FALSE(crypto::equal_ct(pair_key(Bytes(32, 0x99), 7, {a, 3}, {b, 4}).view(),
                                 pair_key(Bytes(32, 0x99), 7, {a, 3}, {b, 5}).view()));
    CHECK_FALSE(crypto::equal_ct(pair_key(Bytes(32, 0x99), 7, {a, 3}, {b, 4}).view(),
                                 pair_key(Bytes(32, 0x99), 7, {a, 6}, {b, 4}).view()));
    CHECK_FALSE(crypto::equal_ct(pair_key(Bytes(32, 0x99), 7, {a, 3}, {b, 4}).view(),
                                 pair_key(Bytes(32, 0x99), 8, {a, 3}, {b, 4}).view()));
}

TEST_CASE("terminal and server derive the same keys; another connection or user does not") {
    auto card = must(crypto::PrivateKey::generate());  // stands in for the card's 9D key
    auto server = must(crypto::PrivateKey::generate());
    auto ephemeral = must(crypto::PrivateKey::generate());  // cugd's challenge key
    Bytes exporter(32);
    crypto::random_bytes(exporter);
    const Bytes info =
        login_info("USER-A", card.public_key(), ephemeral.public_key(), server.public_key());
    auto terminal_side =
        derive_login_keys(exporter, must(crypto::ecdh(card, ephemeral.public_key())).view(), info);
    auto server_side =
        derive_login_keys(exporter, must(crypto::ecdh(ephemeral, card.public_key())).view(), info);
    const auto transcript = transcript_hash("hello", "challenge");
    const auto proof = login_proof(terminal_side, transcript);
    CHECK(check_login_proof(server_side, transcript, proof));

    // A recorded login replayed on another TLS connection: another exporter.
    Bytes other_exporter = exporter;
    other_exporter[0] ^= 1;
    auto replayed = derive_login_keys(
        other_exporter, must(crypto::ecdh(ephemeral, card.public_key())).view(), info);
    CHECK_FALSE(check_login_proof(replayed, transcript, proof));
    // The proof binds the user and the server key.
    auto other_user = derive_login_keys(
        exporter, must(crypto::ecdh(ephemeral, card.public_key())).view(),
        login_info("USER-B", card.public_key(), ephemeral.public_key(), server.public_key()));
    CHECK_FALSE(check_login_proof(other_user, transcript, proof));
    CHECK_FALSE(check_login_proof(server_side, transcript_hash("hello", "other"), proof));

    // The bundle sealed by one side opens on the other only.
    const Bytes sealed = seal_bundle(server_side, sample_bundle());
    auto opened = must(open_bundle(terminal_side, sealed));
    CHECK(opened.session == Bytes(16, 0xab));
    REQUIRE(opened.peers.size() == 1);
    CHECK(opened.peers[0].endpoint->to_string() == "192.0.2.2:51820");
    CHECK_FALSE(open_bundle(other_user, sealed).ok());
    Bytes tampered = sealed;
    tampered[5] ^= 1;
    CHECK_FALSE(open_bundle(terminal_side, tampered).ok());
}

TEST_CASE("bundles decode strictly") {
    const Bundle b = sample_bundle();
    wire::Message m = encode_bundle(b);
    auto back = must(decode_bundle(m));
    CHECK(back.expires == 1900000000);
    REQUIRE(back.groups.size() == 1);
    CHECK(back.groups[0].prefix.to_string() == "10.0.0.0/24");
    CHECK(back.peers[0].send_index == 17);
    CHECK(back.peers[0].key_id == 5);
    CHECK(crypto::equal_ct(back.peers[0].send_key.view(), b.peers[0].send_key.view()));

    auto altered = [&](std::string_view key, std::string_view value) {
        wire::Message out;
        bool replaced = false;
        for (const auto& [k, v] : m) {
            if (k == key) {
                replaced = true;
                if (!value.empty()) (void)out.add(k, value);
            } else {
                (void)out.add(k, v);
            }
        }
        if (!replaced) (void)out.add(key, value);
        return decode_bundle(out);
    };
    CHECK_FALSE(altered("peer.0.address", "10.0.1.2").ok());  // outside its group
    CHECK_FALSE(altered("peer.0.group", "VPN9").ok());        // a group not in the bundle
    CHECK_FALSE(altered("group.0.address", "10.9.0.1").ok());
    CHECK_FALSE(altered("peer.0.send_key", "AAAA").ok());  // not 32 bytes
    CHECK_FALSE(altered("peer.0.recv_index", "0").ok());
    CHECK_FALSE(altered("peer.0.key_id", "0").ok());
    CHECK_FALSE(altered("peer.0.key_id", "").ok());  // every entry names its epoch
    CHECK_FALSE(altered("extra", "1").ok());         // unknown key
    CHECK_FALSE(altered("peers", "2").ok());         // count without the peer
    CHECK_FALSE(altered("session", "AAAA").ok());
    CHECK_FALSE(altered("peer.0.user", "bad user").ok());
    CHECK(altered("peer.0.endpoint", "").ok());  // endpoints are optional
    // The zone and the names directory: every member, online or not.
    CHECK(back.zone == "corp.example.");
    REQUIRE(back.names.size() == 2);
    CHECK(back.names[1] == BundleName{"USER-Z", "VPN1", *net::Address::parse("10.0.0.9")});
    CHECK_FALSE(altered("zone", "").ok());
    CHECK_FALSE(altered("zone", "Corp.Example.").ok());  // not canonical
    CHECK_FALSE(altered("zone", "a..b.").ok());
    CHECK_FALSE(altered("name.1.address", "10.0.1.9").ok());  // outside its group
    CHECK_FALSE(altered("name.1.group", "VPN2").ok());
    CHECK_FALSE(altered("name.1.user", "bad user").ok());
    CHECK_FALSE(altered("names", "3").ok());
    CHECK_FALSE(altered("names", "1").ok());  // an entry beyond the count
}
