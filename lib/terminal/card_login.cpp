#include "terminal/card_login.hpp"

#include "protocol/login.hpp"
#include "terminal/agent.hpp"

namespace cug::terminal {

Result<CardLogin> CardLogin::start(const CardLoginOptions& o) {
    // Fail before asking for anything if nobody can take the session.
    wire::Message show;
    CUG_CHECK(show.add("cmd", "show"));
    CUG_TRY(ask_agent(o.socket, show, o.timeout));
    auto card = CUG_TRY(card::Card::open(o.reader));
    auto id = CUG_TRY(card.identity());
    CUG_CHECK(id.check_issued());
    std::string server = o.server.empty() ? id.server_certificate->subject_cn() : o.server;
    return CardLogin(std::move(card), id.user_id(), id.pin_tries_left, std::move(server),
                     o.timeout);
}

Result<LoginResult> CardLogin::log_in(crypto::SecretBuffer pin, crypto::SecretBuffer password) {
    LoginOptions o;
    o.server = server_;
    o.pin = std::move(pin);
    o.password = std::move(password);
    o.timeout = timeout_;
    return terminal::log_in(card_, o);
}

Result<void> hand_off(const std::filesystem::path& socket, const LoginResult& login,
                      std::chrono::milliseconds timeout) {
    wire::Message handoff = session_request(login);
    auto answer = ask_agent(socket, handoff, timeout);
    handoff.wipe();
    if (!answer) return std::move(answer).error();
    if (answer->get("errno").value_or("1") == "0") return ok();
    Error e = make_error(Errc::unavailable, "cug-tun could not take the session: {}",
                         answer->get("message").value_or("no reason given"));
    const std::string_view why = answer->get("reason").value_or("");
    if (why == "unreachable") e.reason = Reason::unreachable;  // cugd went away
    if (why == "server-mismatch") e.reason = Reason::server_mismatch;
    if (why == "refused") e.reason = Reason::refused;
    return e;
}

Result<bool> log_out_session(const std::filesystem::path& socket, ByteView session,
                             std::string_view reason, std::chrono::milliseconds timeout) {
    wire::Message request;
    CUG_CHECK(request.add("cmd", "logout"));
    CUG_CHECK(request.add_bytes("session", session));
    CUG_CHECK(request.add("reason", reason));
    auto answer = CUG_TRY(ask_agent(socket, request, timeout));
    if (answer.get("errno").value_or("1") != "0")
        return make_error(Errc::unavailable, "cug-tun did not log out: {}",
                          answer.get("message").value_or("no reason given"));
    return answer.get("held").value_or("yes") == "yes";
}

Result<void> abandon(const LoginResult& login, std::string_view reason,
                     std::chrono::milliseconds timeout) {
    const int fd = CUG_TRY(connect_tcp(login.server, timeout));
    auto context = CUG_TRY(net::TlsContext::client());
    auto tls = CUG_TRY(net::TlsStream::connect(context, fd, login.server_key, timeout));
    set_io_timeout(tls.fd(), timeout);
    const Bytes exporter =
        CUG_TRY(tls.exporter(protocol::exporter_resume, protocol::exporter_size));
    wire::Decoder decoder(protocol::channel_limits());
    // What cugd sends a resumed channel (its sync, pushes) before the
    // answer counts for nothing here; a bound on them keeps a chatty or
    // hostile peer from holding the caller.
    auto until = [&](std::string_view want) -> Result<bool> {
        for (int i = 0; i < 4096; ++i) {
            auto m = CUG_TRY(read_message(tls, decoder));
            const std::string_view type = m.get("type").value_or("");
            if (type == want) return true;
            if (type == "refused") return false;
        }
        return make_error(Errc::protocol, "cugd did not answer the {}", want);
    };
    wire::Message resume;
    CUG_CHECK(resume.add("type", "resume"));
    CUG_CHECK(resume.add_bytes("session", login.bundle.session));
    CUG_CHECK(resume.add_bytes("proof", protocol::resume_proof(login.resume_key.view(), exporter)));
    CUG_CHECK(write_message(tls, resume.encode()));
    // Refused: the session is gone already (expired, or replaced by a newer
    // login); nothing is left to end.
    if (!CUG_TRY(until("resumed"))) return ok();
    wire::Message logout;
    CUG_CHECK(logout.add("type", "logout"));
    CUG_CHECK(logout.add("reason", reason));
    CUG_CHECK(write_message(tls, logout.encode()));
    CUG_TRY(until("bye"));
    tls.close();
    return ok();
}

}  // namespace cug::terminal
