#include "cli/secret_input.hpp"
#include "cli/table.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <string>

using namespace cug;
using namespace cug::cli;

namespace {

// A pipe holding `text`, its read end returned.
int pipe_with(const std::string& text) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    REQUIRE(write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    close(fds[1]);
    return fds[0];
}

}  // namespace

TEST_CASE("tables align columns and trim trailing blanks") {
    Table t({"USER", "GROUP"});
    t.add({"USER-A", "VPN1"});
    t.add({"B", ""});
    CHECK(t.size() == 2);
    CHECK(t.render() == "USER    GROUP\nUSER-A  VPN1\nB\n");
}

TEST_CASE("secrets from a descriptor: one line each, checked") {
    SecretRules rules{"password", 4, 16};
    int fd = pipe_with("first-pw\nsecond-pw\n");
    auto first = read_secret_from_fd(fd, rules);
    REQUIRE(first.ok());
    CHECK(as_chars(first->view()) == "first-pw");
    auto second = read_secret_from_fd(fd, rules);
    REQUIRE(second.ok());
    CHECK(as_chars(second->view()) == "second-pw");
    auto none = read_secret_from_fd(fd, rules);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().message == "no password on file descriptor " + std::to_string(fd));
    close(fd);

    fd = pipe_with("no-newline-at-end");
    auto last = read_secret_from_fd(fd, rules);
    REQUIRE_FALSE(last.ok());  // 17 bytes > 16
    CHECK(last.error().message == "the password is too long (at most 16 bytes)");
    close(fd);

    fd = pipe_with("tail");
    CHECK(as_chars(read_secret_from_fd(fd, rules)->view()) == "tail");
    close(fd);

    for (const char* bad : {"abc\n", "\n", "tab\there\n", "cr\r\n"}) {
        fd = pipe_with(bad);
        auto r = read_secret_from_fd(fd, rules);
        CHECK_FALSE(r.ok());
        if (!r.ok()) CHECK(r.error().code == Errc::invalid);
        close(fd);
    }
    auto closed = read_secret_from_fd(999, rules);
    REQUIRE_FALSE(closed.ok());
    CHECK(closed.error().code == Errc::usage);
}
