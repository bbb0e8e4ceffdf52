#include "server/handshakes.hpp"

#include "core/time.hpp"
#include "support/tls_server.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

using namespace cug;
using namespace cug::server;

namespace {

using Server = test::TlsServer;

// A connected pair: the client end blocking, the server end non-blocking, as
// cugd hands accepted sockets to the pool.
struct Pair {
    int client = -1;
    int server = -1;
};

Pair make_pair() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    REQUIRE(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
    return {fds[0], fds[1]};
}

// Waits for the pool's eventfd, then takes what is ready.
std::vector<HandshakePool::Established> wait_for(HandshakePool& pool, int notify,
                                                 std::size_t want) {
    std::vector<HandshakePool::Established> got;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.size() < want && std::chrono::steady_clock::now() < until) {
        pollfd p{notify, POLLIN, 0};
        if (poll(&p, 1, 100) == 1) {
            std::uint64_t count;
            (void)!::read(notify, &count, sizeof count);
        }
        for (auto& e : pool.take())
            got.push_back(std::move(e));
    }
    return got;
}

// The client end sees the server close (EOF or a reset) within `seconds`.
bool closed_within(int fd, int seconds) {
    pollfd p{fd, POLLIN, 0};
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < until) {
        if (poll(&p, 1, 100) == 1) {
            char buf[512];
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) return true;  // anything else is TLS bytes: read on
        }
    }
    return false;
}

}  // namespace

TEST_CASE("handshakes run on the pool and come back established and usable") {
    Server server;
    const int notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    REQUIRE(notify >= 0);
    auto pool = HandshakePool::start(2, notify, server.context);
    REQUIRE(pool.ok());
    constexpr int n = 6;
    std::vector<std::thread> threads;
    std::vector<Bytes> client_exporters(n);
    auto context = net::TlsContext::client();
    REQUIRE(context.ok());
    for (int i = 0; i < n; ++i) {
        Pair p = make_pair();
        const auto peer = *net::Endpoint::parse(fmt::format("192.0.2.{}:{}", 10 + i, 4000 + i));
        (*pool)->add(p.server, peer, unix_now() + 10);
        threads.emplace_back([&, i, fd = p.client] {
            auto stream = net::TlsStream::connect(*context, fd, server.key.public_key(),
                                                  std::chrono::milliseconds(5000));
            if (!stream) return;
            client_exporters[i] = *stream->exporter("EXPORTER-cug-test", 32);
            net::TlsWait wait;
            (void)stream->write(as_bytes(fmt::format("hello {}", i)), wait);
            std::uint8_t buf[32];
            (void)stream->read(buf, wait);  // until the server closes
        });
    }
    auto established = wait_for(**pool, notify, n);
    REQUIRE(established.size() == n);
    CHECK((*pool)->pending() == 0);
    std::set<std::string> peers;
    for (auto& e : established) {
        peers.insert(e.peer.to_string());
        CHECK(e.deadline > unix_now());
        // The stream is the loop's now: the client's first message reads here.
        std::uint8_t buf[32];
        net::TlsWait wait = net::TlsWait::none;
        std::size_t got = 0;
        for (int tries = 0; tries < 100 && got == 0; ++tries) {
            auto r = e.tls.read(buf, wait);
            REQUIRE(r.ok());
            got = *r;
            if (got == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        const std::string text(reinterpret_cast<const char*>(buf), got);
        REQUIRE(text.rfind("hello ", 0) == 0);
        const int i = std::stoi(text.substr(6));
        CHECK(e.peer.to_string() == fmt::format("192.0.2.{}:{}", 10 + i, 4000 + i));
        const Bytes exporter = *e.tls.exporter("EXPORTER-cug-test", 32);
        e.tls.close();
        threads[i].join();
        CHECK(exporter == client_exporters[i]);  // the same TLS session on both ends
    }
    CHECK(peers.size() == n);
    ::close(notify);
}

TEST_CASE("a failed, a late and an unfinished handshake never reach the loop") {
    Server server;
    const int notify = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    REQUIRE(notify >= 0);
    auto pool = HandshakePool::start(1, notify, server.context);
    REQUIRE(pool.ok());
    const auto peer = *net::Endpoint::parse("192.0.2.1:1");

    SUBCASE("bytes that are not TLS: closed at once") {
        Pair p = make_pair();
        (*pool)->add(p.server, peer, unix_now() + 10);
        const char junk[] = "GET / HTTP/1.0\r\n\r\n";
        REQUIRE(::write(p.client, junk, sizeof junk - 1) == sizeof junk - 1);
        CHECK(closed_within(p.client, 5));
        ::close(p.client);
    }
    SUBCASE("a client that says nothing: closed when the deadline passes") {
        Pair p = make_pair();
        (*pool)->add(p.server, peer, unix_now() + 1);
        CHECK((*pool)->pending() == 1);
        CHECK_FALSE(closed_within(p.client, 1));  // not before its time
        CHECK(closed_within(p.client, 4));
        ::close(p.client);
    }
    SUBCASE("the pool stopped with a handshake in progress: closed") {
        Pair p = make_pair();
        (*pool)->add(p.server, peer, unix_now() + 60);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        pool->reset();
        CHECK(closed_within(p.client, 2));
        ::close(p.client);
        ::close(notify);
        return;
    }
    // Whatever happened, nothing came out and nothing is left.
    for (int i = 0; i < 20 && (*pool)->pending() != 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK((*pool)->pending() == 0);
    CHECK((*pool)->take().empty());
    ::close(notify);
}
