// Local sockets: the server that never blocks, the client with one deadline,
// and the directories sockets may go in.
#include "net/local.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

using namespace cug;
using namespace std::chrono_literals;

namespace {

int raw_connect(const std::filesystem::path& path) {
    auto fd = net::connect_local(path);
    REQUIRE(fd.ok());
    return *fd;
}

void send_text(int fd, std::string_view text) {
    REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(text.size()));
}

// What the server wrote before closing, read until the end (10 s at most).
std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 10'000) == 1) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

// Runs the server until `done` (a condition, with a generous bound).
template <typename F>
bool serve_until(net::LocalServer& server, std::vector<net::LocalServer::Request>& got, F done) {
    for (int i = 0; i < 2000; ++i) {
        for (auto& r : server.serve())
            got.push_back(std::move(r));
        if (done()) return true;
        pollfd p{server.fd(), POLLIN, 0};
        ::poll(&p, 1, 5);
    }
    return false;
}

}  // namespace

TEST_CASE("requests are handed out whole; an idle client holds up nobody") {
    testing::TempDir dir;
    net::LocalServer::Options o;
    o.max_clients = 3;
    o.request_deadline = 1000ms;
    auto server = net::LocalServer::listen(dir / "s.sock", "test", o);
    REQUIRE(server.ok());
    net::LocalServer& s = **server;
    std::vector<net::LocalServer::Request> got;

    const int idle = raw_connect(dir / "s.sock");      // never says a thing
    const int dripping = raw_connect(dir / "s.sock");  // half a request so far
    send_text(dripping, "cmd=st");
    const int quick = raw_connect(dir / "s.sock");
    send_text(quick, "cmd=status\n\n");
    REQUIRE(serve_until(s, got, [&] { return got.size() == 1; }));
    CHECK(got[0].message.get("cmd").value_or("") == "status");
    CHECK(got[0].peer.uid == geteuid());
    CHECK(s.waiting() == 1);
    // A fourth at the cap: the connection that waited longest without a
    // request (the idle one) makes room for it.
    const int fourth = raw_connect(dir / "s.sock");
    send_text(fourth, "cmd=show\n\n");
    REQUIRE(serve_until(s, got, [&] { return got.size() == 2; }));
    CHECK(got[1].message.get("cmd").value_or("") == "show");
    CHECK(s.evicted() == 1);
    CHECK(read_all(idle).find("make room") != std::string::npos);
    ::close(idle);
    // The dripping one completes its request: now all three have one, and a
    // fifth is told there is no room, and closed.
    send_text(dripping, "atus\n\n");
    REQUIRE(serve_until(s, got, [&] { return got.size() == 3; }));
    CHECK(s.waiting() == 3);
    const int fifth = raw_connect(dir / "s.sock");
    std::vector<net::LocalServer::Request> none;
    REQUIRE(serve_until(s, none, [&] {
        pollfd p{fifth, POLLIN, 0};
        return ::poll(&p, 1, 0) == 1;
    }));
    CHECK(read_all(fifth).find("too many connections") != std::string::npos);
    CHECK(s.clients() == 3);
    ::close(fifth);
    // Answers may come later, in any order; each is written and its
    // connection closed.
    s.reply(got[2].id, "errno=0\n\n");
    s.reply(got[0].id, "answer=42\n\n");
    s.reply(got[1].id, "answer=show\n\n");
    CHECK(read_all(dripping) == "errno=0\n\n");
    CHECK(read_all(quick) == "answer=42\n\n");
    CHECK(read_all(fourth) == "answer=show\n\n");
    for (int fd : {dripping, quick, fourth})
        ::close(fd);
    // An idle one is told when its time is up.
    const int late = raw_connect(dir / "s.sock");
    CHECK(serve_until(s, none, [&] { return s.clients() == 1; }));
    CHECK(serve_until(s, none, [&] { return s.clients() == 0; }));
    CHECK(read_all(late).find("not complete in time") != std::string::npos);
    ::close(late);
}

TEST_CASE(
    "a malformed or oversized request is answered with the reason; a reply to a client "
    "that left goes nowhere") {
    testing::TempDir dir;
    net::LocalServer::Options o;
    o.limits.max_message = 256;
    auto server = net::LocalServer::listen(dir / "s.sock", "test", o);
    REQUIRE(server.ok());
    net::LocalServer& s = **server;
    std::vector<net::LocalServer::Request> got;

    const int bad = raw_connect(dir / "s.sock");
    send_text(bad, "NOT A KEY\n\n");
    const int big = raw_connect(dir / "s.sock");
    send_text(big, "cmd=" + std::string(300, 'x'));
    const int gone = raw_connect(dir / "s.sock");
    send_text(gone, "cmd=show\n\n");
    REQUIRE(serve_until(s, got, [&] { return got.size() == 1; }));
    CHECK(read_all(bad).rfind("errno=1\nmessage=", 0) == 0);
    CHECK(read_all(big).rfind("errno=1\nmessage=", 0) == 0);
    ::close(bad);
    ::close(big);
    ::close(gone);
    std::vector<net::LocalServer::Request> none;
    serve_until(s, none, [&] { return s.clients() == 0; });
    s.reply(got[0].id, "errno=0\n\n");  // nothing to write to, nothing breaks
    CHECK(s.clients() == 0);
}

TEST_CASE("ask_local keeps one deadline for the whole exchange") {
    testing::TempDir dir;
    // A server that takes the connection and never answers.
    auto listening = net::listen_local(dir / "mute.sock", "test");
    REQUIRE(listening.ok());
    wire::Message request;
    REQUIRE(request.add("cmd", "status").ok());
    const auto start = std::chrono::steady_clock::now();
    auto answer = net::ask_local(dir / "mute.sock", request, 300ms, {});
    CHECK_FALSE(answer.ok());
    CHECK(answer.error().code == Errc::temporary);
    CHECK(std::chrono::steady_clock::now() - start < 10s);  // a bound against a hang
    ::close(*listening);
    CHECK(net::ask_local(dir / "nobody.sock", request, 300ms, {}).error().code ==
          Errc::unavailable);
}

TEST_CASE("sockets go only in directories that are ours and closed to others") {
    testing::TempDir dir;
    // Missing: made 0750.
    REQUIRE(net::prepare_socket_dir(dir / "new").ok());
    struct stat st {};
    REQUIRE(::stat((dir / "new").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0750);
    // Ours and closed: accepted and left as it is.
    REQUIRE(::mkdir((dir / "closed").c_str(), 0700) == 0);
    CHECK(net::prepare_socket_dir(dir / "closed").ok());
    REQUIRE(::stat((dir / "closed").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    // Writable by others, even with the sticky bit (as /tmp): refused, unchanged.
    REQUIRE(::mkdir((dir / "shared").c_str(), 0700) == 0);
    REQUIRE(::chmod((dir / "shared").c_str(), 01777) == 0);
    auto refused = net::prepare_socket_dir(dir / "shared");
    CHECK(refused.error().code == Errc::permission);
    REQUIRE(::stat((dir / "shared").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 01777);
    CHECK(net::prepare_socket_dir("/tmp").error().code == Errc::permission);
    // Under a directory others may write to without the sticky bit: refused.
    REQUIRE(::mkdir((dir / "open").c_str(), 0700) == 0);
    REQUIRE(::chmod((dir / "open").c_str(), 0777) == 0);
    CHECK(net::prepare_socket_dir(dir / "open/inner").error().code == Errc::permission);
    CHECK_FALSE(std::filesystem::exists(dir / "open/inner"));  // nothing made there
    // Under a sticky one (as a directory of our own in /tmp): fine.
    CHECK(net::prepare_socket_dir(dir / "shared/ours").ok());
    // Not a directory.
    std::FILE* f = std::fopen((dir / "file").c_str(), "w");
    std::fclose(f);
    CHECK(net::prepare_socket_dir(dir / "file").error().code == Errc::permission);
}
