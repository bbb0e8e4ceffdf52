#include "protocol/session.hpp"

#include "crypto/aead.hpp"
#include "crypto/hkdf.hpp"
#include "store/names.hpp"
#include "wire/binary.hpp"

#include <cstring>

namespace cug::protocol {

namespace {

Error bad_push(std::string_view why) {
    return make_error(Errc::protocol, "malformed push from cugd: {}", why);
}

std::array<std::uint8_t, crypto::aead_nonce_size> push_nonce(std::uint64_t seq) {
    std::array<std::uint8_t, crypto::aead_nonce_size> n{};
    for (int i = 0; i < 8; ++i)
        n[4 + i] = static_cast<std::uint8_t>(seq >> (56 - 8 * i));
    return n;
}

Bytes push_aad(std::uint64_t seq) {
    wire::Writer w;
    w.bytes(std::string_view("cug push v1"));
    w.u64(seq);
    return std::move(w).take();
}

}  // namespace

crypto::SecretBuffer channel_push_key(ByteView k_push, ByteView resume_exporter) {
    return crypto::hkdf(resume_exporter, k_push, as_bytes("cug push v1"), 32);
}

std::string seal_push(ByteView channel_key, std::uint64_t seq, const wire::Message& inner) {
    std::string plain = inner.encode();
    const Bytes sealed =
        crypto::aead_seal(channel_key, push_nonce(seq), push_aad(seq), as_bytes(plain));
    explicit_bzero(plain.data(), plain.size());
    wire::Message outer;
    (void)outer.add("type", "push");
    (void)outer.add_u64("seq", seq);
    (void)outer.add_bytes("sealed", sealed);
    return outer.encode();
}

Result<wire::Message> open_push(ByteView channel_key, std::uint64_t expected_seq,
                                const wire::Message& outer) {
    CUG_CHECK(outer.allow_only({"type", "seq", "sealed"}));
    const std::uint64_t seq = CUG_TRY(outer.get_u64("seq", 1));
    if (seq != expected_seq)
        return bad_push(fmt::format("sequence {} where {} was due", seq, expected_seq));
    const Bytes sealed = CUG_TRY(outer.get_bytes("sealed", max_sealed));
    auto plain = crypto::aead_open(channel_key, push_nonce(seq), push_aad(seq), sealed);
    if (!plain) return bad_push("it does not open");
    auto inner = wire::parse_message(as_chars(plain->view()), channel_limits());
    if (!inner) return bad_push(inner.error().message);
    return inner;
}

wire::Message encode_sync(const Bundle& bundle) {
    wire::Message m = encode_bundle(bundle);
    wire::Message out;
    (void)out.add("type", "sync");
    for (const auto& [k, v] : m)
        if (k != "type") (void)out.add(k, v);
    m.wipe();
    return out;
}

wire::Message encode_peer_up(const std::vector<BundlePeer>& peers) {
    wire::Message m;
    (void)m.add("type", "peer-up");
    (void)m.add_u64("peers", peers.size());
    for (std::size_t i = 0; i < peers.size(); ++i)
        encode_peer(m, fmt::format("peer.{}.", i), peers[i]);
    return m;
}

wire::Message encode_peer_down(std::string_view user, std::string_view group) {
    wire::Message m;
    (void)m.add("type", "peer-down");
    (void)m.add("user", user);
    if (!group.empty()) (void)m.add("group", group);
    return m;
}

wire::Message encode_group_down(std::string_view group) {
    wire::Message m;
    (void)m.add("type", "group-down");
    (void)m.add("group", group);
    return m;
}

wire::Message encode_endpoint(std::string_view user, const net::Endpoint& endpoint) {
    wire::Message m;
    (void)m.add("type", "endpoint");
    (void)m.add("user", user);
    (void)m.add("endpoint", endpoint.to_string());
    return m;
}

wire::Message encode_peer_presence(std::string_view user, bool away) {
    wire::Message m;
    (void)m.add("type", away ? "peer-away" : "peer-back");
    (void)m.add("user", user);
    return m;
}

wire::Message encode_rekey(std::string_view group, std::uint64_t key_id,
                           const std::vector<BundlePeer>& peers) {
    wire::Message m;
    (void)m.add("type", "rekey");
    (void)m.add("group", group);
    (void)m.add_u64("key_id", key_id);
    (void)m.add_u64("peers", peers.size());
    for (std::size_t i = 0; i < peers.size(); ++i)
        encode_peer(m, fmt::format("peer.{}.", i), peers[i]);
    return m;
}

wire::Message encode_activate(std::string_view group, std::uint64_t key_id) {
    wire::Message m;
    (void)m.add("type", "activate");
    (void)m.add("group", group);
    (void)m.add_u64("key_id", key_id);
    return m;
}

wire::Message encode_names(std::string_view group, const std::vector<BundleName>& set,
                           const std::vector<std::string>& gone) {
    wire::Message m;
    (void)m.add("type", "names");
    (void)m.add("group", group);
    (void)m.add_u64("names", set.size());
    for (std::size_t i = 0; i < set.size(); ++i)
        encode_name(m, fmt::format("name.{}.", i), set[i]);
    (void)m.add_u64("gone", gone.size());
    for (std::size_t i = 0; i < gone.size(); ++i)
        (void)m.add(fmt::format("gone.{}", i), gone[i]);
    return m;
}

Result<Push> decode_push(const wire::Message& m, const std::vector<BundleGroup>& groups) {
    const std::string type(CUG_TRY(m.get("type")));
    Push p;
    auto user = [&]() -> Result<std::string> {
        std::string u(CUG_TRY(m.get("user")));
        if (!store::check_user_name(u)) return bad_push("a user ID is invalid");
        return u;
    };
    auto group = [&]() -> Result<std::string> {
        std::string g(CUG_TRY(m.get("group")));
        if (!store::check_group_name(g)) return bad_push("a group name is invalid");
        return g;
    };
    if (type == "sync") {
        p.kind = Push::Kind::sync;
        wire::Message as_bundle;
        (void)as_bundle.add("type", "bundle");
        for (const auto& [k, v] : m)
            if (k != "type") (void)as_bundle.add(k, v);
        auto decoded = decode_bundle(as_bundle);
        as_bundle.wipe();
        p.sync = CUG_TRY(std::move(decoded));
    } else if (type == "peer-up") {
        p.kind = Push::Kind::peer_up;
        const std::uint64_t n = CUG_TRY(m.get_u64("peers", 1, max_peers));
        std::size_t expected = 2 + peer_fields * n;
        for (std::uint64_t i = 0; i < n; ++i) {
            p.peers.push_back(CUG_TRY(decode_peer(m, fmt::format("peer.{}.", i), groups)));
            expected += p.peers.back().endpoint ? 1 : 0;
        }
        if (m.size() != expected) return bad_push("a peer-up holds keys beyond its count");
    } else if (type == "rekey") {
        p.kind = Push::Kind::rekey;
        p.group = CUG_TRY(group());
        p.key_id = CUG_TRY(m.get_u64("key_id", 1));
        const std::uint64_t n = CUG_TRY(m.get_u64("peers", 0, max_peers));
        std::size_t expected = 4 + peer_fields * n;
        for (std::uint64_t i = 0; i < n; ++i) {
            p.peers.push_back(CUG_TRY(decode_peer(m, fmt::format("peer.{}.", i), groups)));
            if (p.peers.back().group != p.group) return bad_push("a rekey names another group");
            if (p.peers.back().key_id != p.key_id) return bad_push("a rekey names another epoch");
            expected += p.peers.back().endpoint ? 1 : 0;
        }
        if (m.size() != expected) return bad_push("a rekey holds keys beyond its count");
    } else if (type == "names") {
        p.kind = Push::Kind::names;
        p.group = CUG_TRY(group());
        const std::uint64_t n = CUG_TRY(m.get_u64("names", 0, max_names));
        const std::uint64_t g = CUG_TRY(m.get_u64("gone", 0, max_names));
        for (std::uint64_t i = 0; i < n; ++i) {
            p.names.push_back(CUG_TRY(decode_name(m, fmt::format("name.{}.", i), groups)));
            if (p.names.back().group != p.group)
                return bad_push("a names push names another group");
        }
        for (std::uint64_t i = 0; i < g; ++i) {
            std::string u(CUG_TRY(m.get(fmt::format("gone.{}", i))));
            if (!store::check_user_name(u)) return bad_push("a user ID is invalid");
            p.gone.push_back(std::move(u));
        }
        if (m.size() != 4 + 3 * n + g) return bad_push("a names push holds keys beyond its counts");
    } else if (type == "activate") {
        p.kind = Push::Kind::activate;
        CUG_CHECK(m.allow_only({"type", "group", "key_id"}));
        p.group = CUG_TRY(group());
        p.key_id = CUG_TRY(m.get_u64("key_id", 1));
    } else if (type == "peer-down") {
        p.kind = Push::Kind::peer_down;
        CUG_CHECK(m.allow_only({"type", "user", "group"}));
        p.user = CUG_TRY(user());
        if (m.has("group")) p.group = CUG_TRY(group());
    } else if (type == "peer-away" || type == "peer-back") {
        p.kind = type == "peer-away" ? Push::Kind::peer_away : Push::Kind::peer_back;
        CUG_CHECK(m.allow_only({"type", "user"}));
        p.user = CUG_TRY(user());
    } else if (type == "group-down") {
        p.kind = Push::Kind::group_down;
        CUG_CHECK(m.allow_only({"type", "group"}));
        p.group = CUG_TRY(group());
    } else if (type == "endpoint") {
        p.kind = Push::Kind::endpoint;
        CUG_CHECK(m.allow_only({"type", "user", "endpoint"}));
        p.user = CUG_TRY(user());
        p.endpoint = CUG_TRY(net::Endpoint::parse(CUG_TRY(m.get("endpoint"))));
    } else {
        return bad_push("unknown kind");
    }
    return p;
}

// --- UDP hello -----------------------------------------------------------------

namespace {

constexpr std::string_view hello_magic = "cugH";
constexpr std::string_view reply_magic = "cugh";

crypto::Digest hello_mac(ByteView k_udp, ByteView session, std::uint64_t counter) {
    wire::Writer w;
    w.bytes(std::string_view("cug udp hello v1"));
    w.bytes(session);
    w.u64(counter);
    return crypto::hmac_sha256(k_udp, std::move(w).take());
}

Bytes reply_body(ByteView session, std::uint64_t counter, const net::Endpoint& observed) {
    const auto address = observed.address.to_v6_bytes();
    wire::Writer w;
    w.bytes(reply_magic);
    w.bytes(session);
    w.u64(counter);
    w.bytes(address);
    w.u16(observed.port);
    return std::move(w).take();
}

crypto::Digest reply_mac(ByteView k_udp, ByteView body) {
    Bytes input = to_bytes("cug udp reply v1");
    input.insert(input.end(), body.begin(), body.end());
    return crypto::hmac_sha256(k_udp, input);
}

}  // namespace

Bytes udp_hello(ByteView k_udp, ByteView session, std::uint64_t counter) {
    wire::Writer w;
    w.bytes(hello_magic);
    w.bytes(session);
    w.u64(counter);
    w.bytes(hello_mac(k_udp, session, counter));
    return std::move(w).take();
}

Result<UdpHello> parse_udp_hello(ByteView d) {
    if (d.size() != udp_hello_size) return make_error(Errc::protocol, "not a UDP hello");
    wire::Reader r(d);
    const ByteView magic = r.bytes(4);
    if (std::memcmp(magic.data(), hello_magic.data(), 4) != 0)
        return make_error(Errc::protocol, "not a UDP hello");
    UdpHello h;
    const ByteView session = r.bytes(session_id_size);
    h.session.assign(session.begin(), session.end());
    h.counter = r.u64();
    const ByteView mac = r.bytes(h.mac.size());
    std::memcpy(h.mac.data(), mac.data(), h.mac.size());
    if (!r.done()) return make_error(Errc::protocol, "not a UDP hello");
    return h;
}

bool check_udp_hello(ByteView k_udp, const UdpHello& hello) {
    return crypto::equal_ct(hello_mac(k_udp, hello.session, hello.counter), hello.mac);
}

Bytes udp_reply(ByteView k_udp, ByteView session, std::uint64_t counter,
                const net::Endpoint& observed) {
    Bytes body = reply_body(session, counter, observed);
    const crypto::Digest mac = reply_mac(k_udp, body);
    body.insert(body.end(), mac.begin(), mac.end());
    return body;
}

Result<net::Endpoint> open_udp_reply(ByteView k_udp, ByteView session, std::uint64_t counter,
                                     ByteView d) {
    auto bad = [] { return make_error(Errc::protocol, "not a reply to our UDP hello"); };
    if (d.size() != udp_reply_size) return bad();
    const ByteView body = d.first(udp_reply_size - 32);
    if (!crypto::equal_ct(reply_mac(k_udp, body), d.subspan(udp_reply_size - 32))) return bad();
    wire::Reader r(body);
    if (std::memcmp(r.bytes(4).data(), reply_magic.data(), 4) != 0) return bad();
    if (!crypto::equal_ct(r.bytes(session_id_size), session)) return bad();
    if (r.u64() != counter) return bad();
    net::Endpoint e;
    e.address = net::Address::from_v6_bytes(r.bytes(16));
    e.port = r.u16();
    return e;
}

}  // namespace cug::protocol
