// Unit tests that need a network namespace of their own (TUN devices,
// addresses, routes): the check runs in a forked child that first unshares
// its network namespace, so nothing touches the machine's, and everything
// goes with the child. The child's status names the step that failed.
#pragma once

#include <doctest/doctest.h>

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cug::test {

// Runs `check` (returning 0 for success, else the failed step's number) in a
// child in a new network namespace; skipped when not root.
template <typename Check>
void in_new_netns(Check check) {
    if (geteuid() != 0) {
        MESSAGE("skipped: needs root for a network namespace");
        return;
    }
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(unshare(CLONE_NEWNET) == 0 ? check() : 125);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

}  // namespace cug::test
