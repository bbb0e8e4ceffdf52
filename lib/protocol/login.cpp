#include "protocol/login.hpp"

#include "crypto/aead.hpp"
#include "crypto/hkdf.hpp"
#include "dns/zone.hpp"
#include "store/names.hpp"
#include "wire/binary.hpp"

#include <algorithm>
#include <cstring>

namespace cug::protocol {

namespace {

constexpr std::uint8_t zero_nonce[crypto::aead_nonce_size] = {};

Bytes with_label(ByteView info, std::string_view label) {
    Bytes out(info.begin(), info.end());
    out.insert(out.end(), label.begin(), label.end());
    return out;
}

Bytes u64_be(std::uint64_t v) {
    wire::Writer w;
    w.u64(v);
    return std::move(w).take();
}

}  // namespace

wire::Limits channel_limits() {
    wire::Limits l;
    l.max_value = max_sealed / 3 * 4 + 4;  // base64 of the largest sealed bundle
    l.max_line = l.max_value + 64;
    l.max_pairs = 16 + 10 * max_peers + 3 * max_names;
    l.max_message = 2 * l.max_value;
    return l;
}

wire::Limits terminal_limits() {
    wire::Limits l;
    l.max_value = (max_password + 2) / 3 * 4;  // base64 of the longest password
    l.max_line = l.max_value + 64;
    l.max_pairs = 16;
    l.max_message = 8192;
    return l;
}

Bytes login_info(std::string_view user, const crypto::PublicKey& card_key,
                 const crypto::PublicKey& ephemeral, const crypto::PublicKey& server_key) {
    const crypto::Digest card = card_key.fingerprint();
    const crypto::Digest server = server_key.fingerprint();
    const Bytes e = ephemeral.to_point();
    return crypto::length_prefixed({as_bytes("cug v1"), as_bytes(user), card, e, server});
}

LoginKeys derive_login_keys(ByteView exporter, ByteView shared_x, Bytes info) {
    const crypto::SecretBuffer prk = crypto::hkdf_extract(exporter, shared_x);
    LoginKeys k;
    k.confirm = crypto::hkdf_expand(prk.view(), with_label(info, "confirm"), 32);
    k.seal = crypto::hkdf_expand(prk.view(), with_label(info, "seal"), 32);
    k.resume = crypto::hkdf_expand(prk.view(), with_label(info, "resume"), 32);
    k.push = crypto::hkdf_expand(prk.view(), with_label(info, "push"), 32);
    k.udp = crypto::hkdf_expand(prk.view(), with_label(info, "udp"), 32);
    k.info = std::move(info);
    return k;
}

crypto::Digest transcript_hash(std::string_view hello, std::string_view challenge) {
    crypto::Sha256 h;
    h.update(as_bytes(hello));
    h.update(as_bytes(challenge));
    return h.finish();
}

crypto::Digest login_proof(const LoginKeys& keys, const crypto::Digest& transcript) {
    Bytes message = to_bytes("client");
    message.insert(message.end(), transcript.begin(), transcript.end());
    return crypto::hmac_sha256(keys.confirm.view(), message);
}

bool check_login_proof(const LoginKeys& keys, const crypto::Digest& transcript, ByteView proof) {
    return crypto::equal_ct(login_proof(keys, transcript), proof);
}

crypto::Digest resume_proof(ByteView k_resume, ByteView exporter) {
    Bytes message = to_bytes("resume");
    message.insert(message.end(), exporter.begin(), exporter.end());
    return crypto::hmac_sha256(k_resume, message);
}

crypto::Digest presence_digest(ByteView challenge, ByteView exporter) {
    crypto::Sha256 h;
    h.update(as_bytes("cug presence v1"));
    h.update(challenge);
    h.update(exporter);
    return h.finish();
}

crypto::SecretBuffer pair_key(ByteView epoch_secret, std::uint64_t key_id, PairEnd from,
                              PairEnd to) {
    return PairKeys(epoch_secret, key_id).derive(from, to);
}

PairKeys::PairKeys(ByteView epoch_secret, std::uint64_t key_id)
    : expander_(crypto::hkdf_extract({}, epoch_secret).view()), key_id_(key_id) {}

crypto::SecretBuffer PairKeys::derive(PairEnd from, PairEnd to) const {
    auto u32_be = [](std::uint32_t v) {
        return Bytes{static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                     static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    };
    const Bytes info =
        crypto::length_prefixed({as_bytes("cug data v1"), u64_be(key_id_), from.session,
                                 u32_be(from.index), to.session, u32_be(to.index)});
    return expander_.expand(info, 32);
}

// --- the bundle as key=value ----------------------------------------------------

void encode_peer(wire::Message& m, const std::string& p, const BundlePeer& peer) {
    (void)m.add(p + "user", peer.user);
    (void)m.add(p + "group", peer.group);
    (void)m.add(p + "address", peer.address.to_string());
    if (peer.endpoint) (void)m.add(p + "endpoint", peer.endpoint->to_string());
    (void)m.add_u64(p + "send_index", peer.send_index);
    (void)m.add_bytes(p + "send_key", peer.send_key.view());
    (void)m.add_u64(p + "recv_index", peer.recv_index);
    (void)m.add_bytes(p + "recv_key", peer.recv_key.view());
    (void)m.add_u64(p + "key_id", peer.key_id);
    (void)m.add_u64(p + "not_after", static_cast<std::uint64_t>(peer.not_after));
}

wire::Message encode_bundle(const Bundle& b) {
    wire::Message m;
    auto add = [&](std::string_view key, std::string_view value) { (void)m.add(key, value); };
    add("type", "bundle");
    (void)m.add_bytes("session", b.session);
    (void)m.add_u64("expires", static_cast<std::uint64_t>(b.expires));
    add("zone", b.zone);
    (void)m.add_u64("groups", b.groups.size());
    for (std::size_t i = 0; i < b.groups.size(); ++i) {
        const auto& g = b.groups[i];
        const std::string p = fmt::format("group.{}.", i);
        add(p + "name", g.name);
        add(p + "prefix", g.prefix.to_string());
        add(p + "address", g.address.to_string());
        (void)m.add_u64(p + "key_id", g.key_id);
    }
    (void)m.add_u64("peers", b.peers.size());
    for (std::size_t i = 0; i < b.peers.size(); ++i)
        encode_peer(m, fmt::format("peer.{}.", i), b.peers[i]);
    (void)m.add_u64("names", b.names.size());
    for (std::size_t i = 0; i < b.names.size(); ++i)
        encode_name(m, fmt::format("name.{}.", i), b.names[i]);
    return m;
}

namespace {

Error bad_bundle(std::string_view why) {
    return make_error(Errc::protocol, "malformed session bundle: {}", why);
}

Result<net::Address> address_field(const wire::Message& m, const std::string& key) {
    auto text = CUG_TRY(m.get(key));
    auto a = net::Address::parse(text);
    if (!a) return bad_bundle(fmt::format("{} is not an address", key));
    return *a;
}

Result<crypto::SecretBuffer> key_field(const wire::Message& m, const std::string& key) {
    Bytes bytes = CUG_TRY(m.get_bytes(key, 32));
    if (bytes.size() != 32) return bad_bundle(fmt::format("{} is not a 32-byte key", key));
    auto out = crypto::SecretBuffer::copy_of(bytes);
    explicit_bzero(bytes.data(), bytes.size());
    return out;
}

// The user, group and address of an entry (a peer's, a name's: `what`),
// checked against the session's groups.
Result<BundleName> decode_member(const wire::Message& m, const std::string& p,
                                 const std::vector<BundleGroup>& groups, std::string_view what) {
    BundleName e;
    e.user = std::string(CUG_TRY(m.get(p + "user")));
    if (!store::check_user_name(e.user))
        return bad_bundle(fmt::format("{}'s user ID is invalid", what));
    e.group = std::string(CUG_TRY(m.get(p + "group")));
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const BundleGroup& g) { return g.name == e.group; });
    if (group == groups.end())
        return bad_bundle(fmt::format("{} is in a group the session lacks", what));
    e.address = CUG_TRY(address_field(m, p + "address"));
    if (!group->prefix.contains(e.address))
        return bad_bundle(fmt::format("{}'s address is outside its group", what));
    return e;
}

}  // namespace

Result<BundlePeer> decode_peer(const wire::Message& m, const std::string& p,
                               const std::vector<BundleGroup>& groups) {
    BundlePeer peer;
    BundleName who = CUG_TRY(decode_member(m, p, groups, "a peer"));
    peer.user = std::move(who.user);
    peer.group = std::move(who.group);
    peer.address = who.address;
    if (m.has(p + "endpoint"))
        peer.endpoint = CUG_TRY(net::Endpoint::parse(CUG_TRY(m.get(p + "endpoint"))));
    peer.send_index =
        static_cast<std::uint32_t>(CUG_TRY(m.get_u64(p + "send_index", 1, UINT32_MAX)));
    peer.recv_index =
        static_cast<std::uint32_t>(CUG_TRY(m.get_u64(p + "recv_index", 1, UINT32_MAX)));
    peer.send_key = CUG_TRY(key_field(m, p + "send_key"));
    peer.recv_key = CUG_TRY(key_field(m, p + "recv_key"));
    peer.key_id = CUG_TRY(m.get_u64(p + "key_id", 1, UINT64_MAX));
    peer.not_after = static_cast<std::int64_t>(CUG_TRY(m.get_u64(p + "not_after", 1, INT64_MAX)));
    return peer;
}

void encode_name(wire::Message& m, const std::string& p, const BundleName& name) {
    (void)m.add(p + "user", name.user);
    (void)m.add(p + "group", name.group);
    (void)m.add(p + "address", name.address.to_string());
}

Result<BundleName> decode_name(const wire::Message& m, const std::string& p,
                               const std::vector<BundleGroup>& groups) {
    return decode_member(m, p, groups, "a name");
}

Result<Bundle> decode_bundle(const wire::Message& m) {
    if (CUG_TRY(m.get("type")) != "bundle") return bad_bundle("type is not bundle");
    Bundle b;
    b.session = CUG_TRY(m.get_bytes("session", session_id_size));
    if (b.session.size() != session_id_size) return bad_bundle("the session id is not 16 bytes");
    b.expires = static_cast<std::int64_t>(CUG_TRY(m.get_u64("expires", 1, INT64_MAX)));
    const std::uint64_t groups = CUG_TRY(m.get_u64("groups", 0, max_peers));
    const std::uint64_t peers = CUG_TRY(m.get_u64("peers", 0, max_peers));
    const std::uint64_t names = CUG_TRY(m.get_u64("names", 0, max_names));
    b.zone = std::string(CUG_TRY(m.get("zone")));
    if (auto zone = dns::check_zone(b.zone); !zone || *zone != b.zone)
        return bad_bundle("the DNS zone is invalid");
    // Exactly the keys the counts call for: 7 + 4 per group + 9 or 10 per
    // peer + 3 per name.
    std::size_t expected = 7 + 4 * groups + peer_fields * peers + 3 * names;
    for (std::uint64_t i = 0; i < groups; ++i) {
        const std::string p = fmt::format("group.{}.", i);
        BundleGroup g;
        g.name = std::string(CUG_TRY(m.get(p + "name")));
        if (!store::check_group_name(g.name)) return bad_bundle("a group name is invalid");
        g.prefix = CUG_TRY(net::Prefix::parse(CUG_TRY(m.get(p + "prefix"))));
        g.address = CUG_TRY(address_field(m, p + "address"));
        if (!g.prefix.contains(g.address)) return bad_bundle("an address is outside its group");
        g.key_id = CUG_TRY(m.get_u64(p + "key_id", 1, UINT64_MAX));
        b.groups.push_back(std::move(g));
    }
    for (std::uint64_t i = 0; i < peers; ++i) {
        b.peers.push_back(CUG_TRY(decode_peer(m, fmt::format("peer.{}.", i), b.groups)));
        expected += b.peers.back().endpoint ? 1 : 0;
    }
    for (std::uint64_t i = 0; i < names; ++i)
        b.names.push_back(CUG_TRY(decode_name(m, fmt::format("name.{}.", i), b.groups)));
    if (m.size() != expected) return bad_bundle("it holds keys beyond its counts");
    return b;
}

Bytes seal_bundle(const LoginKeys& keys, const Bundle& bundle) {
    wire::Message m = encode_bundle(bundle);
    std::string plain = m.encode();
    m.wipe();
    Bytes sealed = crypto::aead_seal(keys.seal.view(), zero_nonce, keys.info, as_bytes(plain));
    explicit_bzero(plain.data(), plain.size());
    return sealed;
}

Result<Bundle> open_bundle(const LoginKeys& keys, ByteView sealed) {
    auto plain = crypto::aead_open(keys.seal.view(), zero_nonce, keys.info, sealed);
    if (!plain) return make_error(Errc::protocol, "the session bundle does not open");
    auto message = CUG_TRY(wire::parse_message(as_chars(plain->view()), channel_limits()));
    auto bundle = decode_bundle(message);
    message.wipe();
    return bundle;
}

}  // namespace cug::protocol
