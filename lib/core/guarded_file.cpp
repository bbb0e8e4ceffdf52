#include "core/guarded_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace cug {

Result<std::string> read_guarded_file(const std::filesystem::path& file, const GuardedFile& rules) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return make_error(errno == ENOENT ? rules.missing : Errc::io, "{}: {}", file.string(),
                          std::strerror(errno));
    struct stat st {};
    std::string text;
    std::optional<Error> problem;
    if (fstat(fd, &st) != 0) {
        problem = make_error(Errc::io, "{}: {}", file.string(), std::strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        problem = make_error(Errc::invalid, "{} is not a regular file", file.string());
    } else if (!(st.st_uid == 0 || (rules.owner_may_be_self && st.st_uid == geteuid())) ||
               (st.st_mode & rules.forbidden)) {
        problem = make_error(Errc::permission, "{} must {} (it is owned by uid {}, mode {:04o})",
                             file.string(), rules.rule, st.st_uid, st.st_mode & 07777);
    } else if (static_cast<std::uint64_t>(st.st_size) > rules.max_bytes) {
        problem =
            make_error(Errc::invalid, "{} is larger than {} bytes", file.string(), rules.max_bytes);
    } else {
        // One byte more than its size: a file that grew while read is noticed.
        text.resize(static_cast<std::size_t>(st.st_size) + 1);
        std::size_t got = 0;
        for (;;) {
            const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                problem = make_error(Errc::io, "{}: {}", file.string(), std::strerror(errno));
                break;
            }
            if (n == 0) break;
            got += static_cast<std::size_t>(n);
            if (got == text.size()) {
                problem = make_error(Errc::temporary, "{} changed while being read", file.string());
                break;
            }
        }
        text.resize(got);
    }
    ::close(fd);
    if (problem) {
        explicit_bzero(text.data(), text.size());
        return std::move(*problem);
    }
    return text;
}

}  // namespace cug
