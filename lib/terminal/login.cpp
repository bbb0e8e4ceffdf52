#include "terminal/login.hpp"

#include "net/tls.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cug::terminal {

Error unreachable(std::string_view server, std::string_view why) {
    return with_reason(make_error(Errc::unavailable, "cannot reach cugd at {}: {}", server, why),
                       Reason::unreachable);
}

Result<std::pair<std::string, std::string>> split_server(const std::string& server) {
    std::string host = server, port = std::to_string(default_port);
    if (!server.empty() && server[0] == '[') {
        const auto close = server.find(']');
        if (close == std::string::npos) return make_error(Errc::usage, "bad server '{}'", server);
        host = server.substr(1, close - 1);
        if (close + 1 < server.size()) {
            if (server[close + 1] != ':') return make_error(Errc::usage, "bad server '{}'", server);
            port = server.substr(close + 2);
        }
    } else if (const auto colon = server.find(':'); colon != std::string::npos) {
        if (server.find(':', colon + 1) != std::string::npos)
            return make_error(Errc::usage, "write an IPv6 server as [ADDRESS]:PORT");
        host = server.substr(0, colon);
        port = server.substr(colon + 1);
    }
    if (host.empty() || port.empty()) return make_error(Errc::usage, "bad server '{}'", server);
    return std::make_pair(host, port);
}

namespace {

Error refusal(std::string_view reason, const wire::Message& m) {
    if (reason == "password")
        return with_reason(make_error(Errc::permission, "wrong password"), Reason::wrong_password);
    if (reason == "locked")
        return with_reason(make_error(Errc::temporary,
                                      "locked out after too many wrong passwords; try again in "
                                      "{} s",
                                      m.get_u64("retry_after").value_or(0)),
                           Reason::locked_out);
    if (reason == "disabled")
        return with_reason(make_error(Errc::permission, "the user is disabled"), Reason::disabled);
    if (reason == "no-groups")
        return with_reason(make_error(Errc::not_found, "the user is in no groups"),
                           Reason::no_groups);
    return with_reason(make_error(Errc::permission,
                                  "cugd refused the login (the card is not one it enrolled for "
                                  "this user)"),
                       Reason::refused);
}

}  // namespace

Result<int> connect_tcp(const std::string& server, std::chrono::milliseconds timeout) {
    auto [host, port] = CUG_TRY(split_server(server));
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &list); rc != 0)
        return unreachable(server, gai_strerror(rc));
    std::string last = "no address";
    for (addrinfo* a = list; a; a = a->ai_next) {
        int fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last = std::strerror(errno);
            ::close(fd);
            continue;
        }
        pollfd p{fd, POLLOUT, 0};
        int error = 0;
        socklen_t len = sizeof error;
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
            last = error ? std::strerror(error) : "timed out";
            ::close(fd);
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        freeaddrinfo(list);
        return fd;
    }
    freeaddrinfo(list);
    return unreachable(server, last);
}

void set_io_timeout(int fd, std::chrono::milliseconds timeout) {
    timeval t{static_cast<time_t>(timeout.count() / 1000),
              static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof t);
}

Result<wire::Message> read_message(net::TlsStream& tls, wire::Decoder& decoder) {
    for (;;) {
        auto m = CUG_TRY(decoder.next());
        if (m) return std::move(*m);
        std::uint8_t buf[16384];
        net::TlsWait wait;
        auto n = tls.read(buf, wait);
        if (!n) return with_reason(std::move(n).error(), Reason::unreachable);
        if (*n == 0 && wait == net::TlsWait::none)
            return with_reason(make_error(Errc::io, "cugd closed the channel"),
                               Reason::unreachable);
        // On a blocking socket, only its timeout (set_io_timeout) wants more.
        if (*n == 0)
            return with_reason(make_error(Errc::unavailable, "cugd did not answer in time"),
                               Reason::unreachable);
        CUG_CHECK(decoder.feed(ByteView(buf, *n)));
    }
}

Result<void> write_message(net::TlsStream& tls, const std::string& encoded) {
    net::TlsWait wait;
    auto n = tls.write(as_bytes(encoded), wait);
    if (!n) return with_reason(std::move(n).error(), Reason::unreachable);
    if (*n < encoded.size())  // the socket's timeout (set_io_timeout)
        return with_reason(make_error(Errc::unavailable, "cugd took nothing in time"),
                           Reason::unreachable);
    return ok();
}

Result<LoginResult> log_in(card::Card& card, const LoginOptions& options) {
    // 1. What the card says: who, and which server it trusts.
    const card::CardIdentity id = CUG_TRY(card.identity());
    CUG_CHECK(id.check_issued());
    LoginCredentials c{id.user_id(), CUG_TRY(id.user_certificate->public_key()),
                       CUG_TRY(id.server_certificate->public_key()), card.reader(),
                       [&](const crypto::PublicKey& ephemeral) {
                           return card.agree(options.pin.view(), ephemeral);
                       }};
    return log_in(c, options);
}

namespace {

// cugd that goes away in the middle of a login (its process killed, the
// network cut) is one error, whatever the channel said at that moment: the
// end of the stream, a TLS alert, a reset.
Error went_away(const std::string& server, const Error& e) {
    return with_reason(make_error(Errc::unavailable, "cugd at {} went away during the login ({})",
                                  server, e.message),
                       Reason::unreachable);
}

}  // namespace

Result<LoginResult> log_in(const LoginCredentials& c, const LoginOptions& options) {
    const std::string& user = c.user;
    const crypto::PublicKey& server_key = c.server_key;
    const crypto::PublicKey& card_key = c.card_key;

    // 2. TLS 1.3, the server key pinned before a byte is sent.
    const int fd = CUG_TRY(connect_tcp(options.server, options.timeout));
    auto context = CUG_TRY(net::TlsContext::client());
    auto tls = net::TlsStream::connect(context, fd, server_key, options.timeout);
    if (!tls) {
        if (tls.error().code == Errc::permission)
            return with_reason(std::move(tls).error(), Reason::server_mismatch);
        return with_reason(std::move(tls).error(), Reason::unreachable);
    }
    set_io_timeout(tls->fd(), options.timeout);
    const Bytes exporter =
        CUG_TRY(tls->exporter(protocol::exporter_login, protocol::exporter_size));
    wire::Decoder decoder(protocol::channel_limits());

    // 3. hello / challenge.
    wire::Message hello;
    CUG_CHECK(hello.add("type", "hello"));
    CUG_CHECK(hello.add_u64("version", protocol::version));
    CUG_CHECK(hello.add("user", user));
    const std::string hello_text = hello.encode();
    auto receive = [&]() -> Result<wire::Message> {
        auto m = read_message(*tls, decoder);
        if (!m && m.error().reason == Reason::unreachable)
            return went_away(options.server, m.error());
        return m;
    };
    if (auto sent = write_message(*tls, hello_text); !sent)
        return went_away(options.server, sent.error());
    const wire::Message challenge = CUG_TRY(receive());
    if (challenge.get("type").value_or("") != "challenge")
        return make_error(Errc::protocol, "cugd answered the hello with something else");
    const auto ephemeral = CUG_TRY(crypto::PublicKey::from_point(
        CUG_TRY(challenge.get_bytes("ephemeral", crypto::point_size))));

    // 4. The card: PIN and ECDH in one transaction; then the key schedule.
    auto shared = CUG_TRY(c.agree(ephemeral));
    auto keys = protocol::derive_login_keys(
        exporter, shared.view(), protocol::login_info(user, card_key, ephemeral, server_key));
    shared.clear();

    // 5. proof and password.
    wire::Message proof;
    CUG_CHECK(proof.add("type", "proof"));
    CUG_CHECK(proof.add_bytes(
        "proof",
        protocol::login_proof(keys, protocol::transcript_hash(hello_text, challenge.encode()))));
    CUG_CHECK(proof.add_bytes("password", options.password.view()));
    std::string proof_text = proof.encode();
    proof.wipe();
    auto sent = write_message(*tls, proof_text);
    explicit_bzero(proof_text.data(), proof_text.size());
    if (!sent) return went_away(options.server, sent.error());

    // 6. The bundle, or why not.
    const wire::Message reply = CUG_TRY(receive());
    const std::string type(reply.get("type").value_or(""));
    if (type == "refused") return refusal(reply.get("reason").value_or(""), reply);
    if (type != "bundle")
        return make_error(Errc::protocol, "cugd sent '{}' instead of a bundle", type);
    auto bundle = CUG_TRY(
        protocol::open_bundle(keys, CUG_TRY(reply.get_bytes("sealed", protocol::max_sealed))));
    tls->close();
    return LoginResult{user,
                       options.server,
                       server_key,
                       c.reader,
                       std::move(bundle),
                       std::move(keys.resume),
                       std::move(keys.push),
                       std::move(keys.udp)};
}

}  // namespace cug::terminal
