// What every cug program does around its work: harden the process, turn an
// Error into one line on stderr and a sysexits.h status.
#pragma once

#include "core/result.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace cug::cli {

// No core dumps (they would hold keys and passwords), files private by default,
// SIGPIPE ignored (sockets report a vanished peer as an error).
void harden_process();

// Becomes `user` (its uid, gid and no other groups) for good, keeping only
// the capabilities in `keep` (CAP_NET_ADMIN, CAP_NET_BIND_SERVICE) and
// nothing else; no privileges can be regained (no_new_privs). Call before
// starting threads: capabilities are per thread.
Result<void> drop_privileges(const std::string& user, const std::vector<int>& keep);

// Run as root on a store that belongs to someone else (cugd's user), becomes
// that owner for good: its uid, its group, no other groups, no capabilities;
// the owner of `dir`, or of the directory `dir` is to be made in. So files an
// administrator's cug-admin makes belong to the daemon that must open them.
// Does nothing when not root or when root owns the place.
Result<void> act_as_owner_of(const std::string& dir);

// Prints "program: message" on stderr for an error and returns its exit status;
// 0 for success.
int report(std::string_view program, const Result<void>& result);

// The store directory from --store, else $CUG_STORE, else /var/lib/cug/store.
std::string default_store_dir();

}  // namespace cug::cli
