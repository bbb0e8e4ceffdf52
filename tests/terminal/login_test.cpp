#include "terminal/login.hpp"

#include "support/tls_server.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

using namespace cug;

namespace {

// A cugd that completes the TLS handshake, reads what it is sent and never
// answers, until the terminal hangs up.
void silent_server(const net::TlsContext& context, int listener) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    auto stream = net::TlsStream::accept(context, fd);
    if (!stream) return;
    for (;;) {
        auto wait = stream->handshake();
        if (!wait) return;
        if (*wait == net::TlsWait::none) break;
    }
    std::uint8_t buf[512];
    net::TlsWait wait;
    for (;;) {
        auto n = stream->read(buf, wait);
        if (!n || (*n == 0 && wait == net::TlsWait::none)) return;
    }
}

}  // namespace

TEST_CASE("a cugd that accepts the login and then says nothing is an error in time, not a hang") {
    test::TlsServer server;
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    std::thread t(silent_server, std::cref(server.context), listener);

    bool card_asked = false;
    terminal::LoginCredentials c{
        "USER-A", crypto::PrivateKey::generate()->public_key(), server.key.public_key(), "",
        [&](const crypto::PublicKey&) -> Result<crypto::SecretBuffer> {
            card_asked = true;
            return make_error(Errc::internal, "the card is not asked before cugd answers");
        }};
    terminal::LoginOptions o;
    o.server = fmt::format("127.0.0.1:{}", ntohs(addr.sin_port));
    o.timeout = std::chrono::milliseconds(300);
    auto login = terminal::log_in(c, o);
    t.join();
    ::close(listener);
    REQUIRE_FALSE(login.ok());
    CHECK(login.error().reason == Reason::unreachable);
    CHECK_MESSAGE(login.error().message.find("did not answer in time") != std::string::npos,
                  login.error().message);
    CHECK_FALSE(card_asked);
}
