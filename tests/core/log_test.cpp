#include "core/log.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

using namespace cug;

TEST_CASE("log: values are bare when safe, quoted and escaped otherwise") {
    CHECK(log::quote("USER-A") == "USER-A");
    CHECK(log::quote("192.0.2.11:51820") == "192.0.2.11:51820");
    CHECK(log::quote("") == "\"\"");
    CHECK(log::quote("card removed") == "\"card removed\"");
    CHECK(log::quote("a=b") == "\"a=b\"");
    CHECK(log::quote("say \"hi\"") == "\"say \\\"hi\\\"\"");
    CHECK(log::quote("back\\slash") == "\"back\\\\slash\"");
    // A stranger's newline cannot start a line of its own.
    CHECK(log::quote("x\nlevel=err event=forged") == "\"x\\nlevel=err event=forged\"");
    CHECK(log::quote("tab\there") == "\"tab\\there\"");
    CHECK(log::quote(std::string("nul\0esc\x1b", 8)) == "\"nul\\x00esc\\x1b\"");
    CHECK(log::quote("caf\xc3\xa9") == "\"caf\\xc3\\xa9\"");
}

TEST_CASE("log: an event is level, event, then the fields in order; empty ones left out") {
    CHECK(log::format(log::Priority::notice, "login",
                      {{"user", "USER-A"}, {"terminal", ""}, {"groups", "VPN1,VPN2"}}) ==
          "level=notice event=login user=USER-A groups=VPN1,VPN2");
    CHECK(log::format(log::Priority::err, "store_failed", {{"error", "disk full"}}) ==
          "level=err event=store_failed error=\"disk full\"");
    CHECK(log::format(log::Priority::debug, "push", {{"seq", std::uint64_t{7}}, {"told", true}}) ==
          "level=debug event=push seq=7 told=yes");
}

namespace {

// What event() writes to stderr while the test holds it.
template <class F>
std::string captured_stderr(F&& f) {
    char path[] = "/tmp/cug-log-test.XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::unlink(path);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
    f();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::string out(4096, '\0');
    const ssize_t n = ::pread(fd, out.data(), out.size(), 0);
    ::close(fd);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

}  // namespace

TEST_CASE("log: on a plain stderr, one line per event; debug only when verbose") {
    ::unsetenv("JOURNAL_STREAM");
    log::setup("cug-tun", false, "interface", "cug0");
    auto quiet = captured_stderr([] {
        log::event(log::Priority::debug, "push", {{"type", "sync"}});
        log::event(log::Priority::warning, "channel_down", {{"reason", "reset by peer"}});
    });
    CHECK(quiet ==
          "cug-tun: level=warning event=channel_down reason=\"reset by peer\" "
          "interface=cug0\n");
    log::setup("cug-tun", true, "interface", "cug0");
    auto loud = captured_stderr([] {
        log::event(log::Priority::debug, "push", {{"type", "sync"}});
    });
    CHECK(loud == "cug-tun: level=debug event=push type=sync interface=cug0\n");
    log::setup("cug", false);
}

TEST_CASE("log: a $JOURNAL_STREAM that is not this stderr is not the journal's") {
    ::setenv("JOURNAL_STREAM", "1:2", 1);
    log::setup("cugd", false);
    auto line = captured_stderr([] { log::event(log::Priority::info, "started"); });
    CHECK(line == "cugd: level=info event=started\n");
    ::unsetenv("JOURNAL_STREAM");
    log::setup("cug", false);
}
