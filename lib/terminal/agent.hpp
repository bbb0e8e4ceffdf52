// The terminal agent inside cug-tun: it takes a session over from cug-login,
// holds its keys in locked memory only, keeps the control channel to cugd
// (resume, acknowledge, keepalives, reconnect with backoff), and wipes the
// keys first when the session ends. One event loop serves the local socket
// (net::LocalServer), the channel to cugd (terminal::ServerLink) and the UDP
// hello; card signatures run on a thread of their own: nothing blocks it. It applies cugd's pushes
// (peers up and down, groups lost and gained, endpoints), answers presence challenges with the
// card's 9E key, and tells cugd its UDP endpoint by an authenticated hello from the data plane's
// socket. Its local socket speaks key=value:
//
//   cmd=session ...   from cug-login: take over this session (answer once acknowledged)
//   cmd=show          the state, without secrets, with the data plane's and the
//                     resolver's counters and the names it answers for
//   cmd=logout        wipe the keys, then tell cugd (with session=ID: only if
//                     that is the session held; held=no when it is not)
//
// Only root and the agent's own user may connect (SO_PEERCRED).
#pragma once

#include "core/paths.hpp"
#include "core/result.hpp"
#include "dataplane/dataplane.hpp"
#include "net/address.hpp"
#include "terminal/login.hpp"
#include "terminal/system_dns.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace cug::terminal {

struct AgentConfig {
    std::string interface = "cug0";
    std::filesystem::path socket_dir{std::string(paths::run_dir)};
    dataplane::Config dataplane;  // its interface is `interface`
    // After set-up, run as this user keeping only CAP_NET_ADMIN (empty: stay).
    std::string user;
    std::chrono::seconds keepalive{25};
    std::chrono::seconds max_backoff{30};
    // Where to serve Prometheus' /metrics (none: not at all); bound before
    // privileges are dropped.
    std::optional<net::Endpoint> metrics;
    // The session's names (terminal/resolver.hpp): on this port of its
    // addresses (0: no resolver), and how the system is pointed at it.
    std::uint16_t dns_port = 53;
    DnsConfig dns_config = DnsConfig::automatic;
};

std::filesystem::path agent_socket(const std::filesystem::path& dir, const std::string& interface);

// cug-login's hand-off: the login result as the agent's cmd=session request.
wire::Message session_request(const LoginResult& login);
// The agent's answer to one request (a client's side of the local socket).
Result<wire::Message> ask_agent(const std::filesystem::path& socket, const wire::Message& request,
                                std::chrono::milliseconds timeout);

class Agent {
  public:
    static Result<std::unique_ptr<Agent>> create(AgentConfig config);
    virtual ~Agent() = default;
    virtual Result<void> run() = 0;
    virtual void stop() = 0;
};

}  // namespace cug::terminal
