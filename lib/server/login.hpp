// cugd's side of a login (docs/CONTROL-PLANE.md), as a state machine with no
// I/O: the daemon feeds it the messages of one TLS channel and carries out the
// steps it returns (send these, run this Argon2id check on the worker pool,
// close). So every rule of the login -- card proof before password, one
// answer for every failure before the card is proven, backoff, registration
// in the transaction that re-checks everything -- is tested without a network.
#pragma once

#include "core/time.hpp"
#include "net/address.hpp"
#include "protocol/login.hpp"
#include "server/noise.hpp"
#include "store/store.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cug::server {

struct LoginConfig {
    std::int64_t session_seconds = 12 * 3600;
    // Consecutive wrong passwords that cost no wait; once n >= free have
    // failed, the next check waits 2^(n - free) seconds (1, 2, 4, ...), at
    // most max_lockout.
    std::uint32_t free_failures = 4;
    std::int64_t max_lockout = 900;
    // The same per source address, over wrong passwords for any user: one
    // address holding several stolen cards does not get several free runs.
    std::uint32_t free_source_failures = 16;
    std::size_t max_sources = 100'000;  // addresses remembered at once
    // The clock the backoff reads (a test's own, to count exactly).
    std::int64_t (*clock)() = unix_now;
};

// Seconds of lockout after `failures` consecutive failures, the last at
// `last`: none while fewer than `free` have failed, then 2^(n - free), at most
// `max`.
std::int64_t backoff_left(std::uint32_t failures, std::int64_t last, std::uint32_t free,
                          std::int64_t max, std::int64_t now);
// Seconds a user must wait before the next password check (0: none).
std::int64_t lockout_left(const store::User& user, const LoginConfig& config, std::int64_t now);

// Wrong passwords per source address (in memory: a cugd restart forgets
// them). An address is forgotten max_lockout after its last failure; a
// success does not reset it (one good account must not launder the others'
// guesses). With max_sources addresses remembered, expired ones are dropped,
// and if none has expired a new address is not counted until one does.
class SourceBackoff {
  public:
    explicit SourceBackoff(const LoginConfig& config) : config_(config) {}
    std::int64_t left(const net::Address& source, std::int64_t now) const;
    void failed(const net::Address& source, std::int64_t now);
    std::size_t size() const { return entries_.size(); }

  private:
    struct Entry {
        std::uint32_t failures = 0;
        std::int64_t last = 0;
    };
    LoginConfig config_;
    std::map<net::Address, Entry> entries_;
};

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
    std::string refused;  // the reason, when this step refuses the login
};

class Login {
  public:
    // `exporter` is TLS-Exporter("EXPORTER-cug-login-v1", "", 32) of the channel.
    // `sources` (shared by all logins of a cugd; may be null) counts wrong
    // passwords per source address. Refusals after the card proof are
    // audited; those before it are a stranger's noise, counted in `noise`
    // (audited one by one when it is null).
    Login(store::Store& store, LoginConfig config, Bytes exporter, net::Endpoint peer,
          SourceBackoff* sources = nullptr, NoiseLog* noise = nullptr);

    LoginStep on_message(const wire::Message& message, std::string_view encoded);
    LoginStep password_checked(Result<bool> match);
    bool finished() const { return state_ == State::finished; }
    // Who the terminal said it is, if that is a valid user ID (empty before
    // its hello, or for junk a stranger sent): for logs only.
    std::string user() const;

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
    SourceBackoff* sources_ = nullptr;
    NoiseLog* noise_ = nullptr;
    State state_ = State::hello;
    bool proven_ = false;  // the card proof held

    std::string user_;
    bool doomed_ = false;  // unknown user or no card: answered like the others, then refused
    std::optional<crypto::PrivateKey> ephemeral_;
    std::optional<crypto::PublicKey> card_key_;
    Bytes card_serial_;
    std::string hello_, challenge_;
    std::optional<protocol::LoginKeys> keys_;
};

}  // namespace cug::server
