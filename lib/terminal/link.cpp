#include "terminal/link.hpp"

#include "protocol/login.hpp"
#include "terminal/login.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace cug::terminal {

// A name resolved on a thread of its own: getaddrinfo cannot be made not to
// block, nor be cancelled, so the thread owns its share of this and may
// outlive the link.
struct ServerLink::Resolution {
    int event = -1;  // written once, when done
    std::mutex mutex;
    bool done = false;
    std::vector<std::pair<sockaddr_storage, socklen_t>> addresses;
    std::string error;
    ~Resolution() {
        if (event >= 0) ::close(event);
    }
};

std::unique_ptr<ServerLink> ServerLink::open(std::string server, crypto::PublicKey pinned,
                                             std::chrono::milliseconds timeout) {
    std::unique_ptr<ServerLink> link(new ServerLink());
    link->server_ = std::move(server);
    link->pinned_ = std::move(pinned);
    link->deadline_ = std::chrono::steady_clock::now() + timeout;
    link->decoder_ = wire::Decoder(protocol::channel_limits());
    auto context = net::TlsContext::client();
    auto parts = split_server(link->server_);
    if (!context || !parts) {
        link->fail(!context ? context.error() : parts.error());
        return link;
    }
    link->context_.emplace(std::move(*context));
    auto r = std::make_shared<Resolution>();
    r->event = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->event < 0) {
        link->fail(make_error(Errc::os, "eventfd: {}", std::strerror(errno)));
        return link;
    }
    link->resolution_ = r;
    std::thread([r, host = parts->first, port = parts->second] {
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* list = nullptr;
        const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &list);
        std::lock_guard lock(r->mutex);
        if (rc != 0) {
            r->error = gai_strerror(rc);
        } else {
            for (addrinfo* a = list; a; a = a->ai_next) {
                sockaddr_storage ss{};
                std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
                r->addresses.emplace_back(ss, a->ai_addrlen);
            }
            freeaddrinfo(list);
        }
        r->done = true;
        const std::uint64_t one = 1;
        (void)!::write(r->event, &one, sizeof one);
    }).detach();
    return link;
}

ServerLink::~ServerLink() {
    if (socket_ >= 0) ::close(socket_);
    if (!out_.empty()) explicit_bzero(out_.data(), out_.size());
    for (auto& m : in_)
        m.wipe();
}

void ServerLink::fail(Error e) {
    if (socket_ >= 0) ::close(socket_);
    socket_ = -1;
    tls_.reset();
    state_ = State::failed;
    error_ = std::move(e);
}

int ServerLink::fd() const {
    switch (state_) {
        case State::resolving:
            return resolution_ ? resolution_->event : -1;
        case State::connecting:
            return socket_;
        case State::handshaking:
        case State::up:
            return tls_ ? tls_->fd() : -1;
        case State::failed:
            break;
    }
    return -1;
}

short ServerLink::events() const {
    switch (state_) {
        case State::resolving:
            return POLLIN;
        case State::connecting:
            return POLLOUT;
        case State::handshaking:
            return wants_ == net::TlsWait::write ? POLLOUT : POLLIN;
        case State::up:
            return POLLIN | (written_ < out_.size() || wants_ == net::TlsWait::write ? POLLOUT : 0);
        case State::failed:
            break;
    }
    return 0;
}

void ServerLink::try_next_address() {
    while (!addresses_.empty()) {
        auto [ss, len] = addresses_.front();
        addresses_.pop_front();
        const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_failure_ = std::strerror(errno);
            continue;
        }
        if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
            last_failure_ = std::strerror(errno);
            ::close(fd);
            continue;
        }
        socket_ = fd;
        peer_ = net::endpoint_from_sockaddr(&ss);
        state_ = State::connecting;
        return;
    }
    fail(unreachable(server_, last_failure_));
}

void ServerLink::advance() {
    if (state_ != State::up && state_ != State::failed &&
        std::chrono::steady_clock::now() >= deadline_)
        return fail(unreachable(
            server_, state_ == State::handshaking ? "the TLS handshake timed out" : "timed out"));
    if (state_ == State::resolving) {
        std::lock_guard lock(resolution_->mutex);
        if (!resolution_->done) return;
        if (resolution_->addresses.empty())
            return fail(unreachable(
                server_, resolution_->error.empty() ? "no address" : resolution_->error));
        addresses_.assign(resolution_->addresses.begin(), resolution_->addresses.end());
        resolution_.reset();
        try_next_address();
    }
    if (state_ == State::connecting) {
        pollfd p{socket_, POLLOUT, 0};
        if (::poll(&p, 1, 0) != 1) return;
        int error = 0;
        socklen_t len = sizeof error;
        if (getsockopt(socket_, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
            last_failure_ = std::strerror(error ? error : errno);
            ::close(socket_);
            socket_ = -1;
            try_next_address();
            if (state_ != State::connecting) return;
            return advance();
        }
        int on = 1;
        setsockopt(socket_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        auto tls = net::TlsStream::client(*context_, socket_);
        socket_ = -1;  // the stream owns it now, or closed it
        if (!tls) return fail(tls.error());
        tls_.emplace(std::move(*tls));
        state_ = State::handshaking;
    }
    if (state_ == State::handshaking) {
        auto wait = tls_->handshake();
        if (!wait) return fail(unreachable(server_, wait.error().message));
        wants_ = *wait;
        if (*wait != net::TlsWait::none) return;
        // Not a byte before the server has shown the card's key.
        if (auto pinned = tls_->check_pin(pinned_); !pinned)
            return fail(with_reason(pinned.error(), Reason::server_mismatch));
        state_ = State::up;
    }
    if (state_ == State::up) pump_io();
}

void ServerLink::pump_io() {
    net::TlsWait wait = net::TlsWait::none;
    if (written_ < out_.size()) {
        auto n = tls_->write(ByteView(reinterpret_cast<const std::uint8_t*>(out_.data()) + written_,
                                      out_.size() - written_),
                             wait);
        if (!n) return fail(make_error(Errc::io, "writing to cugd: {}", n.error().message));
        written_ += *n;
        if (written_ == out_.size()) {
            explicit_bzero(out_.data(), out_.size());
            out_.clear();
            written_ = 0;
        }
    }
    wants_ = wait;
    // Complete messages first, also when the channel then ends: cugd's last
    // words say why (revoked, refused, ...).
    auto take_messages = [&]() -> Result<void> {
        for (;;) {
            auto m = CUG_TRY(decoder_.next());
            if (!m) return ok();
            in_.push_back(std::move(*m));
        }
    };
    for (;;) {
        std::uint8_t buf[16384];
        auto n = tls_->read(buf, wait);
        if (!n) {
            (void)take_messages();
            return fail(make_error(Errc::io, "{}", n.error().message));
        }
        if (*n == 0) {
            if (wait == net::TlsWait::write) wants_ = wait;
            break;
        }
        if (auto fed = decoder_.feed(ByteView(buf, *n)); !fed) return fail(fed.error());
        if (auto taken = take_messages(); !taken) return fail(taken.error());
    }
}

Result<Bytes> ServerLink::exporter(std::string_view label, std::size_t length) const {
    if (!tls_ || state_ != State::up) return make_error(Errc::internal, "the link is not up");
    return tls_->exporter(label, length);
}

void ServerLink::send(std::string encoded) {
    if (state_ != State::up) {
        explicit_bzero(encoded.data(), encoded.size());
        return;
    }
    out_ += encoded;
    explicit_bzero(encoded.data(), encoded.size());
    pump_io();
}

std::optional<wire::Message> ServerLink::next() {
    if (in_.empty()) return std::nullopt;
    wire::Message m = std::move(in_.front());
    in_.pop_front();
    return m;
}

}  // namespace cug::terminal
