// cugd's side of a login (docs/CONTROL-PLANE.md), as a state machine with no
// I/O: the daemon feeds it the messages of one TLS channel and carries out the
// steps it returns (send these, run this Argon2id check on the worker pool,
// close). So every rule of the login -- card proof before password, one
// answer for every failure before the card is proven, backoff, registration
// in the transaction that re-checks everything -- is tested without a network.
#pragma once

#include "net/address.hpp"
#include "protocol/login.hpp"
#include "store/store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace cug::server {

struct LoginConfig {
    std::int64_t session_seconds = 12 * 3600;
    // Consecutive wrong passwords that are free; then 2^(n - free) seconds of
    // lockout, at most max_lockout.
    std::uint32_t free_failures = 4;
    std::int64_t max_lockout = 900;
};

// Seconds a user must wait before the next password check (0: none).
std::int64_t lockout_left(const store::User& user, const LoginConfig& config, std::int64_t now);

struct PasswordCheck {
    std::string phc;
    crypto::SecretBuffer password;
};

struct LoginStep {
    std::vector<std::string> send;           // encoded messages, in order
    std::optional<PasswordCheck> verify;     // run it, then call password_checked()
    bool close = false;                      // close the channel after sending
    std::optional<store::Session> replaced;  // a previous session of the user, to end
    std::optional<store::Session> registered;
};

class Login {
  public:
    // `exporter` is TLS-Exporter("EXPORTER-cug-login-v1", "", 32) of the channel.
    Login(store::Store& store, LoginConfig config, Bytes exporter, net::Endpoint peer);

    LoginStep on_message(const wire::Message& message, std::string_view encoded);
    LoginStep password_checked(Result<bool> match);
    bool finished() const { return state_ == State::finished; }

  private:
    enum class State { hello, proof, password, finished };

    LoginStep on_hello(const wire::Message& m, std::string_view encoded);
    LoginStep on_proof(const wire::Message& m);
    LoginStep refuse(std::string_view reason, std::string_view audit_detail,
                     std::optional<std::int64_t> retry_after = std::nullopt);
    Result<LoginStep> register_session();

    store::Store& store_;
    LoginConfig config_;
    Bytes exporter_;
    net::Endpoint peer_;
    State state_ = State::hello;

    std::string user_;
    bool doomed_ = false;  // unknown user or no card: answered like the others, then refused
    std::optional<crypto::PrivateKey> ephemeral_;
    std::optional<crypto::PublicKey> card_key_;
    Bytes card_serial_;
    std::string hello_, challenge_;
    std::optional<protocol::LoginKeys> keys_;
};

}  // namespace cug::server
