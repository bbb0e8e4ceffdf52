#include "store/records.hpp"

#include "wire/binary.hpp"

#include <bitset>
#include <initializer_list>

namespace cug::store {

namespace {

constexpr std::uint8_t record_version = 1;

// Writes fields in ascending tag order; the caller keeps the order.
class TlvWriter {
  public:
    TlvWriter() { w_.u8(record_version); }
    void bytes(std::uint8_t tag, ByteView v) { w_.u8(tag).bytes16(v); }
    void text(std::uint8_t tag, std::string_view v) { bytes(tag, as_bytes(v)); }
    void u64(std::uint8_t tag, std::uint64_t v) {
        wire::Writer n;
        n.u64(v);
        bytes(tag, n.data());
    }
    void i64(std::uint8_t tag, std::int64_t v) { u64(tag, static_cast<std::uint64_t>(v)); }
    void u32(std::uint8_t tag, std::uint32_t v) {
        wire::Writer n;
        n.u32(v);
        bytes(tag, n.data());
    }
    void flag(std::uint8_t tag, bool v) {
        std::uint8_t b = v ? 1 : 0;
        bytes(tag, ByteView(&b, 1));
    }
    Bytes take() && { return std::move(w_).take(); }

  private:
    wire::Writer w_;
};

// Walks fields, refusing a wrong version, descending or repeated tags, and
// fixed-size fields of the wrong size. `fail()` marks anything else wrong.
class TlvReader {
  public:
    explicit TlvReader(ByteView value) : r_(value) {
        if (r_.u8() != record_version) r_.fail();
    }
    bool next() {
        if (!r_.ok() || r_.empty()) return false;
        std::uint8_t t = r_.u8();
        if (started_ && t <= tag_) r_.fail();
        started_ = true;
        tag_ = t;
        seen_.set(t);
        value_ = r_.bytes16();
        return r_.ok();
    }
    std::uint8_t tag() const { return tag_; }
    ByteView bytes() const { return value_; }
    std::string text() const { return std::string(as_chars(value_)); }
    std::uint64_t u64() {
        wire::Reader n(value_);
        std::uint64_t v = n.u64();
        if (!n.done()) r_.fail();
        return v;
    }
    std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
    std::uint32_t u32() {
        wire::Reader n(value_);
        std::uint32_t v = n.u32();
        if (!n.done()) r_.fail();
        return v;
    }
    bool flag() {
        if (value_.size() != 1 || value_[0] > 1) r_.fail();
        return !value_.empty() && value_[0] == 1;
    }
    void fail() { r_.fail(); }
    bool ok() const { return r_.done(); }
    bool has(std::initializer_list<std::uint8_t> tags) const {
        for (auto t : tags)
            if (!seen_.test(t)) return false;
        return true;
    }

  private:
    wire::Reader r_;
    std::uint8_t tag_ = 0;
    bool started_ = false;
    ByteView value_;
    std::bitset<256> seen_;
};

Error corrupt(std::string_view what, std::string_view name) {
    return make_error(Errc::config, "the store is corrupt: bad {} record '{}'", what,
                      name.substr(0, 64));
}

constexpr std::size_t point_size = 65;

}  // namespace

// User: 1 enabled, 2 created, 3 password hash, 4 password changed, 5 failed
// logins, 6 last failure; card 16 key agreement, 17 authentication, 18 serial,
// 19 enrolled, 20 sealed management key, 21 device.
Bytes encode_user(const User& u) {
    TlvWriter w;
    w.flag(1, u.enabled);
    w.i64(2, u.created);
    w.text(3, u.password_hash);
    w.i64(4, u.password_changed);
    w.u32(5, u.failed_logins);
    w.i64(6, u.last_failure);
    if (u.card) {
        w.bytes(16, u.card->key_agreement);
        w.bytes(17, u.card->authentication);
        w.bytes(18, u.card->certificate_serial);
        w.i64(19, u.card->enrolled);
        w.bytes(20, u.card->management_key_sealed);
        w.text(21, u.card->device);
    }
    return std::move(w).take();
}

Result<User> decode_user(std::string_view name, ByteView value) {
    User u;
    u.name = std::string(name);
    TlvReader r(value);
    while (r.next()) {
        switch (r.tag()) {
            case 1:
                u.enabled = r.flag();
                break;
            case 2:
                u.created = r.i64();
                break;
            case 3:
                u.password_hash = r.text();
                break;
            case 4:
                u.password_changed = r.i64();
                break;
            case 5:
                u.failed_logins = r.u32();
                break;
            case 6:
                u.last_failure = r.i64();
                break;
            case 16:
                u.card.emplace().key_agreement.assign(r.bytes().begin(), r.bytes().end());
                break;
            case 17:
            case 18:
            case 19:
            case 20:
            case 21:
                if (!u.card) {
                    r.fail();
                    break;
                }
                if (r.tag() == 17)
                    u.card->authentication.assign(r.bytes().begin(), r.bytes().end());
                if (r.tag() == 18)
                    u.card->certificate_serial.assign(r.bytes().begin(), r.bytes().end());
                if (r.tag() == 19) u.card->enrolled = r.i64();
                if (r.tag() == 20)
                    u.card->management_key_sealed.assign(r.bytes().begin(), r.bytes().end());
                if (r.tag() == 21) u.card->device = r.text();
                break;
            default:
                r.fail();
        }
    }
    if (!r.ok() || !r.has({1, 2, 3, 4, 5, 6}) || u.password_hash.empty())
        return corrupt("user", name);
    if (u.card &&
        (u.card->key_agreement.size() != point_size || u.card->authentication.size() != point_size))
        return corrupt("user", name);
    return u;
}

namespace {

Bytes encode_prefix(const net::Prefix& p) {
    wire::Writer w;
    w.bytes(p.network.bytes()).u8(static_cast<std::uint8_t>(p.length));
    return std::move(w).take();
}

std::optional<net::Prefix> decode_prefix(ByteView b) {
    if (b.size() != 5 && b.size() != 17) return std::nullopt;
    auto address = net::Address::from_bytes(b.first(b.size() - 1));
    if (!address) return std::nullopt;
    // Re-parse the text form so a stored prefix passes the same checks as a typed one.
    auto prefix = net::Prefix::parse(fmt::format("{}/{}", address->to_string(), b.back()));
    if (!prefix) return std::nullopt;
    return *prefix;
}

}  // namespace

// Group: 1 prefix, 2 created, 3 member count, 4 next offset, 5-7 current epoch
// (key id, secret, created), 8-10 previous epoch.
Bytes encode_group(const Group& g) {
    TlvWriter w;
    w.bytes(1, encode_prefix(g.prefix));
    w.i64(2, g.created);
    w.u64(3, g.member_count);
    w.u64(4, g.next_offset);
    w.u64(5, g.current.key_id);
    w.bytes(6, g.current.secret.view());
    w.i64(7, g.current.created);
    if (g.previous) {
        w.u64(8, g.previous->key_id);
        w.bytes(9, g.previous->secret.view());
        w.i64(10, g.previous->created);
    }
    return std::move(w).take();
}

Result<Group> decode_group(std::string_view name, ByteView value) {
    Group g;
    g.name = std::string(name);
    TlvReader r(value);
    while (r.next()) {
        switch (r.tag()) {
            case 1:
                if (auto p = decode_prefix(r.bytes()))
                    g.prefix = *p;
                else
                    r.fail();
                break;
            case 2:
                g.created = r.i64();
                break;
            case 3:
                g.member_count = r.u64();
                break;
            case 4:
                g.next_offset = r.u64();
                break;
            case 5:
                g.current.key_id = r.u64();
                break;
            case 6:
                g.current.secret = crypto::SecretBuffer::copy_of(r.bytes());
                break;
            case 7:
                g.current.created = r.i64();
                break;
            case 8:
                g.previous.emplace().key_id = r.u64();
                break;
            case 9:
                if (g.previous)
                    g.previous->secret = crypto::SecretBuffer::copy_of(r.bytes());
                else
                    r.fail();
                break;
            case 10:
                if (g.previous)
                    g.previous->created = r.i64();
                else
                    r.fail();
                break;
            default:
                r.fail();
        }
    }
    if (!r.ok() || !r.has({1, 2, 3, 4, 5, 6, 7}) || g.current.secret.size() != 32 ||
        g.current.key_id == 0)
        return corrupt("group", name);
    if (g.previous &&
        (!r.has({8, 9, 10}) || g.previous->secret.size() != 32 || g.previous->key_id == 0))
        return corrupt("group", name);
    return g;
}

// Membership: 1 address, 2 added.
Bytes encode_membership(const Membership& m) {
    TlvWriter w;
    w.bytes(1, m.address.bytes());
    w.i64(2, m.added);
    return std::move(w).take();
}

Result<Membership> decode_membership(std::string_view user, std::string_view group,
                                     ByteView value) {
    Membership m;
    m.user = std::string(user);
    m.group = std::string(group);
    TlvReader r(value);
    while (r.next()) {
        switch (r.tag()) {
            case 1:
                if (auto a = net::Address::from_bytes(r.bytes()))
                    m.address = *a;
                else
                    r.fail();
                break;
            case 2:
                m.added = r.i64();
                break;
            default:
                r.fail();
        }
    }
    if (!r.ok() || !r.has({1, 2})) return corrupt("membership", fmt::format("{}/{}", group, user));
    return m;
}

// Audit: 1 time, 2 uid, 3 actor, 4 program, 5 action, 6 subject, 7 detail.
Bytes encode_audit(const AuditEntry& a) {
    TlvWriter w;
    w.i64(1, a.time_us);
    w.u32(2, a.uid);
    w.text(3, a.actor);
    w.text(4, a.program);
    w.text(5, a.action);
    w.text(6, a.subject);
    w.text(7, a.detail);
    return std::move(w).take();
}

// Noise: 1 minute, 2 source, 3 connections refused, 4 handshakes failed, 5 logins
// refused, 6 resumes refused, 7 users.
Bytes encode_noise(const NoiseEntry& n) {
    TlvWriter w;
    w.i64(1, n.minute);
    w.text(2, n.source);
    w.u64(3, n.connections_refused);
    w.u64(4, n.handshakes_failed);
    w.u64(5, n.logins_refused);
    w.u64(6, n.resumes_refused);
    w.text(7, n.users);
    return std::move(w).take();
}

Result<NoiseEntry> decode_noise(std::uint64_t seq, ByteView value) {
    NoiseEntry n;
    n.seq = seq;
    TlvReader r(value);
    while (r.next()) {
        switch (r.tag()) {
            case 1:
                n.minute = r.i64();
                break;
            case 2:
                n.source = r.text();
                break;
            case 3:
                n.connections_refused = r.u64();
                break;
            case 4:
                n.handshakes_failed = r.u64();
                break;
            case 5:
                n.logins_refused = r.u64();
                break;
            case 6:
                n.resumes_refused = r.u64();
                break;
            case 7:
                n.users = r.text();
                break;
            default:
                r.fail();
        }
    }
    if (!r.ok() || !r.has({1, 2, 3, 4, 5, 6, 7})) return corrupt("noise", std::to_string(seq));
    return n;
}

Result<AuditEntry> decode_audit(std::uint64_t seq, ByteView value) {
    AuditEntry a;
    a.seq = seq;
    TlvReader r(value);
    while (r.next()) {
        switch (r.tag()) {
            case 1:
                a.time_us = r.i64();
                break;
            case 2:
                a.uid = r.u32();
                break;
            case 3:
                a.actor = r.text();
                break;
            case 4:
                a.program = r.text();
                break;
            case 5:
                a.action = r.text();
                break;
            case 6:
                a.subject = r.text();
                break;
            case 7:
                a.detail = r.text();
                break;
            default:
                r.fail();
        }
    }
    if (!r.ok() || !r.has({1, 2, 3, 4, 5, 6, 7})) return corrupt("audit", std::to_string(seq));
    return a;
}

namespace {

Bytes encode_endpoint(const net::Endpoint& e) {
    wire::Writer w;
    w.bytes(e.address.bytes()).u16(e.port);
    return std::move(w).take();
}

std::optional<net::Endpoint> decode_endpoint(ByteView b) {
    if (b.size() != 6 && b.size() != 18) return std::nullopt;
    auto address = net::Address::from_bytes(b.first(b.size() - 2));
    const std::uint16_t port = static_cast<std::uint16_t>(b[b.size() - 2] << 8 | b.back());
    if (!address || port == 0) return std::nullopt;
    return net::Endpoint{*address, port};
}

}  // namespace

// Session: 1 id, 2 indices (name8 index32 ...), 3 login, 4 last seen, 5 expires, 6 acknowledged,
// 7 card serial, 8 resume key, 9 push key, 10 udp key, 11 endpoint, 12 control.
Bytes encode_session(const Session& s) {
    TlvWriter w;
    w.bytes(1, s.id);
    wire::Writer indices;
    for (const auto& [group, index] : s.indices)
        indices.bytes8(as_bytes(group)).u32(index);
    w.bytes(2, indices.data());
    w.i64(3, s.login_time);
    w.i64(4, s.last_seen);
    w.i64(5, s.expires);
    w.flag(6, s.acknowledged);
    w.bytes(7, s.card_serial);
    w.bytes(8, s.resume_key.view());
    w.bytes(9, s.push_key.view());
    w.bytes(10, s.udp_key.view());
    if (s.endpoint) w.bytes(11, encode_endpoint(*s.endpoint));
    if (s.control) w.bytes(12, encode_endpoint(*s.control));
    return std::move(w).take();
}

Result<Session> decode_session(std::string_view user, ByteView value) {
    Session s;
    s.user = std::string(user);
    TlvReader r(value);
    auto endpoint = [&](std::optional<net::Endpoint>& out) {
        out = decode_endpoint(r.bytes());
        if (!out) r.fail();
    };
    while (r.next()) {
        switch (r.tag()) {
            case 1:
                s.id.assign(r.bytes().begin(), r.bytes().end());
                break;
            case 2: {
                wire::Reader list(r.bytes());
                while (list.ok() && !list.empty()) {
                    std::string group(as_chars(list.bytes8()));
                    const std::uint32_t index = list.u32();
                    if (group.empty() || index == 0) list.fail();
                    s.indices.emplace_back(std::move(group), index);
                }
                if (!list.ok()) r.fail();
                break;
            }
            case 3:
                s.login_time = r.i64();
                break;
            case 4:
                s.last_seen = r.i64();
                break;
            case 5:
                s.expires = r.i64();
                break;
            case 6:
                s.acknowledged = r.flag();
                break;
            case 7:
                s.card_serial.assign(r.bytes().begin(), r.bytes().end());
                break;
            case 8:
                s.resume_key = crypto::SecretBuffer::copy_of(r.bytes());
                break;
            case 9:
                s.push_key = crypto::SecretBuffer::copy_of(r.bytes());
                break;
            case 10:
                s.udp_key = crypto::SecretBuffer::copy_of(r.bytes());
                break;
            case 11:
                endpoint(s.endpoint);
                break;
            case 12:
                endpoint(s.control);
                break;
            default:
                r.fail();
        }
    }
    if (!r.ok() || !r.has({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) || s.id.size() != 16 ||
        s.resume_key.size() != 32 || s.push_key.size() != 32 || s.udp_key.size() != 32)
        return corrupt("session", user);
    return s;
}

Bytes membership_key(std::string_view user, std::string_view group) {
    Bytes k(user.begin(), user.end());
    k.push_back(0);
    k.insert(k.end(), group.begin(), group.end());
    return k;
}

Bytes address_key(std::string_view group, const net::Address& address) {
    Bytes k(group.begin(), group.end());
    k.push_back(0);
    ByteView a = address.bytes();
    k.insert(k.end(), a.begin(), a.end());
    return k;
}

Bytes seq_key(std::uint64_t seq) {
    wire::Writer w;
    w.u64(seq);
    return std::move(w).take();
}

std::optional<std::pair<std::string_view, std::string_view>> split_key(ByteView key) {
    std::string_view s = as_chars(key);
    std::size_t zero = s.find('\0');
    if (zero == std::string_view::npos) return std::nullopt;
    return std::make_pair(s.substr(0, zero), s.substr(zero + 1));
}

std::optional<std::uint64_t> parse_seq_key(ByteView key) {
    wire::Reader r(key);
    std::uint64_t seq = r.u64();
    if (!r.done()) return std::nullopt;
    return seq;
}

}  // namespace cug::store
