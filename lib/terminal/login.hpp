// The terminal's side of a login (docs/CONTROL-PLANE.md): what cug-login does
// between "card in" and "session handed to cug-tun".
#pragma once

#include "card/card.hpp"
#include "net/address.hpp"
#include "net/tls.hpp"
#include "protocol/login.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace cug::terminal {

// The default port of cugd's control channel.
inline constexpr std::uint16_t default_port = 7443;

struct LoginOptions {
    std::string server;  // HOST[:PORT] or [IPv6]:PORT
    crypto::SecretBuffer pin;
    crypto::SecretBuffer password;
    std::chrono::milliseconds timeout{10'000};  // connecting, and each answer of cugd's
};

struct LoginResult {
    std::string user;
    std::string server;            // as reached, for the agent to reconnect
    crypto::PublicKey server_key;  // pinned from the card
    std::string reader;
    protocol::Bundle bundle;
    crypto::SecretBuffer resume_key, push_key, udp_key;
};

// HOST[:PORT], [IPv6]:PORT or [IPv6] as host and port (default_port if none).
Result<std::pair<std::string, std::string>> split_server(const std::string& server);
// The error for a cugd that cannot be reached (Reason::unreachable).
Error unreachable(std::string_view server, std::string_view why);

// A TCP connection to HOST[:PORT] (names resolved), with a deadline.
// Errors carry Reason::unreachable.
Result<int> connect_tcp(const std::string& server, std::chrono::milliseconds timeout);

// Bounds each later read and write on a blocking socket (SO_RCVTIMEO,
// SO_SNDTIMEO): a cugd that stops answering is an error, not a hang.
void set_io_timeout(int fd, std::chrono::milliseconds timeout);

// Reads one key=value message from a blocking TLS stream. A channel that
// ends, breaks or stays silent past set_io_timeout is Reason::unreachable; a
// malformed message is not.
Result<wire::Message> read_message(net::TlsStream& tls, wire::Decoder& decoder);
Result<void> write_message(net::TlsStream& tls, const std::string& encoded);

// What a login needs of the card: who, which keys, and the ECDH with the
// key-agreement key (PIN included). log_in(Card&) fills it from a real card;
// the load program (bench/) from software keys.
struct LoginCredentials {
    std::string user;
    crypto::PublicKey card_key;
    crypto::PublicKey server_key;  // pinned
    std::string reader;
    std::function<Result<crypto::SecretBuffer>(const crypto::PublicKey& ephemeral)> agree;
};

// The whole login. Errors carry a Reason for cug-login's exit status.
Result<LoginResult> log_in(card::Card& card, const LoginOptions& options);
Result<LoginResult> log_in(const LoginCredentials& credentials, const LoginOptions& options);

}  // namespace cug::terminal
