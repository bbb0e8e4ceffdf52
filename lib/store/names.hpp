// What the store accepts as names and group prefixes. Names end up in
// certificates, file-free protocols and terminals, so they are plain ASCII.
#pragma once

#include "core/result.hpp"
#include "net/address.hpp"

#include <string_view>

namespace cug::store {

inline constexpr std::size_t max_user_name = 64;
inline constexpr std::size_t max_group_name = 32;

// 1-64 of [A-Za-z0-9._-], starting with a letter or digit ("USER-A").
Result<void> check_user_name(std::string_view name);
// 1-32 of the same ("VPN1").
Result<void> check_group_name(std::string_view name);

// A group prefix: IPv4 /8 to /30, IPv6 /16 to /126, not multicast, loopback,
// link-local, unspecified or IPv4-mapped.
Result<void> check_group_prefix(const net::Prefix& prefix);

// Addresses of a group are prefix + offset, offset in [1, last_offset(prefix)]:
// the network address (and, for IPv4, the broadcast address) are never handed out.
unsigned __int128 last_offset(const net::Prefix& prefix);

}  // namespace cug::store
