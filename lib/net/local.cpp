#include "net/local.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cug::net {

namespace {

Result<sockaddr_un> address_of(const std::filesystem::path& path) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    const std::string p = path.string();
    if (p.size() >= sizeof sun.sun_path)
        return make_error(Errc::usage, "socket path {} is too long", p);
    std::memcpy(sun.sun_path, p.c_str(), p.size() + 1);
    return sun;
}

}  // namespace

Result<int> listen_local(const std::filesystem::path& path, std::string_view owner) {
    sockaddr_un sun = CUG_TRY(address_of(path));
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    ::chmod(path.parent_path().c_str(), 0750);
    if (auto live = connect_local(path)) {
        ::close(*live);
        return make_error(Errc::temporary, "another {} is running on {}", owner, path.string());
    }
    ::unlink(path.c_str());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(Errc::os, "socket: {}", std::strerror(errno));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 || ::listen(fd, 64) != 0) {
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
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
           (cred.uid == 0 || cred.uid == geteuid());
}

Result<wire::Message> read_local(int fd, std::chrono::milliseconds timeout,
                                 const wire::Limits& limits) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    wire::Decoder decoder(limits);
    std::uint8_t buf[16384];
    for (;;) {
        if (auto m = CUG_TRY(decoder.next())) return std::move(*m);
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return make_error(Errc::io, "the local peer went away");
        CUG_CHECK(decoder.feed(ByteView(buf, static_cast<std::size_t>(n))));
    }
}

Result<void> write_local(int fd, const std::string& text) {
    std::size_t sent = 0;
    while (sent < text.size()) {
        const ssize_t n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return make_error(Errc::io, "the local peer went away");
        sent += static_cast<std::size_t>(n);
    }
    return ok();
}

Result<wire::Message> ask_local(const std::filesystem::path& path, const wire::Message& request,
                                std::chrono::milliseconds timeout, const wire::Limits& limits) {
    const int fd = CUG_TRY(connect_local(path));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    std::string text = request.encode();
    auto written = write_local(fd, text);
    explicit_bzero(text.data(), text.size());
    CUG_CHECK(std::move(written));
    return read_local(fd, timeout, limits);
}

}  // namespace cug::net
