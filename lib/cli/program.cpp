#include "cli/program.hpp"
#include "core/paths.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <cerrno>
#include <cstring>

#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace cug::cli {

void harden_process() {
    struct rlimit none {
        0, 0
    };
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    umask(077);
    // A peer that hangs up shows as an error from write, not as death.
    signal(SIGPIPE, SIG_IGN);
}

Result<void> drop_privileges(const std::string& user, const std::vector<int>& keep) {
    const bool keep_any = !keep.empty();
    errno = 0;
    const passwd* pw = getpwnam(user.c_str());
    if (!pw)
        return make_error(Errc::not_found, "no user named '{}'{}", user,
                          errno ? fmt::format(" ({})", std::strerror(errno)) : "");
    const uid_t uid = pw->pw_uid;
    const gid_t gid = pw->pw_gid;
    if (uid == 0) return make_error(Errc::usage, "'{}' is root; name an unprivileged user", user);
    if (keep_any && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        return make_error(Errc::os, "keeping capabilities: {}", std::strerror(errno));
    if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        return make_error(Errc::permission, "becoming {}: {}", user, std::strerror(errno));
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    for (int cap : keep) {
        data[0].permitted |= 1u << cap;
        data[0].effective |= 1u << cap;
    }
    if (syscall(SYS_capset, &header, data) != 0)
        return make_error(Errc::os, "setting capabilities: {}", std::strerror(errno));
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return make_error(Errc::os, "no_new_privs: {}", std::strerror(errno));
    if (setuid(0) == 0) return make_error(Errc::internal, "still able to become root");
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return ok();
}

Result<void> act_as_owner_of(const std::string& dir) {
    if (geteuid() != 0) return ok();
    struct stat st {};
    std::string place = dir;
    while (place.size() > 1 && place.back() == '/')
        place.pop_back();
    if (::stat(place.c_str(), &st) != 0) {
        if (errno != ENOENT) return ok();  // opening the store will say what is wrong
        const auto slash = place.find_last_of('/');
        place = slash == std::string::npos ? "." : slash == 0 ? "/" : place.substr(0, slash);
        if (::stat(place.c_str(), &st) != 0) return ok();
    }
    if (st.st_uid == 0) return ok();
    const gid_t gid = st.st_gid;
    const uid_t uid = st.st_uid;
    if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        return make_error(Errc::permission, "becoming uid {}, the owner of {}: {}", uid, place,
                          std::strerror(errno));
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return ok();
}

int report(std::string_view program, const Result<void>& result) {
    if (result) return 0;
    std::fflush(stdout);
    fmt::print(stderr, "{}: {}\n", program, result.error().message);
    return exit_status(result.error().code);
}

std::string default_store_dir() {
    if (const char* env = std::getenv("CUG_STORE"); env && *env) return env;
    return std::string(paths::store_dir);
}

}  // namespace cug::cli
