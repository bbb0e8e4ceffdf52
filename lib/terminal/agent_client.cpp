// The client's side of cug-tun's local socket (terminal/agent.hpp): what
// cug-login, cug-logout and pam_cug.so need, apart from the agent itself (so
// the PAM module carries none of the data plane, the resolver or /metrics).
#include "net/local.hpp"
#include "protocol/session.hpp"
#include "terminal/agent.hpp"

namespace cug::terminal {

std::filesystem::path agent_socket(const std::filesystem::path& dir, const std::string& interface) {
    return dir / (interface + ".sock");
}

wire::Message session_request(const LoginResult& r) {
    wire::Message m;
    (void)m.add("cmd", "session");
    (void)m.add("user", r.user);
    (void)m.add("server", r.server);
    (void)m.add_bytes("server_key", r.server_key.to_der());
    (void)m.add("reader", r.reader);
    (void)m.add_bytes("resume_key", r.resume_key.view());
    (void)m.add_bytes("push_key", r.push_key.view());
    (void)m.add_bytes("udp_key", r.udp_key.view());
    wire::Message bundle = protocol::encode_bundle(r.bundle);
    std::string text = bundle.encode();
    bundle.wipe();
    (void)m.add_bytes("bundle", as_bytes(text));
    explicit_bzero(text.data(), text.size());
    return m;
}

Result<wire::Message> ask_agent(const std::filesystem::path& socket, const wire::Message& request,
                                std::chrono::milliseconds timeout) {
    auto answer = net::ask_local(socket, request, timeout, protocol::channel_limits());
    if (!answer && answer.error().code == Errc::unavailable)
        return with_reason(
            make_error(Errc::unavailable, "cug-tun is not running ({})", answer.error().message),
            Reason::agent_missing);
    return answer;
}

}  // namespace cug::terminal
