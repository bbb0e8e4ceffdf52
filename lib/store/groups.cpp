// Groups, their key epochs, and memberships with stable overlay addresses.
#include "core/time.hpp"
#include "crypto/random.hpp"
#include "store/internal.hpp"
#include "store/lmdb.hpp"
#include "store/names.hpp"

namespace cug::store {

Result<std::optional<Group>> ReadTxn::find_group(std::string_view name) const {
    auto value = CUG_TRY(get(Table::groups, as_bytes(name)));
    if (!value) return std::optional<Group>();
    return std::optional<Group>(CUG_TRY(decode_group(name, *value)));
}

Result<Group> ReadTxn::group(std::string_view name) const {
    auto found = CUG_TRY(find_group(name));
    if (!found) return make_error(Errc::not_found, "no group '{}'", name);
    return std::move(*found);
}

Result<std::vector<Group>> ReadTxn::groups() const {
    std::vector<Group> out;
    lmdb::Cursor cursor(txn_, dbs_[Table::groups]);
    for (auto e = cursor.first(); e; e = cursor.next())
        out.push_back(CUG_TRY(decode_group(as_chars(e->key), e->value)));
    if (!cursor.ok()) return lmdb::error_from(cursor.status(), "listing groups");
    return out;
}

Result<std::optional<Membership>> ReadTxn::find_membership(std::string_view user,
                                                           std::string_view group) const {
    auto value = CUG_TRY(get(Table::members, membership_key(user, group)));
    if (!value) return std::optional<Membership>();
    return std::optional<Membership>(CUG_TRY(decode_membership(user, group, *value)));
}

// The membership an address index entry points at.
Result<Membership> ReadTxn::membership_at(ByteView address_key, ByteView user) const {
    auto parts = split_key(address_key);
    if (!parts) return make_error(Errc::config, "the store is corrupt: bad address key");
    auto m = CUG_TRY(find_membership(as_chars(user), parts->first));
    if (!m)
        return make_error(Errc::config,
                          "the store is corrupt: address of {} in {} has no membership",
                          as_chars(user), parts->first);
    return std::move(*m);
}

Result<void> ReadTxn::for_each_member(
    const std::function<Result<void>(const Membership&)>& fn) const {
    lmdb::Cursor cursor(txn_, dbs_[Table::addresses]);
    for (auto e = cursor.first(); e; e = cursor.next()) {
        CUG_CHECK(fn(CUG_TRY(membership_at(e->key, e->value))));
    }
    if (!cursor.ok()) return lmdb::error_from(cursor.status(), "listing members");
    return ok();
}

Result<std::vector<Membership>> ReadTxn::members_of(std::string_view group) const {
    std::vector<Membership> out;
    const Bytes prefix = membership_key(group, "");  // group \0, as address keys begin
    lmdb::Cursor cursor(txn_, dbs_[Table::addresses]);
    for (auto e = cursor.seek(prefix); e && starts_with(e->key, prefix); e = cursor.next()) {
        out.push_back(CUG_TRY(membership_at(e->key, e->value)));
    }
    if (!cursor.ok()) return lmdb::error_from(cursor.status(), "listing members");
    return out;
}

Result<Group> WriteTxn::add_group(std::string_view name, const net::Prefix& prefix) {
    CUG_CHECK(check_group_name(name));
    CUG_CHECK(check_group_prefix(prefix));
    if (CUG_TRY(find_group(name)))
        return make_error(Errc::exists, "group '{}' already exists", name);
    for (const Group& other : CUG_TRY(groups()))
        if (other.prefix.overlaps(prefix))
            return make_error(Errc::invalid, "prefix {} overlaps group {}'s prefix {}",
                              prefix.to_string(), other.name, other.prefix.to_string());
    Group g;
    g.name = std::string(name);
    g.prefix = prefix;
    g.created = unix_now();
    g.current.key_id = CUG_TRY(next_counter(counter_key_id));
    g.current.secret = crypto::random_secret(32);
    g.current.created = g.created;
    CUG_CHECK(put(Table::groups, as_bytes(name), encode_group(g)));
    CUG_CHECK(
        audit_event("group.add", name,
                    fmt::format("prefix {}, key id {}", prefix.to_string(), g.current.key_id)));
    return g;
}

Result<Group> WriteTxn::rotate_epoch(std::string_view name) {
    Group g = CUG_TRY(group(name));
    Epoch next;
    next.key_id = CUG_TRY(next_counter(counter_key_id));
    next.secret = crypto::random_secret(32);
    next.created = unix_now();
    const std::uint64_t old_id = g.current.key_id;
    g.previous = std::move(g.current);
    g.current = std::move(next);
    CUG_CHECK(put(Table::groups, as_bytes(name), encode_group(g)));
    CUG_CHECK(audit_event("group.rotate", name,
                          fmt::format("key id {} -> {}", old_id, g.current.key_id)));
    return g;
}

Result<void> WriteTxn::delete_group(std::string_view name, bool force) {
    auto g = CUG_TRY(group(name));
    auto members = CUG_TRY(members_of(name));
    if (!members.empty() && !force)
        return make_error(Errc::invalid,
                          "group '{}' still has {} member{}; remove them first or use --force",
                          name, members.size(), members.size() == 1 ? "" : "s");
    for (const Membership& m : members)
        CUG_CHECK(remove_membership(g, m));
    CUG_CHECK(del(Table::groups, as_bytes(name)));
    return audit_event(
        "group.del", name,
        members.empty() ? std::string() : fmt::format("with {} members", members.size()));
}

namespace {

// The first free offset at or after `start`, wrapping to 1 past `last`.
// There is one: the caller checked member_count < last.
Result<unsigned __int128> find_free_offset(MDB_txn* txn, MDB_dbi addresses, const Group& g,
                                           unsigned __int128 start, unsigned __int128 last) {
    unsigned __int128 offset = start < 1 || start > last ? 1 : start;
    lmdb::Cursor cursor(txn, addresses);
    for (std::uint64_t step = 0; step <= g.member_count; ++step) {
        const Bytes key = address_key(g.name, *g.prefix.at(offset));
        auto e = cursor.seek(key);
        if (!cursor.ok()) return lmdb::error_from(cursor.status(), "allocating an address");
        if (!e || !std::equal(e->key.begin(), e->key.end(), key.begin(), key.end())) return offset;
        offset = offset == last ? 1 : offset + 1;
    }
    return make_error(Errc::config, "the store is corrupt: group {}'s member count is wrong",
                      g.name);
}

}  // namespace

Result<Membership> WriteTxn::add_member(std::string_view group_name, std::string_view user_name,
                                        std::optional<net::Address> address) {
    auto g = CUG_TRY(group(group_name));
    CUG_TRY(user(user_name));
    if (auto existing = CUG_TRY(find_membership(user_name, group_name)))
        return make_error(Errc::exists, "{} is already a member of {} (address {})", user_name,
                          group_name, existing->address.to_string());
    const unsigned __int128 last = last_offset(g.prefix);
    Membership m;
    m.user = std::string(user_name);
    m.group = std::string(group_name);
    m.added = unix_now();
    if (address) {
        if (!g.prefix.contains(*address))
            return make_error(Errc::invalid, "{} is not in group {}'s prefix {}",
                              address->to_string(), group_name, g.prefix.to_string());
        const unsigned __int128 offset = g.prefix.offset_of(*address);
        if (offset < 1 || offset > last)
            return make_error(Errc::invalid, "{} is the {} address of group {}'s prefix {}",
                              address->to_string(), offset == 0 ? "network" : "broadcast",
                              group_name, g.prefix.to_string());
        if (auto holder = CUG_TRY(get(Table::addresses, address_key(group_name, *address))))
            return make_error(Errc::exists, "{} is already {}'s address in {}",
                              address->to_string(), as_chars(*holder), group_name);
        m.address = *address;
    } else {
        if (g.member_count >= last)
            return make_error(Errc::unavailable, "group {}'s prefix {} is full ({} members)",
                              group_name, g.prefix.to_string(), g.member_count);
        const unsigned __int128 offset =
            CUG_TRY(find_free_offset(txn_, dbs_[Table::addresses], g, g.next_offset, last));
        m.address = *g.prefix.at(offset);
        const unsigned __int128 next = offset == last ? 1 : offset + 1;
        g.next_offset = next > UINT64_MAX ? 1 : static_cast<std::uint64_t>(next);
    }
    g.member_count += 1;
    CUG_CHECK(put(Table::members, membership_key(user_name, group_name), encode_membership(m)));
    CUG_CHECK(put(Table::addresses, address_key(group_name, m.address), as_bytes(user_name)));
    CUG_CHECK(put(Table::groups, as_bytes(group_name), encode_group(g)));
    CUG_CHECK(audit_event("member.add", fmt::format("{}/{}", group_name, user_name),
                          fmt::format("address {}", m.address.to_string())));
    return m;
}

Result<void> WriteTxn::delete_member(std::string_view group_name, std::string_view user_name) {
    auto g = CUG_TRY(group(group_name));
    auto m = CUG_TRY(find_membership(user_name, group_name));
    if (!m) {
        CUG_TRY(user(user_name));
        return make_error(Errc::not_found, "{} is not a member of {}", user_name, group_name);
    }
    CUG_CHECK(remove_membership(g, *m));
    CUG_CHECK(put(Table::groups, as_bytes(group_name), encode_group(g)));
    return audit_event("member.del", fmt::format("{}/{}", group_name, user_name),
                       fmt::format("address {}", m->address.to_string()));
}

// Removes the membership and its address and counts it out of `g`; the caller
// writes the group back (delete_group doesn't need to).
Result<void> WriteTxn::remove_membership(Group& g, const Membership& m) {
    CUG_CHECK(del(Table::members, membership_key(m.user, m.group)));
    CUG_CHECK(del(Table::addresses, address_key(m.group, m.address)));
    if (g.member_count > 0) g.member_count -= 1;
    // The live session loses the group with it: its receiver index is
    // retired, never carried over to a membership added again later.
    if (auto session = CUG_TRY(find_session(m.user)); session && session->index_in(m.group)) {
        std::erase_if(session->indices, [&](const auto& e) { return e.first == m.group; });
        if (session->indices.empty())
            return revoke_session(m.user, "the user is in no group any more");
        CUG_CHECK(put(Table::sessions, as_bytes(m.user), encode_session(*session)));
        CUG_CHECK(audit_event("session.groups", m.user, "-" + m.group));
    }
    return ok();
}

}  // namespace cug::store
