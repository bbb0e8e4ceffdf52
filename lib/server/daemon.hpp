// cugd: one thread with an epoll loop that holds every terminal's TLS channel
// and the UDP socket for the terminals' hellos, a pool of threads that run
// Argon2id (so the loop never blocks on it), and a local control socket that
// speaks key=value (man/cugd.8). It pushes every change of a session's peers to
// the terminals concerned (docs/CONTROL-PLANE.md, "Session life").
#pragma once

#include "net/address.hpp"
#include "server/login.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace cug::server {

struct DaemonConfig {
    std::filesystem::path store_dir;
    net::Endpoint listen;                  // TCP for the control channel
    std::filesystem::path control_socket;  // local key=value socket
    LoginConfig login;
    unsigned hash_workers = 2;            // Argon2id threads (the global concurrency limit)
    unsigned tls_workers = 1;             // threads for TLS handshakes of new connections
    std::int64_t handshake_seconds = 10;  // to finish TLS and the login
    std::int64_t idle_seconds = 90;       // a silent channel is dead
    std::int64_t ack_seconds = 30;        // a bundle not acknowledged by then is dropped
    std::int64_t presence_seconds = 600;  // how often the card must prove it is there
    std::int64_t presence_timeout = 30;   // to answer a presence challenge
    std::int64_t rotate_seconds = 3600;   // every group's epoch rotates this often...
    std::int64_t first_rotation = 60;     // ...and this long after start (terminals resume first)
    std::int64_t rekey_timeout = 3;       // to acknowledge a rotation's new keys
};

class Daemon {
  public:
    static Result<std::unique_ptr<Daemon>> create(DaemonConfig config);
    virtual ~Daemon() = default;
    // Serves until stop() or SIGTERM/SIGINT; returns the error that ended it.
    virtual Result<void> run() = 0;
    // Thread-safe: makes run() return.
    virtual void stop() = 0;
    // The TCP port actually bound (for a configured port 0).
    virtual std::uint16_t port() const = 0;
};

}  // namespace cug::server
