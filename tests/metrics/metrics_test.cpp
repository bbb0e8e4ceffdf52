// The exposition format as Prometheus parses it, and the endpoint answered by
// the real libmicrohttpd over a real TCP connection on loopback.
#include "metrics/exposition.hpp"
#include "metrics/http.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <limits>
#include <string>
#include <thread>

using namespace cug;

namespace {

// One HTTP/1.1 request with Connection: close; the whole answer.
std::string http(std::uint16_t port, const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()));
    std::string answer;
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
        answer.append(buffer, static_cast<std::size_t>(n));
    ::close(fd);
    return answer;
}

std::string get(std::uint16_t port, const std::string& method, const std::string& path) {
    return http(port,
                method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

}  // namespace

TEST_CASE("families, labels and numbers in the 0.0.4 text format") {
    metrics::Exposition e;
    e.family("cug_logins_total", metrics::Exposition::Type::counter,
             "Logins by result.\nTwo lines \\ one");
    e.sample("cug_logins_total", {{"result", "ok"}}, std::uint64_t{18446744073709551615u});
    e.sample("cug_logins_total", {{"result", "a\"b\\c\nd"}}, std::uint64_t{0});
    e.family("cug_sessions", metrics::Exposition::Type::gauge, "Sessions.");
    e.sample("cug_sessions", std::uint64_t{3});
    e.sample("cug_age_seconds", {{"group", "VPN1"}, {"peer", "198.51.100.2"}}, 1.5);
    e.sample("cug_nan", std::numeric_limits<double>::quiet_NaN());
    CHECK(e.text() ==
          "# HELP cug_logins_total Logins by result.\\nTwo lines \\\\ one\n"
          "# TYPE cug_logins_total counter\n"
          "cug_logins_total{result=\"ok\"} 18446744073709551615\n"
          "cug_logins_total{result=\"a\\\"b\\\\c\\nd\"} 0\n"
          "# HELP cug_sessions Sessions.\n"
          "# TYPE cug_sessions gauge\n"
          "cug_sessions 3\n"
          "cug_age_seconds{group=\"VPN1\",peer=\"198.51.100.2\"} 1.5\n"
          "cug_nan NaN\n");
}

TEST_CASE("a histogram's buckets are cumulative and end at +Inf") {
    metrics::Histogram h({0.001, 0.01, 0.1});
    h.observe(0.0005);
    h.observe(0.001);  // on the bound: in it (le is "less or equal")
    h.observe(0.05);
    h.observe(3);
    h.observe(-1);  // a clock that went back counts as 0
    metrics::Exposition e;
    e.family("cug_tls_handshake_seconds", metrics::Exposition::Type::histogram, "Handshakes.");
    e.histogram("cug_tls_handshake_seconds", {{"result", "ok"}}, h.snapshot());
    CHECK(e.text() ==
          "# HELP cug_tls_handshake_seconds Handshakes.\n"
          "# TYPE cug_tls_handshake_seconds histogram\n"
          "cug_tls_handshake_seconds_bucket{result=\"ok\",le=\"0.001\"} 3\n"
          "cug_tls_handshake_seconds_bucket{result=\"ok\",le=\"0.01\"} 3\n"
          "cug_tls_handshake_seconds_bucket{result=\"ok\",le=\"0.1\"} 4\n"
          "cug_tls_handshake_seconds_bucket{result=\"ok\",le=\"+Inf\"} 5\n"
          "cug_tls_handshake_seconds_sum{result=\"ok\"} 3.0515\n"
          "cug_tls_handshake_seconds_count{result=\"ok\"} 5\n");
}

TEST_CASE("histograms count every observation from many threads") {
    metrics::Histogram h({0.5});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&h] {
            for (int i = 0; i < 10000; ++i)
                h.observe(i % 2 ? 0.25 : 1.0);
        });
    for (auto& t : threads)
        t.join();
    const auto s = h.snapshot();
    CHECK(s.cumulative == std::vector<std::uint64_t>{20000, 40000});
    CHECK(s.count == 40000);
    CHECK(s.sum == doctest::Approx(25000.0));
}

TEST_CASE("--metrics takes a port (loopback) or an address and port") {
    auto port = metrics::parse_listen("9105");
    REQUIRE(port.ok());
    CHECK(port->to_string() == "127.0.0.1:9105");
    auto v6 = metrics::parse_listen("[::1]:9105");
    REQUIRE(v6.ok());
    CHECK(v6->to_string() == "[::1]:9105");
    CHECK(metrics::parse_listen("0.0.0.0:9105").ok());
    for (const char* bad :
         {"", "0", "65536", "99999", "localhost:9105", "9105x", "1.2.3.4", ":9105"}) {
        CAPTURE(bad);
        auto r = metrics::parse_listen(bad);
        CHECK_FALSE(r.ok());
        if (!r.ok()) CHECK(r.error().message.find('\n') == std::string::npos);
    }
}

TEST_CASE("GET /metrics answers the text; other paths 404, other methods 405") {
    auto server = metrics::Server::bind({*net::Address::parse("127.0.0.1"), 0});
    REQUIRE(server.ok());
    const std::uint16_t port = (*server)->port();
    REQUIRE(port != 0);
    std::atomic<int> scrapes{0};
    REQUIRE((*server)
                ->start([&scrapes] {
                    ++scrapes;
                    return std::string("# TYPE cug_up gauge\ncug_up 1\n");
                })
                .ok());

    const std::string answer = get(port, "GET", "/metrics");
    CHECK(answer.rfind("HTTP/1.1 200 ", 0) == 0);
    CHECK(answer.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") !=
          std::string::npos);
    const std::string body = "# TYPE cug_up gauge\ncug_up 1\n";
    CHECK(answer.find("\r\n\r\n" + body) == answer.size() - body.size() - 4);
    CHECK(scrapes == 1);

    const std::string head = get(port, "HEAD", "/metrics");
    CHECK(head.rfind("HTTP/1.1 200 ", 0) == 0);
    CHECK(head.find("cug_up 1") == std::string::npos);

    CHECK(get(port, "GET", "/").rfind("HTTP/1.1 404 ", 0) == 0);
    CHECK(get(port, "GET", "/metrics/x").rfind("HTTP/1.1 404 ", 0) == 0);
    const std::string post = http(port,
                                  "POST /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: "
                                  "close\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(post.rfind("HTTP/1.1 405 ", 0) == 0);
    CHECK(post.find("Allow: GET, HEAD\r\n") != std::string::npos);
    // Not HTTP at all: the server answers 400 or closes, and goes on serving.
    (void)http(port, "\x16\x03\x01 not http\r\n\r\n");
    CHECK(get(port, "GET", "/metrics").rfind("HTTP/1.1 200 ", 0) == 0);
}

TEST_CASE("a port in use is refused in one line") {
    auto first = metrics::Server::bind({*net::Address::parse("127.0.0.1"), 0});
    REQUIRE(first.ok());
    auto second = metrics::Server::bind({*net::Address::parse("127.0.0.1"), (*first)->port()});
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().message.find("metrics on 127.0.0.1:") == 0);
    CHECK(second.error().message.find('\n') == std::string::npos);
}
