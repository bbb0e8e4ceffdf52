// Local stream sockets that speak key=value: one request, one answer. cugd's
// control socket and cug-tun's agent socket both work this way.
#pragma once

#include "core/result.hpp"
#include "wire/kv.hpp"

#include <chrono>
#include <filesystem>
#include <string>

namespace cug::net {

// A listening socket at `path` (nonblocking, 0660, its directory made 0750):
// a socket left by a process that died is replaced; a live one is refused
// with Errc::temporary, "another <owner> is running on <path>".
Result<int> listen_local(const std::filesystem::path& path, std::string_view owner);
// Errc::unavailable when nothing listens at `path`.
Result<int> connect_local(const std::filesystem::path& path);
// Only root and our own user may talk to our sockets (SO_PEERCRED).
bool trusted_local_peer(int fd);
Result<wire::Message> read_local(int fd, std::chrono::milliseconds timeout,
                                 const wire::Limits& limits);
Result<void> write_local(int fd, const std::string& text);
// connect, send `request`, read the answer.
Result<wire::Message> ask_local(const std::filesystem::path& path, const wire::Message& request,
                                std::chrono::milliseconds timeout, const wire::Limits& limits);

}  // namespace cug::net
