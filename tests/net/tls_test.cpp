#include "net/tls.hpp"

#include "core/time.hpp"
#include "support/tls_server.hpp"

#include <doctest/doctest.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

using namespace cug;
using namespace cug::net;

namespace {

using Server = test::TlsServer;

// The server half: handshake, then echo one message and report its exporter.
void serve(const TlsContext& context, int fd, Bytes* exporter, std::string* error) {
    auto stream = TlsStream::accept(context, fd);
    if (!stream) {
        *error = stream.error().message;
        return;
    }
    for (;;) {
        auto wait = stream->handshake();
        if (!wait) {
            *error = wait.error().message;
            return;
        }
        if (*wait == TlsWait::none) break;
    }
    *exporter = *stream->exporter("EXPORTER-cug-test", 32);
    std::uint8_t buf[64];
    TlsWait wait;
    auto n = stream->read(buf, wait);
    if (n && *n > 0) (void)stream->write(ByteView(buf, *n), wait);
}

}  // namespace

TEST_CASE("TLS 1.3 with a pinned key: both ends agree on the exporter and talk") {
    Server server;
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    Bytes server_exporter;
    std::string server_error;
    std::thread t(serve, std::cref(server.context), fds[1], &server_exporter, &server_error);
    auto client = TlsContext::client();
    REQUIRE(client.ok());
    auto stream = TlsStream::connect(*client, fds[0], server.key.public_key(),
                                     std::chrono::milliseconds(5000));
    REQUIRE_MESSAGE(stream.ok(), (stream.ok() ? "" : stream.error().message));
    auto exporter = stream->exporter("EXPORTER-cug-test", 32);
    TlsWait wait;
    REQUIRE(*stream->write(as_bytes("hello"), wait) == 5);
    std::uint8_t buf[16];
    auto n = stream->read(buf, wait);
    t.join();
    CHECK(server_error.empty());
    REQUIRE(n.ok());
    CHECK(as_chars(ByteView(buf, *n)) == "hello");
    CHECK(*exporter == server_exporter);
    CHECK(*stream->exporter("EXPORTER-other", 32) != server_exporter);
}

TEST_CASE("a server with another key is refused before anything is sent") {
    Server server;
    auto other = *crypto::PrivateKey::generate();
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    Bytes exporter;
    std::string error;
    std::thread t(serve, std::cref(server.context), fds[1], &exporter, &error);
    auto client = TlsContext::client();
    auto stream =
        TlsStream::connect(*client, fds[0], other.public_key(), std::chrono::milliseconds(5000));
    REQUIRE_FALSE(stream.ok());
    CHECK(stream.error().code == Errc::permission);
    CHECK(stream.error().message.find("possible interception") != std::string::npos);
    t.join();
}

TEST_CASE("TLS 1.2 is not spoken") {
    Server server;
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    Bytes exporter;
    std::string error;
    std::thread t(serve, std::cref(server.context), fds[1], &exporter, &error);
    SSL_CTX* old = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(old, TLS1_2_VERSION);
    SSL* ssl = SSL_new(old);
    SSL_set_fd(ssl, fds[0]);
    CHECK(SSL_connect(ssl) != 1);
    SSL_free(ssl);
    SSL_CTX_free(old);
    close(fds[0]);
    t.join();
    CHECK_FALSE(error.empty());
}
