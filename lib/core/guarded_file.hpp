// A small file that decides who may do what (pam_cug's user map, the store's
// seal key): read only when it is a regular file (not a symbolic link),
// owned by root (or, if allowed, by this process's user), with none of the
// forbidden mode bits, and no larger than it may be.
#pragma once

#include "core/result.hpp"

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace cug {

struct GuardedFile {
    bool owner_may_be_self = false;  // besides root
    mode_t forbidden = 022;          // mode bits that refuse it (022: others could change it)
    std::size_t max_bytes = 1 << 20;
    const char* rule = "be owned by root and writable by nobody else";  // "FILE must <rule>"
    Errc missing = Errc::not_found;  // the code when the file is not there
};

// Its whole text. A file that changes while being read is Errc::temporary.
Result<std::string> read_guarded_file(const std::filesystem::path& file, const GuardedFile& rules);

}  // namespace cug
