// The registration table: who is logged in, from where, with which session.
#include "core/time.hpp"
#include "store/internal.hpp"
#include "store/lmdb.hpp"

#include <algorithm>

namespace cug::store {

Result<std::optional<Session>> ReadTxn::find_session(std::string_view user) const {
    auto value = CUG_TRY(get(Table::sessions, as_bytes(user)));
    if (!value) return std::optional<Session>();
    return std::optional<Session>(CUG_TRY(decode_session(user, *value)));
}

Result<std::optional<Session>> ReadTxn::find_session_by_id(ByteView id) const {
    auto user = CUG_TRY(get(Table::session_ids, id));
    if (!user) return std::optional<Session>();
    auto session = CUG_TRY(find_session(as_chars(*user)));
    if (!session || session->id != Bytes(id.begin(), id.end()))
        return make_error(Errc::config, "the store is corrupt: a session id points nowhere");
    return session;
}

Result<std::vector<Session>> ReadTxn::sessions() const {
    std::vector<Session> out;
    lmdb::Cursor cursor(txn_, dbs_[Table::sessions]);
    for (auto e = cursor.first(); e; e = cursor.next())
        out.push_back(CUG_TRY(decode_session(as_chars(e->key), e->value)));
    if (!cursor.ok()) return lmdb::error_from(cursor.status(), "listing sessions");
    return out;
}

Result<void> WriteTxn::remove_session(const Session& session) {
    CUG_CHECK(del(Table::sessions, as_bytes(session.user)));
    if (CUG_TRY(get(Table::session_ids, session.id)))
        CUG_CHECK(del(Table::session_ids, session.id));
    return ok();
}

Result<std::optional<Session>> WriteTxn::register_session(Session session) {
    CUG_TRY(user(session.user));
    if (session.id.size() != 16)
        return make_error(Errc::invalid, "a session id is 16 bytes, not {}", session.id.size());
    if (CUG_TRY(get(Table::session_ids, session.id)))
        return make_error(Errc::exists, "session id already in use");
    auto previous = CUG_TRY(find_session(session.user));
    if (previous) CUG_CHECK(remove_session(*previous));
    // Receiver indices come from a counter that is never reset; a 32-bit
    // space lasts four billion group logins.
    session.indices.clear();
    for (const Membership& m : CUG_TRY(memberships_of(session.user))) {
        const std::uint64_t index = CUG_TRY(next_counter(counter_session_index));
        if (index > UINT32_MAX)
            return make_error(Errc::unavailable, "receiver indices are exhausted");
        session.indices.emplace_back(m.group, static_cast<std::uint32_t>(index));
    }
    CUG_CHECK(put(Table::sessions, as_bytes(session.user), encode_session(session)));
    CUG_CHECK(put(Table::session_ids, session.id, as_bytes(session.user)));
    CUG_CHECK(audit_event(
        "session.login", session.user,
        fmt::format(
            "from {}{}", session.control ? session.control->to_string() : "?",
            previous ? ", replacing the session from " +
                           (previous->control ? previous->control->to_string() : std::string("?"))
                     : "")));
    return previous;
}

Result<void> WriteTxn::touch_session(std::string_view user_name, std::int64_t last_seen,
                                     const std::optional<net::Endpoint>& endpoint) {
    auto session = CUG_TRY(find_session(user_name));
    if (!session) return make_error(Errc::not_found, "{} has no session", user_name);
    session->last_seen = last_seen;
    if (endpoint) session->endpoint = endpoint;
    return put(Table::sessions, as_bytes(user_name), encode_session(*session));
}

Result<void> WriteTxn::acknowledge_session(std::string_view user_name) {
    auto session = CUG_TRY(find_session(user_name));
    if (!session) return make_error(Errc::not_found, "{} has no session", user_name);
    session->acknowledged = true;
    return put(Table::sessions, as_bytes(user_name), encode_session(*session));
}

Result<WriteTxn::GroupChange> WriteTxn::follow_memberships(std::string_view user_name) {
    auto session = CUG_TRY(find_session(user_name));
    if (!session) return make_error(Errc::not_found, "{} has no session", user_name);
    const auto memberships = CUG_TRY(memberships_of(user_name));
    GroupChange change;
    std::vector<std::pair<std::string, std::uint32_t>> kept;
    for (const auto& entry : session->indices) {
        const bool still = std::any_of(memberships.begin(), memberships.end(),
                                       [&](const Membership& m) { return m.group == entry.first; });
        if (still)
            kept.push_back(entry);
        else
            change.left.push_back(entry.first);
    }
    for (const Membership& m : memberships) {
        if (session->index_in(m.group)) continue;
        const std::uint64_t index = CUG_TRY(next_counter(counter_session_index));
        if (index > UINT32_MAX)
            return make_error(Errc::unavailable, "receiver indices are exhausted");
        kept.emplace_back(m.group, static_cast<std::uint32_t>(index));
        change.joined.push_back(m.group);
    }
    if (change.empty()) return change;
    session->indices = std::move(kept);
    CUG_CHECK(put(Table::sessions, as_bytes(user_name), encode_session(*session)));
    std::string detail;
    for (const auto& g : change.joined)
        detail += (detail.empty() ? "+" : " +") + g;
    for (const auto& g : change.left)
        detail += (detail.empty() ? "-" : " -") + g;
    CUG_CHECK(audit_event("session.groups", user_name, detail));
    return change;
}

Result<void> WriteTxn::end_session(std::string_view user_name, std::string_view why,
                                   std::string_view detail) {
    auto session = CUG_TRY(find_session(user_name));
    if (!session) return make_error(Errc::not_found, "{} has no session", user_name);
    CUG_CHECK(remove_session(*session));
    return audit_event(why, user_name, detail);
}

}  // namespace cug::store
