// TLS 1.3 for the control channel (OpenSSL): nothing older, no session
// tickets (no resumption, no 0-RTT), no renegotiation. The terminal does not
// trust a CA: it pins the server key read from the user's card and hangs up
// before sending a byte if the server shows another.
#pragma once

#include "core/result.hpp"
#include "crypto/p256.hpp"
#include "crypto/x509.hpp"

#include <chrono>
#include <memory>
#include <span>
#include <string_view>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace cug::net {

class TlsContext {
  public:
    static Result<TlsContext> server(const crypto::PrivateKey& key,
                                     const crypto::Certificate& certificate);
    static Result<TlsContext> client();
    ~TlsContext();
    TlsContext(TlsContext&&) noexcept;
    TlsContext& operator=(TlsContext&&) noexcept;
    SSL_CTX* native() const { return ctx_; }

  private:
    explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
    SSL_CTX* ctx_ = nullptr;
};

// What a non-blocking operation needs before it can go on.
enum class TlsWait { none, read, write };

// One TLS connection over a connected socket it owns.
class TlsStream {
  public:
    // Client: a blocking handshake (with a deadline) on `fd`, then the pin check.
    // Errc::permission when the server's key is not `pinned`.
    static Result<TlsStream> connect(const TlsContext& context, int fd,
                                     const crypto::PublicKey& pinned,
                                     std::chrono::milliseconds timeout);
    // Server: wraps a non-blocking accepted socket; drive handshake() until none.
    static Result<TlsStream> accept(const TlsContext& context, int fd);
    // Client without blocking: wraps a connected non-blocking socket; drive
    // handshake() until none, then check_pin() before sending a byte.
    static Result<TlsStream> client(const TlsContext& context, int fd);
    // Errc::permission ("possible interception") unless the server's key is `pinned`.
    Result<void> check_pin(const crypto::PublicKey& pinned) const;

    ~TlsStream();
    TlsStream(TlsStream&&) noexcept;
    TlsStream& operator=(TlsStream&&) noexcept;

    // Non-blocking handshake step (server side).
    Result<TlsWait> handshake();
    // Reads what is available: 0 bytes with wait=read means "nothing yet";
    // Errc::io "closed" at the end of the stream.
    Result<std::size_t> read(std::span<std::uint8_t> out, TlsWait& wait);
    // Writes all of `data` on a blocking socket; on a non-blocking one writes
    // what it can and returns how much.
    Result<std::size_t> write(ByteView data, TlsWait& wait);
    // RFC 8446 exporter bound to this connection.
    Result<Bytes> exporter(std::string_view label, std::size_t length) const;
    int fd() const { return fd_; }
    // Sends close_notify (best effort) and closes the socket.
    void close();

  private:
    TlsStream(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {}
    SSL* ssl_ = nullptr;
    int fd_ = -1;
};

}  // namespace cug::net
