// Local stream sockets that speak key=value: one request, one answer, then
// the connection closes. cugd's control socket and cug-tun's agent socket
// both work this way, served from their event loops by LocalServer so that a
// slow or idle client delays nobody.
#pragma once

#include "core/result.hpp"
#include "wire/kv.hpp"

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cug::net {

// The directory a socket goes in, made (0750) when missing. When it exists it
// is checked, never changed (as OpenSSH's StrictModes): it must belong to
// root or to us and be writable by nobody else, and every directory above it
// must belong to root or to us and be writable by others only with the
// sticky bit. Errc::permission names what is wrong.
Result<void> prepare_socket_dir(const std::filesystem::path& dir);

// A listening socket at `path` (non-blocking, 0660) in a directory that
// prepare_socket_dir accepts: a socket left by a process that died is
// replaced; a live one is refused with Errc::temporary, "another <owner> is
// running on <path>".
Result<int> listen_local(const std::filesystem::path& path, std::string_view owner);
// Errc::unavailable when nothing listens at `path`.
Result<int> connect_local(const std::filesystem::path& path);
// Only root and our own user may talk to our sockets (SO_PEERCRED).
bool trusted_local_peer(int fd);
// connect, send `request`, read the answer, all within `timeout`.
Result<wire::Message> ask_local(const std::filesystem::path& path, const wire::Message& request,
                                std::chrono::milliseconds timeout, const wire::Limits& limits);
// The same for an answer that is not key=value (cugd's format=json): all the
// server writes before it closes the connection, at most `max_bytes`.
Result<std::string> ask_local_text(const std::filesystem::path& path, const wire::Message& request,
                                   std::chrono::milliseconds timeout, std::size_t max_bytes);

// A local socket served without ever blocking: every connection has its own
// buffers and deadlines, and at most `max_clients` are open at once: at the
// cap a newcomer closes the oldest connection that has not sent a whole
// request yet, or is told "too many connections" when all have. A request is handed out only once
// it is complete and well-formed; its answer may come later (reply()), and is written as the client
// reads it. Errors the server can answer itself (a malformed or oversized request, a request not
// complete in time) get one "errno=1 message=..." answer.
class LocalServer {
  public:
    struct Options {
        std::size_t max_clients = 64;
        std::chrono::milliseconds request_deadline{5000};  // from the accept
        std::chrono::milliseconds reply_deadline{5000};    // to write the answer
        wire::Limits limits;
    };
    struct Request {
        std::uint64_t id = 0;
        wire::Message message;
        ucred peer{};
    };

    static Result<std::unique_ptr<LocalServer>> listen(const std::filesystem::path& path,
                                                       std::string_view owner, Options options);
    ~LocalServer();
    LocalServer(const LocalServer&) = delete;
    LocalServer& operator=(const LocalServer&) = delete;

    // An epoll descriptor for the caller's loop: readable when there is work.
    int fd() const { return epoll_fd_; }
    // Does what is ready (accepts, reads, writes, deadlines) and returns the
    // requests that became complete. Never blocks.
    std::vector<Request> serve();
    // The answer to request `id` (ignored if its client has gone). The
    // connection closes once it is written.
    void reply(std::uint64_t id, std::string text);
    std::size_t clients() const { return clients_.size(); }
    // Connections closed to make room for newer ones, since the start.
    std::uint64_t evicted() const { return evicted_; }
    // Requests handed out and not answered yet.
    std::size_t waiting() const;

  private:
    struct Client;
    LocalServer(std::filesystem::path path, int listen_fd, int epoll_fd, Options options);
    void accept_clients();
    bool evict_oldest_reading();
    void read_from(Client& c, std::vector<Request>& out);
    void write_to(Client& c);
    void answer_and_close(Client& c, std::string text);
    void close_client(int fd);

    std::filesystem::path path_;
    int listen_fd_ = -1, epoll_fd_ = -1;
    Options options_;
    std::uint64_t next_id_ = 1, evicted_ = 0;
    std::map<int, std::unique_ptr<Client>> clients_;
};

}  // namespace cug::net
