#include "cli/program.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

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

int report(std::string_view program, const Result<void>& result) {
    if (result) return 0;
    std::fflush(stdout);
    fmt::print(stderr, "{}: {}\n", program, result.error().message);
    return exit_status(result.error().code);
}

std::string default_store_dir() {
    if (const char* env = std::getenv("CUG_STORE"); env && *env) return env;
    return "/var/lib/cug/store";
}

}  // namespace cug::cli
