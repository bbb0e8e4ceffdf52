// A card login at this terminal, as cug-login and pam_cug.so both do it (no
// second implementation): make sure cug-tun is there to take the session,
// read who the card says it is, log in at cugd with the PIN and password,
// and hand the session over to cug-tun; or, for a login that cug-tun never
// took (PAM: a later module failed), end it at cugd.
#pragma once

#include "card/card.hpp"
#include "terminal/login.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace cug::terminal {

struct CardLoginOptions {
    std::filesystem::path socket;               // cug-tun's (agent_socket)
    std::optional<std::string> reader;          // or the only reader holding a card
    std::string server;                         // HOST[:PORT]; empty: the server named on the card
    std::chrono::milliseconds timeout{10'000};  // each step with cugd or cug-tun
};

class CardLogin {
  public:
    // Asks cug-tun first (Reason::agent_missing), then opens the card
    // (Reason::no_card) and checks that cugd issued it. Nothing is asked of
    // the user yet, and nothing is sent to cugd.
    static Result<CardLogin> start(const CardLoginOptions& options);

    // The user ID the card carries, and the reader it is in.
    const std::string& user() const { return user_; }
    const std::string& reader() const { return card_.reader(); }
    int pin_tries_left() const { return pin_tries_left_; }
    const std::string& server() const { return server_; }

    // The login at cugd (terminal::log_in); errors carry their Reason. May be
    // called again with another password (the card is asked each time).
    Result<LoginResult> log_in(crypto::SecretBuffer pin, crypto::SecretBuffer password);

  private:
    CardLogin(card::Card card, std::string user, int tries, std::string server,
              std::chrono::milliseconds timeout)
        : card_(std::move(card)),
          user_(std::move(user)),
          pin_tries_left_(tries),
          server_(std::move(server)),
          timeout_(timeout) {}
    card::Card card_;
    std::string user_;
    int pin_tries_left_;
    std::string server_;
    std::chrono::milliseconds timeout_;
};

// Gives the session to cug-tun and waits until cugd acknowledged it there.
// cug-tun's refusals carry Reason::unreachable, server_mismatch or refused.
Result<void> hand_off(const std::filesystem::path& socket, const LoginResult& login,
                      std::chrono::milliseconds timeout);

// Asks cug-tun to end the session whose ID is `session`, and only that one:
// false when cug-tun holds another session, or none (it ended already).
Result<bool> log_out_session(const std::filesystem::path& socket, ByteView session,
                             std::string_view reason, std::chrono::milliseconds timeout);

// Ends at cugd a session that was never handed off: resumes it on a channel
// of its own (K_resume), then logs it out.
Result<void> abandon(const LoginResult& login, std::string_view reason,
                     std::chrono::milliseconds timeout);

}  // namespace cug::terminal
