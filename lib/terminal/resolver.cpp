#include "terminal/resolver.hpp"

#include "core/time.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

namespace cug::terminal {

namespace {

// Far above what a terminal's programs ask (a browser's burst is a few
// dozen), far below what would cost the agent's thread noticeable CPU.
constexpr double queries_per_second = 2000;
constexpr double burst = 400;
constexpr std::size_t max_connections = 16;
constexpr std::size_t datagrams_per_turn = 64;
constexpr auto tcp_idle = std::chrono::seconds(10);
// Largest query taken over UDP (bigger ones are dropped unread).
constexpr std::size_t max_udp_query = 4096;

int open_socket(const net::Address& address, std::uint16_t port, int type, std::string& error) {
    const int fd = ::socket(address.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::strerror(errno);
        return -1;
    }
    const int one = 1;
    // Bound the moment the address is the session's, whatever the device's
    // state (an IPv6 address is usable at once: it skips DAD).
    if (address.is_v4())
        (void)::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
    else {
        (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
        (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    // Beside a local resolver on the wildcard address's port 53 (which sets
    // it too, as dnsmasq does): the kernel gives the more specific socket
    // what is addressed to it.
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage sa{};
    const unsigned len = net::to_sockaddr(net::Endpoint{address, port}, &sa);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), len) != 0 ||
        (type == SOCK_STREAM && ::listen(fd, 16) != 0)) {
        error = std::strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

struct Resolver::Listener {
    net::Address address;
    int udp = -1, tcp = -1;
    ~Listener() {
        for (int fd : {udp, tcp})
            if (fd >= 0) ::close(fd);
    }
};

struct Resolver::Connection {
    int fd = -1;
    std::string in, out;
    std::size_t written = 0;
    std::chrono::steady_clock::time_point active;
    bool closed = false;
    ~Connection() {
        if (fd >= 0) ::close(fd);
    }
};

Resolver::Resolver(std::uint16_t port)
    : port_(port),
      serial_(static_cast<std::uint32_t>(unix_now())),
      tokens_(burst),
      refilled_(std::chrono::steady_clock::now()) {
    stats_.port = port;
}

Resolver::~Resolver() = default;

Result<void> Resolver::update(const std::optional<dns::ZoneData>& data) {
    if (!data) {
        zone_ = dns::Zone();
        data_.reset();
        listeners_.clear();
        connections_.clear();
        return ok();
    }
    // The agent calls this after every push (a peer's endpoint, a rotation):
    // the zone (up to 16,000 names) is rebuilt only when its names changed.
    // The sockets are looked at every time: a bind that failed is retried.
    if (data_ != data) {
        zone_ = dns::Zone(*data, ++serial_);
        data_ = data;
    }
    std::vector<net::Address> wanted;
    for (const auto& g : data->groups)
        if (std::find(wanted.begin(), wanted.end(), g.address) == wanted.end())
            wanted.push_back(g.address);
    std::erase_if(listeners_, [&](const auto& l) {
        return std::find(wanted.begin(), wanted.end(), l->address) == wanted.end();
    });
    if (port_ == 0) return ok();
    std::string failures;
    for (const auto& a : wanted) {
        if (std::any_of(listeners_.begin(), listeners_.end(),
                        [&](const auto& l) { return l->address == a; }))
            continue;
        auto l = std::make_unique<Listener>();
        l->address = a;
        std::string error;
        l->udp = open_socket(a, port_, SOCK_DGRAM, error);
        if (l->udp >= 0) l->tcp = open_socket(a, port_, SOCK_STREAM, error);
        if (l->udp < 0 || l->tcp < 0) {
            ++stats_.bind_failures;
            failures += fmt::format("{}{}: {}", failures.empty() ? "" : "; ",
                                    net::Endpoint{a, port_}.to_string(), error);
            continue;
        }
        listeners_.push_back(std::move(l));
    }
    // The first group's address first: it is the one the system is pointed at.
    std::stable_sort(listeners_.begin(), listeners_.end(), [&](const auto& x, const auto& y) {
        return std::find(wanted.begin(), wanted.end(), x->address) <
               std::find(wanted.begin(), wanted.end(), y->address);
    });
    if (!failures.empty())
        return make_error(Errc::unavailable, "the resolver cannot listen on {}", failures);
    return ok();
}

std::vector<net::Address> Resolver::addresses() const {
    std::vector<net::Address> out;
    for (const auto& l : listeners_)
        out.push_back(l->address);
    return out;
}

bool Resolver::ours(const net::Address& source) const {
    return std::any_of(listeners_.begin(), listeners_.end(),
                       [&](const auto& l) { return l->address == source; });
}

bool Resolver::take_token() {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    refilled_ = now;
    tokens_ = std::min(burst, tokens_ + elapsed * queries_per_second);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
}

void Resolver::add_fds(std::vector<pollfd>& fds) const {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - refilled_).count();
    if (tokens_ + elapsed * queries_per_second < 1) return;  // nothing read until it refills
    for (const auto& l : listeners_) {
        fds.push_back({l->udp, POLLIN, 0});
        fds.push_back({l->tcp, POLLIN, 0});
    }
    for (const auto& c : connections_)
        fds.push_back({c->fd, static_cast<short>(c->out.empty() ? POLLIN : POLLOUT), 0});
}

int Resolver::timeout_ms() const {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - refilled_).count();
    const double missing = 1 - (tokens_ + elapsed * queries_per_second);
    if (missing <= 0) return -1;
    return std::max(1, static_cast<int>(std::ceil(missing / queries_per_second * 1000)));
}

void Resolver::handle(const pollfd* fds, std::size_t count) {
    // add_fds gave the listeners' pairs first, then the connections, in order.
    std::size_t i = 0;
    const std::size_t listeners = listeners_.size(), connections = connections_.size();
    if (count != 2 * listeners + connections) return;  // nothing was added (no tokens)
    for (std::size_t l = 0; l < listeners; ++l, i += 2) {
        if (fds[i].revents & POLLIN) serve_udp(*listeners_[l]);
        if (fds[i + 1].revents & POLLIN) accept_tcp(*listeners_[l]);
    }
    for (std::size_t c = 0; c < connections; ++c, ++i)
        if (fds[i].revents) serve_tcp(*connections_[c], fds[i].revents);
    std::erase_if(connections_, [](const auto& c) { return c->closed; });
}

void Resolver::serve_udp(Listener& l) {
    for (std::size_t n = 0; n < datagrams_per_turn; ++n) {
        if (!take_token()) return;
        std::uint8_t buf[max_udp_query];
        sockaddr_storage from{};
        iovec iov{buf, sizeof buf};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        const ssize_t got = ::recvmsg(l.udp, &msg, MSG_TRUNC);
        if (got < 0) {
            tokens_ += 1;  // nothing was there
            return;
        }
        const auto source = net::endpoint_from_sockaddr(&from);
        if (!ours(source.address)) {
            ++stats_.not_local;
            continue;
        }
        if (static_cast<std::size_t>(got) > sizeof buf) {
            ++stats_.outcomes[static_cast<unsigned>(dns::Outcome::dropped)];
            continue;
        }
        const auto r =
            dns::respond(zone_, ByteView(buf, static_cast<std::size_t>(got)), dns::Transport::udp);
        ++stats_.outcomes[static_cast<unsigned>(r.outcome)];
        if (r.message)
            (void)::sendto(l.udp, r.message->data(), r.message->size(), MSG_DONTWAIT,
                           reinterpret_cast<const sockaddr*>(&from), msg.msg_namelen);
    }
}

void Resolver::accept_tcp(Listener& l) {
    for (;;) {
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        const int fd = ::accept4(l.tcp, reinterpret_cast<sockaddr*>(&from), &len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (!ours(net::endpoint_from_sockaddr(&from).address)) {
            ++stats_.not_local;
            ::close(fd);
            continue;
        }
        if (connections_.size() >= max_connections) {
            ::close(fd);
            continue;
        }
        auto c = std::make_unique<Connection>();
        c->fd = fd;
        c->active = std::chrono::steady_clock::now();
        connections_.push_back(std::move(c));
    }
}

// RFC 7766: two-byte lengths, several queries on one connection, answered
// in order; one at a time (the next is not read before the answer is out).
void Resolver::serve_tcp(Connection& c, short revents) {
    if (revents & (POLLERR | POLLNVAL)) {
        c.closed = true;
        return;
    }
    c.active = std::chrono::steady_clock::now();
    if (!c.out.empty()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) c.closed = true;
        if (n > 0) c.written += static_cast<std::size_t>(n);
        if (c.written == c.out.size()) {
            c.out.clear();
            c.written = 0;
        }
        return;
    }
    char buf[4096];
    const std::size_t want =
        c.in.size() < 2
            ? 2 - c.in.size()
            : 2 + (static_cast<std::uint8_t>(c.in[0]) << 8 | static_cast<std::uint8_t>(c.in[1])) -
                  c.in.size();
    const ssize_t n = ::recv(c.fd, buf, std::min(sizeof buf, want), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
        c.closed = true;
        return;
    }
    if (n < 0) return;
    c.in.append(buf, static_cast<std::size_t>(n));
    if (c.in.size() < 2) return;
    const std::size_t length =
        static_cast<std::uint8_t>(c.in[0]) << 8 | static_cast<std::uint8_t>(c.in[1]);
    if (c.in.size() < 2 + length) return;
    if (!take_token()) {
        c.closed = true;  // over the rate: the client asks again
        return;
    }
    const auto r =
        dns::respond(zone_, as_bytes(std::string_view(c.in).substr(2)), dns::Transport::tcp);
    ++stats_.outcomes[static_cast<unsigned>(r.outcome)];
    c.in.clear();
    if (!r.message) {
        c.closed = true;
        return;
    }
    c.out.push_back(static_cast<char>(r.message->size() >> 8));
    c.out.push_back(static_cast<char>(r.message->size() & 0xff));
    c.out.append(as_chars(*r.message));
    serve_tcp(c, 0);  // most answers go out at once
}

void Resolver::tick() {
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(connections_, [&](const auto& c) { return now - c->active > tcp_idle; });
}

}  // namespace cug::terminal
