// The local control socket: one key=value request, one answer (man/cugd.8).
#include "server/daemon_impl.hpp"

namespace cug::server {

std::string DaemonImpl::control_answer(const wire::Message& request) {
    const std::string cmd(request.get("cmd").value_or(""));
    wire::Message reply;
    auto error = [&](std::string_view message) {
        (void)reply.add("errno", "1");
        (void)reply.add("message", message);
        return reply.encode();
    };
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
        const std::string user(request.get("user").value_or(""));
        auto session = store_.read([&](store::ReadTxn& t) { return t.find_session(user); });
        if (!session) return error(session.error().message);
        if (!*session) return error(fmt::format("{} has no session", user));
        end_session(user, "session.kicked", "by the control socket", "kicked");
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    if (cmd == "rotate") {
        std::vector<std::string> groups;
        if (auto g = request.get("group")) {
            groups.emplace_back(*g);
        } else if (auto all = store_.read([](store::ReadTxn& t) { return t.groups(); })) {
            for (const auto& each : *all)
                groups.push_back(each.name);
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
    return error("unknown command");
}

// Local administrators and scripts: one request, one answer, then close.
void DaemonImpl::serve_control() {
    for (;;) {
        int fd = ::accept4(control_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;
        if (!net::trusted_local_peer(fd)) {
            ::close(fd);
            continue;
        }
        // A blocking read (accept4 does not pass O_NONBLOCK on) with a
        // deadline: local peers are root or ourselves.
        auto request = net::read_local(fd, std::chrono::seconds(1), wire::Limits{});
        const std::string answer =
            request ? control_answer(*request) : std::string("errno=1\nmessage=bad request\n\n");
        (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        ::close(fd);
    }
}

}  // namespace cug::server
