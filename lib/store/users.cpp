// Users: reading, adding, removing, passwords and state.
#include "core/time.hpp"
#include "store/internal.hpp"
#include "store/lmdb.hpp"
#include "store/names.hpp"

namespace cug::store {

Result<std::optional<User>> ReadTxn::find_user(std::string_view name) const {
    auto value = CUG_TRY(get(Table::users, as_bytes(name)));
    if (!value) return std::optional<User>();
    return std::optional<User>(CUG_TRY(decode_user(name, *value)));
}

Result<User> ReadTxn::user(std::string_view name) const {
    auto found = CUG_TRY(find_user(name));
    if (!found) return make_error(Errc::not_found, "no user '{}'", name);
    return std::move(*found);
}

Result<void> ReadTxn::for_each_user(const std::function<Result<void>(const User&)>& fn) const {
    lmdb::Cursor cursor(txn_, dbs_[Table::users]);
    for (auto e = cursor.first(); e; e = cursor.next()) {
        auto user = CUG_TRY(decode_user(as_chars(e->key), e->value));
        CUG_CHECK(fn(user));
    }
    if (!cursor.ok()) return lmdb::error_from(cursor.status(), "listing users");
    return ok();
}

Result<std::vector<Membership>> ReadTxn::memberships_of(std::string_view user) const {
    std::vector<Membership> out;
    const Bytes prefix = membership_key(user, "");
    lmdb::Cursor cursor(txn_, dbs_[Table::members]);
    for (auto e = cursor.seek(prefix); e && starts_with(e->key, prefix); e = cursor.next()) {
        auto parts = split_key(e->key);
        out.push_back(CUG_TRY(decode_membership(parts->first, parts->second, e->value)));
    }
    if (!cursor.ok()) return lmdb::error_from(cursor.status(), "listing memberships");
    return out;
}

Result<void> WriteTxn::add_user(std::string_view name, std::string password_hash) {
    CUG_CHECK(check_user_name(name));
    if (CUG_TRY(find_user(name))) return make_error(Errc::exists, "user '{}' already exists", name);
    User user;
    user.name = std::string(name);
    user.created = user.password_changed = unix_now();
    user.password_hash = std::move(password_hash);
    CUG_CHECK(put(Table::users, as_bytes(name), encode_user(user)));
    return audit_event("user.add", name, "");
}

Result<void> WriteTxn::delete_user(std::string_view name) {
    CUG_TRY(user(name));
    CUG_CHECK(revoke_session(name, "the user was removed"));
    std::string left;
    for (const Membership& m : CUG_TRY(memberships_of(name))) {
        auto group = CUG_TRY(this->group(m.group));
        CUG_CHECK(remove_membership(group, m));
        CUG_CHECK(put(Table::groups, as_bytes(group.name), encode_group(group)));
        left += fmt::format("{}{} ({})", left.empty() ? "removed from " : ", ", m.group,
                            m.address.to_string());
    }
    CUG_CHECK(del(Table::users, as_bytes(name)));
    return audit_event("user.del", name, left);
}

Result<void> WriteTxn::set_password(std::string_view name, std::string password_hash) {
    auto u = CUG_TRY(user(name));
    u.password_hash = std::move(password_hash);
    u.password_changed = unix_now();
    u.failed_logins = 0;
    CUG_CHECK(put(Table::users, as_bytes(name), encode_user(u)));
    return audit_event("user.passwd", name, "");
}

Result<void> WriteTxn::set_enabled(std::string_view name, bool enabled) {
    auto u = CUG_TRY(user(name));
    if (u.enabled == enabled) return ok();  // nothing changes, nothing to record
    u.enabled = enabled;
    if (enabled) u.failed_logins = 0;
    CUG_CHECK(put(Table::users, as_bytes(name), encode_user(u)));
    CUG_CHECK(audit_event(enabled ? "user.enable" : "user.disable", name, ""));
    if (!enabled) CUG_CHECK(revoke_session(name, "the user was disabled"));
    return ok();
}

Result<void> WriteTxn::put_user(const User& u) {
    CUG_CHECK(check_user_name(u.name));
    CUG_CHECK(put(Table::users, as_bytes(u.name), encode_user(u)));
    auto session = CUG_TRY(find_session(u.name));
    if (session && (!u.card || u.card->certificate_serial != session->card_serial))
        CUG_CHECK(
            revoke_session(u.name, u.card ? "the card was re-enrolled" : "the card was revoked"));
    return ok();
}

Result<void> WriteTxn::revoke_session(std::string_view name, std::string_view why) {
    auto session = CUG_TRY(find_session(name));
    if (!session) return ok();
    CUG_CHECK(remove_session(*session));
    return audit_event("session.revoked", name, why);
}

}  // namespace cug::store
