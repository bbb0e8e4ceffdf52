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
    std::chrono::milliseconds timeout{10'000};
};

struct LoginResult {
    std::string user;
    std::string server;            // as reached, for the agent to reconnect
    crypto::PublicKey server_key;  // pinned from the card
    std::string reader;
    protocol::Bundle bundle;
    crypto::SecretBuffer resume_key, push_key, udp_key;
};

// A TCP connection to HOST[:PORT] (names resolved), with a deadline.
// Errors carry Reason::unreachable.
Result<int> connect_tcp(const std::string& server, std::chrono::milliseconds timeout);

// Reads one key=value message from a blocking TLS stream.
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
