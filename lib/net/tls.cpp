#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cug::net {

namespace {

std::string openssl_reason() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "connection closed";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

bool tls13_only(SSL_CTX* ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
           SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1;
}

}  // namespace

// --- TlsContext ---

Result<TlsContext> TlsContext::server(const crypto::PrivateKey& key,
                                      const crypto::Certificate& certificate) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    TlsContext c(ctx);
    if (!ctx || !tls13_only(ctx)) return make_error(Errc::internal, "setting up TLS failed");
    // No tickets: no resumption, no 0-RTT; our own resume proves K_resume instead.
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    // Idle channels (thousands of terminals) give their buffers back.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate(ctx, certificate.native()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key.native()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        return make_error(Errc::config, "the server key does not fit its certificate: {}",
                          openssl_reason());
    return c;
}

Result<TlsContext> TlsContext::client() {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    TlsContext c(ctx);
    if (!ctx || !tls13_only(ctx)) return make_error(Errc::internal, "setting up TLS failed");
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    // Non-blocking writers (the agent) keep what was not written and go on.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // No CA: the server key is pinned from the card (checked after the handshake).
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return c;
}

TlsContext::~TlsContext() {
    SSL_CTX_free(ctx_);
}
TlsContext::TlsContext(TlsContext&& o) noexcept : ctx_(o.ctx_) {
    o.ctx_ = nullptr;
}
TlsContext& TlsContext::operator=(TlsContext&& o) noexcept {
    if (this != &o) {
        SSL_CTX_free(ctx_);
        ctx_ = o.ctx_;
        o.ctx_ = nullptr;
    }
    return *this;
}

// --- TlsStream ---

Result<TlsStream> TlsStream::connect(const TlsContext& context, int fd,
                                     const crypto::PublicKey& pinned,
                                     std::chrono::milliseconds timeout) {
    SSL* ssl = SSL_new(context.native());
    if (!ssl) {
        ::close(fd);
        return make_error(Errc::internal, "setting up TLS failed");
    }
    TlsStream stream(ssl, fd);
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        const int err = errno;
        const std::string reason = openssl_reason();
        if (err == EAGAIN || err == EWOULDBLOCK)
            return make_error(Errc::unavailable, "the TLS handshake timed out");
        return make_error(Errc::protocol, "the TLS 1.3 handshake failed: {}", reason);
    }
    CUG_CHECK(stream.check_pin(pinned));
    // Later reads and writes block without a deadline; the caller sets its own.
    timeval none{0, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
    return stream;
}

Result<TlsStream> TlsStream::accept(const TlsContext& context, int fd) {
    SSL* ssl = SSL_new(context.native());
    if (!ssl) {
        ::close(fd);
        return make_error(Errc::internal, "setting up TLS failed");
    }
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    return TlsStream(ssl, fd);
}

Result<TlsStream> TlsStream::client(const TlsContext& context, int fd) {
    SSL* ssl = SSL_new(context.native());
    if (!ssl) {
        ::close(fd);
        return make_error(Errc::internal, "setting up TLS failed");
    }
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    return TlsStream(ssl, fd);
}

Result<void> TlsStream::check_pin(const crypto::PublicKey& pinned) const {
    X509* certificate = SSL_get0_peer_certificate(ssl_);
    EVP_PKEY* key = certificate ? X509_get0_pubkey(certificate) : nullptr;
    if (!key || EVP_PKEY_eq(key, pinned.native()) != 1) {
        std::string shown = "no key";
        if (key) {
            EVP_PKEY_up_ref(key);
            shown = crypto::PublicKey(key).fingerprint_text();
        }
        return make_error(Errc::permission,
                          "the server's key {} is not the one on the card ({}): possible "
                          "interception",
                          shown, pinned.fingerprint_text());
    }
    return ok();
}

TlsStream::~TlsStream() {
    close();
}

TlsStream::TlsStream(TlsStream&& o) noexcept : ssl_(o.ssl_), fd_(o.fd_) {
    o.ssl_ = nullptr;
    o.fd_ = -1;
}

TlsStream& TlsStream::operator=(TlsStream&& o) noexcept {
    if (this != &o) {
        close();
        ssl_ = o.ssl_;
        fd_ = o.fd_;
        o.ssl_ = nullptr;
        o.fd_ = -1;
    }
    return *this;
}

void TlsStream::close() {
    if (ssl_) {
        SSL_shutdown(ssl_);  // close_notify, without waiting for the peer's
        SSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    ERR_clear_error();
}

Result<TlsWait> TlsStream::handshake() {
    const int rc = SSL_do_handshake(ssl_);
    if (rc == 1) return TlsWait::none;
    switch (SSL_get_error(ssl_, rc)) {
        case SSL_ERROR_WANT_READ:
            return TlsWait::read;
        case SSL_ERROR_WANT_WRITE:
            return TlsWait::write;
        default:
            return make_error(Errc::protocol, "TLS handshake failed: {}", openssl_reason());
    }
}

Result<std::size_t> TlsStream::read(std::span<std::uint8_t> out, TlsWait& wait) {
    std::size_t n = 0;
    wait = TlsWait::none;
    if (SSL_read_ex(ssl_, out.data(), out.size(), &n) == 1) return n;
    switch (SSL_get_error(ssl_, 0)) {
        case SSL_ERROR_WANT_READ:
            wait = TlsWait::read;
            return std::size_t{0};
        case SSL_ERROR_WANT_WRITE:
            wait = TlsWait::write;
            return std::size_t{0};
        case SSL_ERROR_ZERO_RETURN:
            return make_error(Errc::io, "the peer closed the channel");
        case SSL_ERROR_SYSCALL:
            ERR_clear_error();
            return make_error(Errc::io, "the channel was cut ({})",
                              errno ? std::strerror(errno) : "end of stream");
        default:
            return make_error(Errc::protocol, "TLS read failed: {}", openssl_reason());
    }
}

Result<std::size_t> TlsStream::write(ByteView data, TlsWait& wait) {
    std::size_t total = 0;
    wait = TlsWait::none;
    while (total < data.size()) {
        std::size_t n = 0;
        if (SSL_write_ex(ssl_, data.data() + total, data.size() - total, &n) == 1) {
            total += n;
            continue;
        }
        switch (SSL_get_error(ssl_, 0)) {
            case SSL_ERROR_WANT_READ:
                wait = TlsWait::read;
                return total;
            case SSL_ERROR_WANT_WRITE:
                wait = TlsWait::write;
                return total;
            default:
                return make_error(Errc::io, "TLS write failed: {}", openssl_reason());
        }
    }
    return total;
}

Result<Bytes> TlsStream::exporter(std::string_view label, std::size_t length) const {
    Bytes out(length);
    static const unsigned char empty = 0;
    if (SSL_export_keying_material(ssl_, out.data(), out.size(), label.data(), label.size(), &empty,
                                   0, 1) != 1)
        return make_error(Errc::internal, "the TLS exporter failed");
    return out;
}

}  // namespace cug::net
