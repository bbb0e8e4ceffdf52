// TLS handshakes of new terminal connections, on threads of their own.
//
// A full TLS 1.3 handshake (ECDHE, the server's signature, the key
// schedule) is about a third of what a resume costs cugd (docs/BENCHMARKS.md).
// The event loop that owns every session, channel and push stays one thread;
// it hands each accepted connection here and takes it back, established,
// once the handshake is done. A connection whose handshake fails or outlasts
// its deadline is closed here and never seen by the loop. A connection that
// has sent nothing yet costs a socket and an epoll entry only: its TLS state
// is made when its first bytes arrive.
#pragma once

#include "core/result.hpp"
#include "net/address.hpp"
#include "net/tls.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace cug::server {

class HandshakePool {
  public:
    struct Established {
        net::TlsStream tls;
        net::Endpoint peer;
        std::int64_t deadline;  // unix seconds, as given to add()
        double seconds;         // from the first bytes to the end of the handshake
    };

    // `threads` >= 1; the pool writes to the eventfd `notify` whenever
    // connections are ready to take() or were dropped. `tls` must outlive it.
    static Result<std::unique_ptr<HandshakePool>> start(unsigned threads, int notify,
                                                        const net::TlsContext& tls);
    // Stops and joins the threads; connections still in a handshake are closed.
    ~HandshakePool();
    HandshakePool(const HandshakePool&) = delete;
    HandshakePool& operator=(const HandshakePool&) = delete;

    // An accepted, non-blocking socket, before its handshake; the pool owns it.
    void add(int fd, net::Endpoint peer, std::int64_t deadline);
    // The connections whose handshake finished since the last call.
    std::vector<Established> take();
    // Where the connections the pool closed (failed, or out of time) since
    // the last call came from.
    std::vector<net::Endpoint> take_dropped();
    // Connections handed over and neither established nor closed yet.
    std::size_t pending() const;

  private:
    struct Impl;
    explicit HandshakePool(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace cug::server
