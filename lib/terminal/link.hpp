// The agent's connection to cugd, driven from its event loop and never
// blocking it: the server's name is resolved on a thread of its own, TCP
// connects and TLS 1.3 shakes hands without blocking, the server key is
// checked against the card's before a byte is sent, and then key=value
// messages go both ways through buffers. What a resume or an acknowledgement
// means is the agent's business; this is the transport.
#pragma once

#include "crypto/p256.hpp"
#include "net/address.hpp"
#include "net/tls.hpp"
#include "wire/kv.hpp"

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace cug::terminal {

class ServerLink {
  public:
    // Starts: HOST[:PORT], the key the card pins, and how long the whole
    // connection (name, TCP, TLS) may take.
    static std::unique_ptr<ServerLink> open(std::string server, crypto::PublicKey pinned,
                                            std::chrono::milliseconds timeout);
    ~ServerLink();
    ServerLink(const ServerLink&) = delete;
    ServerLink& operator=(const ServerLink&) = delete;

    // What the caller's poll waits for (fd -1: nothing, only the deadline).
    int fd() const;
    short events() const;
    // Goes on as far as it can without blocking: after fd() was ready, and
    // at least once a second (deadlines).
    void advance();

    bool up() const { return state_ == State::up; }
    bool failed() const { return state_ == State::failed; }
    // Why it failed: Errc::permission for a server key that is not the
    // card's, Errc::unavailable (Reason::unreachable) for the rest.
    const Error& error() const { return *error_; }

    // Once up.
    Result<Bytes> exporter(std::string_view label, std::size_t length) const;
    std::optional<net::Endpoint> peer() const { return peer_; }  // cugd's address and port
    void send(std::string encoded);                              // queued, wiped once written
    // The next message cugd sent, if one is complete.
    std::optional<wire::Message> next();

  private:
    enum class State { resolving, connecting, handshaking, up, failed };
    struct Resolution;
    ServerLink() = default;
    void fail(Error e);
    void try_next_address();
    void pump_io();

    std::string server_;
    crypto::PublicKey pinned_{nullptr};
    std::chrono::steady_clock::time_point deadline_;
    State state_ = State::resolving;
    std::optional<Error> error_;
    std::shared_ptr<Resolution> resolution_;
    std::deque<std::pair<sockaddr_storage, socklen_t>> addresses_;
    std::string last_failure_ = "no address";
    int socket_ = -1;  // while connecting
    std::optional<net::TlsContext> context_;
    std::optional<net::TlsStream> tls_;
    net::TlsWait wants_ = net::TlsWait::none;
    std::optional<net::Endpoint> peer_;
    std::string out_;
    std::size_t written_ = 0;
    wire::Decoder decoder_;
    std::deque<wire::Message> in_;
};

}  // namespace cug::terminal
