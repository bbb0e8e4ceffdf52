#include "net/local.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>

namespace cug::net {

namespace {

using Clock = std::chrono::steady_clock;

Result<sockaddr_un> address_of(const std::filesystem::path& path) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    const std::string p = path.string();
    if (p.size() >= sizeof sun.sun_path)
        return make_error(Errc::usage, "socket path {} is too long", p);
    std::memcpy(sun.sun_path, p.c_str(), p.size() + 1);
    return sun;
}

bool ours(uid_t uid) {
    return uid == 0 || uid == geteuid();
}

}  // namespace

Result<void> prepare_socket_dir(const std::filesystem::path& dir) {
    const std::filesystem::path absolute = std::filesystem::absolute(dir).lexically_normal();
    // First the way there: nobody else may rename or replace a directory on
    // it (what exists of it; what is missing we make, and it is ours).
    for (std::filesystem::path p = absolute.parent_path(); !p.empty();
         p = p == p.root_path() ? std::filesystem::path() : p.parent_path()) {
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) {
            if (errno == ENOENT) continue;
            return make_error(Errc::os, "{}: {}", p.string(), std::strerror(errno));
        }
        if (!ours(st.st_uid) || ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)))
            return make_error(Errc::permission,
                              "refusing to put a socket under {}: others may replace what is in "
                              "it (uid {}, mode {:04o})",
                              p.string(), st.st_uid, st.st_mode & 07777);
    }
    struct stat st {};
    if (::lstat(absolute.c_str(), &st) != 0) {
        if (errno != ENOENT)
            return make_error(Errc::os, "{}: {}", absolute.string(), std::strerror(errno));
        // Missing: made (parents 0755, the directory itself 0750), ours.
        std::error_code ec;
        if (absolute.has_parent_path())
            std::filesystem::create_directories(absolute.parent_path(), ec);
        if (::mkdir(absolute.c_str(), 0750) == 0)
            ::chmod(absolute.c_str(), 0750);  // ours, just made: whatever the umask took
        else if (errno != EEXIST)
            return make_error(Errc::os, "creating {}: {}", absolute.string(), std::strerror(errno));
        if (::lstat(absolute.c_str(), &st) != 0)
            return make_error(Errc::os, "{}: {}", absolute.string(), std::strerror(errno));
    }
    // Then the directory itself: ours (or root's), writable by nobody else.
    if (!S_ISDIR(st.st_mode))
        return make_error(Errc::permission, "{} is not a directory", absolute.string());
    if (!ours(st.st_uid))
        return make_error(Errc::permission,
                          "refusing to put a socket in {}: it belongs to uid {}, not to root or us",
                          absolute.string(), st.st_uid);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return make_error(Errc::permission,
                          "refusing to put a socket in {}: others may write to it (mode {:04o}); "
                          "give a directory of its own",
                          absolute.string(), st.st_mode & 07777);
    return ok();
}

Result<int> listen_local(const std::filesystem::path& path, std::string_view owner) {
    sockaddr_un sun = CUG_TRY(address_of(path));
    CUG_CHECK(prepare_socket_dir(path.has_parent_path() ? path.parent_path() : "."));
    if (auto live = connect_local(path)) {
        ::close(*live);
        return make_error(Errc::temporary, "another {} is running on {}", owner, path.string());
    }
    ::unlink(path.c_str());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(Errc::os, "socket: {}", std::strerror(errno));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 || ::listen(fd, 128) != 0) {
        const int err = errno;
        ::close(fd);
        return make_error(Errc::os, "listening on {}: {}", path.string(), std::strerror(err));
    }
    ::chmod(path.c_str(), 0660);
    return fd;
}

Result<int> connect_local(const std::filesystem::path& path) {
    sockaddr_un sun = CUG_TRY(address_of(path));
    const std::string p = path.string();
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(Errc::os, "socket: {}", std::strerror(errno));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
        const int err = errno;
        ::close(fd);
        return make_error(Errc::unavailable, "{}: {}", p, std::strerror(err));
    }
    return fd;
}

bool trusted_local_peer(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && ours(cred.uid);
}

namespace {

// Connects, sends `request` and hands what comes back to `take` until it says
// the answer is whole (true), all within `timeout`. At the end of the stream
// `take` gets an empty view and must say whether that was the answer's end.
Result<void> exchange(const std::filesystem::path& path, const wire::Message& request,
                      std::chrono::milliseconds timeout,
                      const std::function<Result<bool>(ByteView)>& take) {
    const auto deadline = Clock::now() + timeout;
    const int fd = CUG_TRY(connect_local(path));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    (void)fcntl(fd, F_SETFL, O_NONBLOCK);
    // Waits for `events` until the one deadline of the whole exchange.
    auto ready = [&](short events) -> Result<void> {
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0)
                return make_error(Errc::temporary, "{} did not answer within {} ms", path.string(),
                                  timeout.count());
            pollfd p{fd, events, 0};
            const int n = ::poll(&p, 1, static_cast<int>(left.count()));
            if (n > 0) return ok();
            if (n < 0 && errno != EINTR)
                return make_error(Errc::os, "poll: {}", std::strerror(errno));
        }
    };
    std::string text = request.encode();
    struct Wiper {
        std::string& s;
        ~Wiper() { explicit_bzero(s.data(), s.size()); }
    } wiper{text};
    for (std::size_t sent = 0; sent < text.size();) {
        const ssize_t n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            CUG_CHECK(ready(POLLOUT));
        } else {
            return make_error(Errc::io, "{} closed the connection", path.string());
        }
    }
    std::uint8_t buf[16384];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (CUG_TRY(take(ByteView(buf, static_cast<std::size_t>(n))))) return ok();
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            CUG_CHECK(ready(POLLIN));
        } else {
            if (n == 0 && CUG_TRY(take(ByteView()))) return ok();
            return make_error(Errc::io, "{} closed the connection without an answer",
                              path.string());
        }
    }
}

}  // namespace

Result<wire::Message> ask_local(const std::filesystem::path& path, const wire::Message& request,
                                std::chrono::milliseconds timeout, const wire::Limits& limits) {
    wire::Decoder decoder(limits);
    std::optional<wire::Message> answer;
    CUG_CHECK(exchange(path, request, timeout, [&](ByteView bytes) -> Result<bool> {
        if (!bytes.empty()) CUG_CHECK(decoder.feed(bytes));
        if (auto m = CUG_TRY(decoder.next())) answer = std::move(*m);
        return answer.has_value();
    }));
    return std::move(*answer);
}

Result<std::string> ask_local_text(const std::filesystem::path& path, const wire::Message& request,
                                   std::chrono::milliseconds timeout, std::size_t max_bytes) {
    std::string answer;
    CUG_CHECK(exchange(path, request, timeout, [&](ByteView bytes) -> Result<bool> {
        if (bytes.empty()) return !answer.empty();  // the server closes after its answer
        if (answer.size() + bytes.size() > max_bytes)
            return make_error(Errc::protocol, "{} answered more than {} bytes", path.string(),
                              max_bytes);
        answer.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return false;
    }));
    return answer;
}

// --- LocalServer ---------------------------------------------------------------

struct LocalServer::Client {
    enum class State { reading, waiting, writing };
    int fd = -1;
    std::uint64_t id = 0;
    ucred peer{};
    State state = State::reading;
    Clock::time_point deadline;
    wire::Decoder decoder;
    std::string out;
    std::size_t written = 0;
    explicit Client(const wire::Limits& limits) : decoder(limits) {}
};

LocalServer::LocalServer(std::filesystem::path path, int listen_fd, int epoll_fd, Options options)
    : path_(std::move(path)), listen_fd_(listen_fd), epoll_fd_(epoll_fd), options_(options) {}

Result<std::unique_ptr<LocalServer>> LocalServer::listen(const std::filesystem::path& path,
                                                         std::string_view owner, Options options) {
    const int listen_fd = CUG_TRY(listen_local(path, owner));
    const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd;
    if (epoll_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
        const int err = errno;
        ::close(listen_fd);
        if (epoll_fd >= 0) ::close(epoll_fd);
        ::unlink(path.c_str());
        return make_error(Errc::os, "serving {}: {}", path.string(), std::strerror(err));
    }
    return std::unique_ptr<LocalServer>(new LocalServer(path, listen_fd, epoll_fd, options));
}

LocalServer::~LocalServer() {
    clients_.clear();  // their destructors do not close: do it here
    ::close(listen_fd_);
    ::close(epoll_fd_);
    ::unlink(path_.c_str());
}

std::size_t LocalServer::waiting() const {
    std::size_t n = 0;
    for (const auto& [fd, c] : clients_)
        n += c->state == Client::State::waiting;
    return n;
}

void LocalServer::close_client(int fd) {
    auto found = clients_.find(fd);
    if (found == clients_.end()) return;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    clients_.erase(found);
}

// At the cap, the connection that has waited longest without sending a whole
// request makes room: idle clients cannot lock out a real one, and a request
// that arrived is never dropped for a newcomer (only when every connection has
// one is the newcomer refused).
bool LocalServer::evict_oldest_reading() {
    Client* oldest = nullptr;
    for (const auto& [fd, c] : clients_)
        if (c->state == Client::State::reading && (!oldest || c->id < oldest->id)) oldest = c.get();
    if (!oldest) return false;
    static constexpr char room[] =
        "errno=1\nmessage=closed to make room: no complete request yet\n\n";
    (void)!::send(oldest->fd, room, sizeof room - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    ++evicted_;
    close_client(oldest->fd);
    return true;
}

void LocalServer::accept_clients() {
    for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        ucred cred{};
        socklen_t len = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || !ours(cred.uid)) {
            ::close(fd);  // only root and our own user
            continue;
        }
        if (clients_.size() >= options_.max_clients && !evict_oldest_reading()) {
            static constexpr char busy[] = "errno=1\nmessage=too many connections at once\n\n";
            (void)!::send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            ::close(fd);
            continue;
        }
        auto c = std::make_unique<Client>(options_.limits);
        c->fd = fd;
        c->id = next_id_++;
        c->peer = cred;
        c->deadline = Clock::now() + options_.request_deadline;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ::close(fd);
            continue;
        }
        clients_[fd] = std::move(c);
    }
}

void LocalServer::answer_and_close(Client& c, std::string text) {
    c.state = Client::State::writing;
    c.out = std::move(text);
    c.written = 0;
    c.deadline = Clock::now() + options_.reply_deadline;
    write_to(c);
}

void LocalServer::read_from(Client& c, std::vector<Request>& out) {
    std::uint8_t buf[16384];
    for (;;) {
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n == 0) return close_client(c.fd);  // gone before its request was complete
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            return close_client(c.fd);
        }
        if (auto fed = c.decoder.feed(ByteView(buf, static_cast<std::size_t>(n))); !fed) {
            wire::Message refusal;
            (void)refusal.add("errno", "1");
            (void)refusal.add("message", fed.error().message);
            return answer_and_close(c, refusal.encode());
        }
        auto m = c.decoder.next();
        if (!m) {
            wire::Message refusal;
            (void)refusal.add("errno", "1");
            (void)refusal.add("message", m.error().message);
            return answer_and_close(c, refusal.encode());
        }
        if (*m) {
            // One request per connection: nothing more is read from it.
            c.state = Client::State::waiting;
            epoll_event ev{};
            ev.events = 0;
            ev.data.fd = c.fd;
            epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
            out.push_back(Request{c.id, std::move(**m), c.peer});
            return;
        }
    }
}

void LocalServer::write_to(Client& c) {
    while (c.written < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.written += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            epoll_event ev{};
            ev.events = EPOLLOUT;
            ev.data.fd = c.fd;
            epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
            return;
        }
        break;  // the client went away
    }
    close_client(c.fd);
}

std::vector<LocalServer::Request> LocalServer::serve() {
    std::vector<Request> out;
    epoll_event events[64];
    for (int round = 0; round < 16; ++round) {
        const int n = epoll_wait(epoll_fd_, events, 64, 0);
        if (n <= 0) break;
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == listen_fd_) {
                accept_clients();
                continue;
            }
            auto found = clients_.find(fd);
            if (found == clients_.end()) continue;
            Client& c = *found->second;
            if (c.state == Client::State::reading)
                read_from(c, out);
            else if (c.state == Client::State::writing)
                write_to(c);
            else if (events[i].events & (EPOLLHUP | EPOLLERR))
                close_client(fd);  // gone while its answer was being made
        }
        if (n < 64) break;
    }
    // Deadlines: a request not complete in time is answered so; an answer the
    // client does not take in time is dropped.
    const auto now = Clock::now();
    std::vector<int> late, unread;
    for (const auto& [fd, c] : clients_) {
        if (now < c->deadline) continue;
        if (c->state == Client::State::reading) late.push_back(fd);
        if (c->state == Client::State::writing) unread.push_back(fd);
    }
    for (int fd : late)
        if (auto c = clients_.find(fd); c != clients_.end())
            answer_and_close(*c->second,
                             "errno=1\nmessage=the request was not complete in time\n\n");
    for (int fd : unread)
        close_client(fd);
    return out;
}

void LocalServer::reply(std::uint64_t id, std::string text) {
    for (auto& [fd, c] : clients_)
        if (c->id == id && c->state == Client::State::waiting)
            return answer_and_close(*c, std::move(text));
}

}  // namespace cug::net
