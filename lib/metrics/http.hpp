// The HTTP endpoint Prometheus scrapes: GET (or HEAD) /metrics, served by
// libmicrohttpd in a thread of its own. Any other path is 404 and any other
// method 405; at most 16 connections (4 from one address), each closed after
// 10 idle seconds. Nothing is served unless a daemon is given --metrics.
#pragma once

#include "core/result.hpp"
#include "net/address.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

struct MHD_Daemon;  // libmicrohttpd's

namespace cug::metrics {

// --metrics' value: "PORT" is 127.0.0.1:PORT (loopback unless told
// otherwise), or "ADDRESS:PORT" / "[ADDRESS]:PORT".
Result<net::Endpoint> parse_listen(std::string_view text);

class Server {
  public:
    // Binds and listens (before a daemon drops its privileges) and serves
    // nothing yet.
    static Result<std::unique_ptr<Server>> bind(const net::Endpoint& where);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Starts answering: `render` is called in libmicrohttpd's thread for each
    // scrape and must be safe there. Start it once the daemon has blocked
    // the signals it waits for, so that the new thread blocks them too.
    Result<void> start(std::function<std::string()> render);
    std::uint16_t port() const { return port_; }

  private:
    Server() = default;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    ::MHD_Daemon* daemon_ = nullptr;
    std::function<std::string()> render_;
    friend struct Handler;
};

}  // namespace cug::metrics
