// `cug-admin check`: every invariant the store promises, verified from one
// snapshot. Problems are collected, not stopped at, so one run shows them all.
#include "dns/zone.hpp"
#include "store/internal.hpp"
#include "store/lmdb.hpp"
#include "store/names.hpp"
#include "wire/binary.hpp"

#include <map>
#include <set>

namespace cug::store {

namespace {

class Problems {
  public:
    template <typename... Args>
    void add(fmt::format_string<Args...> format, Args&&... args) {
        if (list_.size() < 1000) list_.push_back(fmt::format(format, std::forward<Args>(args)...));
    }
    std::vector<std::string> take() && { return std::move(list_); }

  private:
    std::vector<std::string> list_;
};

}  // namespace

Result<std::vector<std::string>> ReadTxn::check() const {
    Problems problems;

    // Meta: schema, server key and certificate belong together.
    if (meta_u64(meta_schema) != schema_version)
        problems.add("schema version is {}, expected {}", meta_u64(meta_schema), schema_version);
    auto key = server_key();
    auto certificate = server_certificate();
    if (!key) problems.add("{}", key.error().message);
    if (!certificate) problems.add("{}", certificate.error().message);
    if (key && certificate) {
        auto certified = certificate->public_key();
        if (!certified || !(*certified == key->public_key()))
            problems.add("the server certificate does not match the server key");
        else if (certificate->subject_cn() != server_name())
            problems.add("the server certificate names '{}', the store '{}'",
                         certificate->subject_cn(), server_name());
    }
    if (auto params = password_params(); !params) problems.add("{}", params.error().message);
    if (auto zone = get(Table::meta, as_bytes(meta_dns_zone)); zone && *zone) {
        const std::string text(as_chars(**zone));
        if (auto checked = dns::check_zone(text); !checked || *checked != text)
            problems.add("the DNS zone '{}' is not a canonical zone name", text);
    }

    // Users decode and are well-named.
    std::set<std::string> users;
    {
        lmdb::Cursor cursor(txn_, dbs_[Table::users]);
        for (auto e = cursor.first(); e; e = cursor.next()) {
            const std::string name(as_chars(e->key));
            users.insert(name);
            if (!check_user_name(name)) problems.add("user key '{}' is not a valid name", name);
            auto user = decode_user(name, e->value);
            if (!user) {
                problems.add("{}", user.error().message);
                continue;
            }
            if (!crypto::phc_params(user->password_hash))
                problems.add("user {}'s password hash is not a valid Argon2id string", name);
        }
        if (!cursor.ok()) problems.add("reading users: {}", mdb_strerror(cursor.status()));
    }

    // Groups: valid, no overlapping prefixes, key ids unique and below the counter.
    std::map<std::string, Group> groups;
    {
        lmdb::Cursor cursor(txn_, dbs_[Table::groups]);
        for (auto e = cursor.first(); e; e = cursor.next()) {
            const std::string name(as_chars(e->key));
            auto g = decode_group(name, e->value);
            if (!g) {
                problems.add("{}", g.error().message);
                continue;
            }
            if (!check_group_name(name)) problems.add("group key '{}' is not a valid name", name);
            if (auto prefix_ok = check_group_prefix(g->prefix); !prefix_ok)
                problems.add("group {}: {}", name, prefix_ok.error().message);
            groups.emplace(name, std::move(*g));
        }
        if (!cursor.ok()) problems.add("reading groups: {}", mdb_strerror(cursor.status()));
    }
    std::uint64_t next_key_id = 1;
    if (auto v = get(Table::counters, as_bytes(counter_key_id)); v && *v) {
        wire::Reader r(**v);
        next_key_id = r.u64();
    }
    std::set<std::uint64_t> key_ids;
    for (auto a = groups.begin(); a != groups.end(); ++a) {
        for (auto b = std::next(a); b != groups.end(); ++b)
            if (a->second.prefix.overlaps(b->second.prefix))
                problems.add("groups {} and {} have overlapping prefixes {} and {}", a->first,
                             b->first, a->second.prefix.to_string(), b->second.prefix.to_string());
        for (const Epoch* epoch :
             {&a->second.current, a->second.previous ? &*a->second.previous : nullptr}) {
            if (!epoch) continue;
            if (!key_ids.insert(epoch->key_id).second)
                problems.add("key id {} is used twice (group {})", epoch->key_id, a->first);
            if (epoch->key_id >= next_key_id)
                problems.add("group {}'s key id {} is not below the key id counter {}", a->first,
                             epoch->key_id, next_key_id);
        }
    }

    // Memberships and the address index mirror each other exactly.
    std::map<std::string, std::uint64_t> counted;
    std::set<Bytes> membership_addresses;
    {
        lmdb::Cursor cursor(txn_, dbs_[Table::members]);
        for (auto e = cursor.first(); e; e = cursor.next()) {
            auto parts = split_key(e->key);
            if (!parts) {
                problems.add("a membership key has no separator");
                continue;
            }
            auto m = decode_membership(parts->first, parts->second, e->value);
            if (!m) {
                problems.add("{}", m.error().message);
                continue;
            }
            const std::string where = fmt::format("{}/{}", m->group, m->user);
            if (!users.count(m->user)) problems.add("membership {} names no user", where);
            auto g = groups.find(m->group);
            if (g == groups.end()) {
                problems.add("membership {} names no group", where);
                continue;
            }
            counted[m->group] += 1;
            if (!g->second.prefix.contains(m->address)) {
                problems.add("membership {} has address {} outside {}", where,
                             m->address.to_string(), g->second.prefix.to_string());
                continue;
            }
            auto offset = g->second.prefix.offset_of(m->address);
            if (offset < 1 || offset > last_offset(g->second.prefix))
                problems.add("membership {} has the reserved address {}", where,
                             m->address.to_string());
            const Bytes akey = address_key(m->group, m->address);
            membership_addresses.insert(akey);
            auto holder = get(Table::addresses, akey);
            if (!holder || !*holder || as_chars(**holder) != m->user)
                problems.add("address {} of membership {} is not indexed to it",
                             m->address.to_string(), where);
        }
        if (!cursor.ok()) problems.add("reading memberships: {}", mdb_strerror(cursor.status()));
    }
    {
        lmdb::Cursor cursor(txn_, dbs_[Table::addresses]);
        for (auto e = cursor.first(); e; e = cursor.next()) {
            if (!membership_addresses.count(Bytes(e->key.begin(), e->key.end()))) {
                auto parts = split_key(e->key);
                auto address = parts ? net::Address::from_bytes(as_bytes(parts->second))
                                     : std::optional<net::Address>();
                problems.add("address {} of group {} (held by {}) has no membership",
                             address ? address->to_string() : "?",
                             parts ? std::string(parts->first) : "?", as_chars(e->value));
            }
        }
        if (!cursor.ok()) problems.add("reading addresses: {}", mdb_strerror(cursor.status()));
    }
    for (const auto& [name, g] : groups)
        if (g.member_count != counted[name])
            problems.add("group {} counts {} members but has {}", name, g.member_count,
                         counted[name]);

    // Sessions belong to users, decode, and are indexed by their ids exactly.
    {
        std::set<Bytes> ids;
        std::set<std::uint32_t> indices;
        lmdb::Cursor cursor(txn_, dbs_[Table::sessions]);
        for (auto e = cursor.first(); e; e = cursor.next()) {
            const std::string user(as_chars(e->key));
            if (!users.count(user)) problems.add("a session belongs to no user ('{}')", user);
            auto session = decode_session(user, e->value);
            if (!session) {
                problems.add("{}", session.error().message);
                continue;
            }
            for (const auto& [group, index] : session->indices)
                if (!indices.insert(index).second)
                    problems.add("receiver index {} is used twice", index);
            ids.insert(session->id);
            auto indexed = get(Table::session_ids, session->id);
            if (!indexed || !*indexed || as_chars(**indexed) != user)
                problems.add("{}'s session is not indexed by its id", user);
        }
        lmdb::Cursor by_id(txn_, dbs_[Table::session_ids]);
        for (auto e = by_id.first(); e; e = by_id.next())
            if (!ids.count(Bytes(e->key.begin(), e->key.end())))
                problems.add("a session id of {} points to no session", as_chars(e->value));
    }

    // The audit log and the noise ring: entries decode, numbers lie in
    // [first, next), count within the limit.
    auto check_ring = [&](Table table, std::string_view what, std::string_view first_key,
                          std::string_view next_key, std::uint64_t limit, auto decode) {
        const std::uint64_t first = meta_u64(first_key);
        const std::uint64_t next = meta_u64(next_key);
        std::uint64_t count = 0;
        lmdb::Cursor cursor(txn_, dbs_[table]);
        for (auto e = cursor.first(); e; e = cursor.next()) {
            ++count;
            auto seq = parse_seq_key(e->key);
            if (!seq) {
                problems.add("{} key is malformed", what);
                continue;
            }
            if (*seq < first || *seq >= next)
                problems.add("{} entry {} lies outside [{}, {})", what, *seq, first, next);
            if (auto entry = decode(*seq, e->value); !entry)
                problems.add("{}", entry.error().message);
        }
        if (count > std::max<std::uint64_t>(limit, 1))
            problems.add("{} holds {} entries, over its limit of {}", what, count, limit);
    };
    check_ring(Table::audit, "the audit log", meta_audit_first, meta_audit_next, audit_limit(),
               decode_audit);
    check_ring(Table::noise, "the noise ring", meta_noise_first, meta_noise_next, noise_limit(),
               decode_noise);
    return std::move(problems).take();
}

}  // namespace cug::store
