// The local control socket: one key=value request, one answer (man/cugd.8).
// Each request is checked whole (its command, every key, every value) before
// anything is done; a bad one changes nothing and gets errno=1 and why.
#include "server/daemon_impl.hpp"

#include "store/names.hpp"

namespace cug::server {

// The keys each command takes, beyond cmd.
Result<void> check_control_request(const wire::Message& r) {
    const std::string_view cmd = CUG_TRY(r.get("cmd"));
    if (cmd == "status" || cmd == "sessions" || cmd == "reconcile") return r.allow_only({"cmd"});
    if (cmd == "kick") {
        CUG_CHECK(r.allow_only({"cmd", "user"}));
        const std::string_view user = CUG_TRY(r.get("user"));
        if (!store::check_user_name(user))
            return make_error(Errc::invalid, "user= is not a user ID");
        return ok();
    }
    if (cmd == "rotate") {
        CUG_CHECK(r.allow_only({"cmd", "group"}));
        if (auto g = r.find("group"); g && !store::check_group_name(*g))
            return make_error(Errc::invalid, "group= is not a group name");
        return ok();
    }
    return make_error(Errc::invalid, "unknown command '{}'", wire::quote_for_message(cmd, 32));
}

std::string DaemonImpl::control_answer(const wire::Message& request) {
    wire::Message reply;
    auto error = [&](std::string_view message) {
        (void)reply.add("errno", "1");
        (void)reply.add("message", message);
        return reply.encode();
    };
    if (auto checked = check_control_request(request); !checked)
        return error(checked.error().message);
    const std::string cmd(*request.get("cmd"));
    if (cmd != "status" && cmd != "sessions") {  // what changes something is logged
        auto or_empty = [&](std::string_view k) {
            const std::string* v = request.find(k);
            return v ? *v : std::string();
        };
        log::event(log::Priority::info, "control",
                   {{"cmd", cmd}, {"user", or_empty("user")}, {"group", or_empty("group")}});
    }
    if (cmd == "status") {
        auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
        (void)reply.add_u64("uptime", static_cast<std::uint64_t>(unix_now() - started_));
        (void)reply.add_u64("channels", channels_.size());
        (void)reply.add_u64("handshakes", handshakes_->pending());
        (void)reply.add_u64("startups", startups_);
        (void)reply.add_u64("refused_connections",
                            noise_.total(NoiseLog::Kind::connection_refused));
        (void)reply.add_u64("failed_handshakes", noise_.total(NoiseLog::Kind::handshake_failed));
        (void)reply.add_u64("refused_logins", noise_.total(NoiseLog::Kind::login_refused));
        (void)reply.add_u64("refused_resumes", noise_.total(NoiseLog::Kind::resume_refused));
        (void)reply.add_u64("sessions", sessions ? sessions->size() : 0);
        (void)reply.add_u64("port", port_);
        (void)reply.add_u64("reconcile_requests", reconcile_requests_);
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    if (cmd == "sessions") {
        auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
        if (!sessions) return error(sessions.error().message);
        (void)reply.add_u64("sessions", sessions->size());
        for (std::size_t i = 0; i < sessions->size(); ++i) {
            const auto& s = (*sessions)[i];
            const std::string p = fmt::format("session.{}.", i);
            (void)reply.add(p + "user", s.user);
            (void)reply.add(p + "terminal", s.endpoint  ? s.endpoint->to_string()
                                            : s.control ? s.control->to_string()
                                                        : "-");
            (void)reply.add_u64(p + "since", static_cast<std::uint64_t>(s.login_time));
            (void)reply.add_bool(p + "acknowledged", s.acknowledged);
            (void)reply.add_bool(p + "connected", live_channel(s.user) != nullptr);
        }
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    if (cmd == "kick") {
        const std::string user(*request.get("user"));
        auto session = store_.read([&](store::ReadTxn& t) { return t.find_session(user); });
        if (!session) return error(session.error().message);
        if (!*session) return error(fmt::format("{} has no session", user));
        end_session(user, "session.kicked", "by the control socket", "kicked");
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    if (cmd == "rotate") {
        std::vector<std::string> groups;
        if (auto g = request.find("group")) {
            auto found = store_.read([&](store::ReadTxn& t) { return t.find_group(*g); });
            if (!found) return error(found.error().message);
            if (!*found) return error(fmt::format("no group '{}'", *g));
            groups.push_back(*g);
        } else if (auto all = store_.read([](store::ReadTxn& t) { return t.groups(); })) {
            for (const auto& each : *all)
                groups.push_back(each.name);
        } else {
            return error(all.error().message);
        }
        rotate(groups);
        (void)reply.add_u64("rotating", rotations_.size());
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    if (cmd == "reconcile") {
        ++reconcile_requests_;
        auto generation =
            store_.read([](store::ReadTxn& t) -> Result<std::uint64_t> { return t.generation(); });
        if (generation) generation_ = *generation;
        reconcile();
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    return error("unknown command");  // check_request let nothing else through
}

// Local administrators and scripts: one request, one answer, then close;
// served from the event loop, so a slow or idle client delays nobody.
void DaemonImpl::serve_control() {
    for (auto& request : control_->serve())
        control_->reply(request.id, control_answer(request.message));
}

}  // namespace cug::server
