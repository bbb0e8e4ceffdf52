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
    // Connections not yet bound to a session (in their TLS handshake, or in
    // a login or resume): beyond `start` of them a new one is refused with a
    // probability that grows from `rate` percent to 100 at `full` (OpenSSH's
    // MaxStartups), and one source address may have at most `per_source`
    // (0: no cap).
    struct Startups {
        unsigned start = 256, rate = 30, full = 1024;
        unsigned per_source = 16;
    } startups;
    // A channel whose terminal does not read what cugd writes is closed when
    // this much waits (it resumes and gets a sync).
    std::size_t max_output = std::size_t{32} << 20;
    // Where to serve Prometheus' /metrics (none: not at all).
    std::optional<net::Endpoint> metrics;
};

// A request on the control socket, checked whole (the command, every key
// and value) before anything is done: Errc::invalid says what is wrong.
Result<void> check_control_request(const wire::Message& request);

// "START:RATE:FULL" (or just "FULL") as OpenSSH's MaxStartups.
Result<DaemonConfig::Startups> parse_startups(std::string_view text, unsigned per_source);

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
