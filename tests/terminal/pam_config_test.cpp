#include "terminal/pam_config.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using namespace cug;
using terminal::parse_pam_options;
using terminal::parse_user_map;

namespace {

Result<terminal::PamOptions> options(std::vector<std::string_view> args) {
    return parse_pam_options(args);
}

std::string refusal(std::vector<std::string_view> args) {
    auto o = options(args);
    REQUIRE_FALSE(o.ok());
    return o.error().message;
}

// A directory of the test's own, removed with what is in it.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string t = "/tmp/cug-pam-config.XXXXXX";
        REQUIRE(mkdtemp(t.data()) != nullptr);
        path = t;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::filesystem::path write(const char* name, const std::string& text, mode_t mode) {
        const auto file = path / name;
        std::ofstream(file) << text;
        REQUIRE(chmod(file.c_str(), mode) == 0);
        return file;
    }
};

}  // namespace

TEST_CASE("pam_cug's arguments: defaults, every option, and what each refuses") {
    auto d = options({});
    REQUIRE(d.ok());
    CHECK(d->interface == "cug0");
    CHECK(d->server.empty());
    CHECK_FALSE(d->reader);
    CHECK_FALSE(d->map);
    CHECK_FALSE(d->ignore_no_card);
    CHECK(d->timeout == std::chrono::seconds(10));

    auto all = options({"debug", "server=cugd.example:4433", "reader=Virtual PCD 00 01",
                        "interface=cug1", "socket_dir=/run/x", "map=/etc/cug/users.map",
                        "no_card=ignore", "timeout=300", "try_first_pass"});
    REQUIRE(all.ok());
    CHECK(all->debug);
    CHECK(all->server == "cugd.example:4433");
    CHECK(all->reader == "Virtual PCD 00 01");
    CHECK(all->interface == "cug1");
    CHECK(all->socket_dir == "/run/x");
    CHECK(all->map == std::filesystem::path("/etc/cug/users.map"));
    CHECK(all->ignore_no_card);
    CHECK(all->timeout == std::chrono::seconds(300));
    CHECK(all->try_first_pass);
    CHECK(options({"no_card=fail"})->ignore_no_card == false);
    CHECK(options({"timeout=1"})->timeout == std::chrono::seconds(1));

    CHECK(refusal({"nocard=ignore"}) == "unknown argument 'nocard=ignore'");
    CHECK(refusal({"debug=1"}) == "'debug' takes no value");
    CHECK(refusal({"server"}) == "'server' needs a value (server=...)");
    CHECK(refusal({"server="}) == "'server' needs a value (server=...)");
    CHECK(refusal({"no_card=maybe"}) == "no_card= is 'fail' or 'ignore', not 'maybe'");
    CHECK(refusal({"timeout=0"}).find("1 to 300 seconds") != std::string::npos);
    CHECK(refusal({"timeout=301"}).find("1 to 300 seconds") != std::string::npos);
    CHECK(refusal({"timeout=5s"}).find("1 to 300 seconds") != std::string::npos);
    CHECK(refusal({"timeout=-1"}).find("1 to 300 seconds") != std::string::npos);
    CHECK(refusal({"map=users.map"}) == "map= must be an absolute path");
    CHECK(refusal({"socket_dir=run"}) == "socket_dir= must be an absolute path");
    CHECK_FALSE(options({"interface=a/b"}).ok());
    CHECK_FALSE(options({"interface=waytoolonginterfacename"}).ok());
    CHECK(refusal({"use_first_pass", "try_first_pass"}) ==
          "use_first_pass and try_first_pass exclude each other");
    const std::string nul("reader=a\0b", 10);
    CHECK(refusal({nul}) == "'reader' has a control character in its value");
}

TEST_CASE("the user map: comments, several local users, and errors that name the line") {
    auto map = parse_user_map(
        "# who may log in as whom\n"
        "USER-A  alice   admin   # two local users\n"
        "\n"
        "\tUSER-B\tbob\r\n"
        "USER-A alice\n");
    REQUIRE(map.ok());
    CHECK(map->size() == 3);  // the repeated pair counts once
    CHECK(map->allows("USER-A", "alice"));
    CHECK(map->allows("USER-A", "admin"));
    CHECK(map->allows("USER-B", "bob"));
    CHECK_FALSE(map->allows("USER-B", "alice"));
    CHECK_FALSE(map->allows("USER-C", "carol"));
    CHECK_FALSE(map->allows("alice", "USER-A"));

    CHECK(parse_user_map("")->size() == 0);
    CHECK(parse_user_map("USER-A\n").error().message == "line 1: 'USER-A' maps to no local user");
    CHECK(parse_user_map("\nUSER-A a:b\n").error().message == "line 2: 'a:b' is not a user name");
    CHECK(parse_user_map("USER-A 1000\n").error().message == "line 1: '1000' is not a user name");
    CHECK(parse_user_map("USER-A ..\n").error().message == "line 1: '..' is not a user name");
    CHECK_FALSE(parse_user_map("USER-A a,b\n").ok());
    CHECK_FALSE(parse_user_map("USER-A a/b\n").ok());
    CHECK_FALSE(parse_user_map(std::string("USER-A a\x01"
                                           "b\n"))
                    .ok());
    CHECK_FALSE(parse_user_map("USER-A " + std::string(257, 'a') + "\n").ok());
    CHECK(parse_user_map("USER-A " + std::string(256, 'a') + "\n").ok());
    CHECK(parse_user_map("us/er alice\n").error().message.rfind("line 1: ", 0) == 0);
    CHECK_FALSE(parse_user_map(std::string(terminal::max_user_map_bytes + 1, '#')).ok());
}

TEST_CASE("without a map the card's user is the local user; with one, only what it lists") {
    CHECK(terminal::card_user_may_log_in(std::nullopt, "USER-A", "USER-A"));
    CHECK_FALSE(terminal::card_user_may_log_in(std::nullopt, "USER-A", "alice"));
    auto map = parse_user_map("USER-A alice\n");
    REQUIRE(map.ok());
    const std::optional<terminal::UserMap> m = std::move(*map);
    CHECK(terminal::card_user_may_log_in(m, "USER-A", "alice"));
    CHECK_FALSE(terminal::card_user_may_log_in(m, "USER-A", "USER-A"));
}

TEST_CASE("a map file only root can change is read; any other is refused") {
    TempDir dir;
    const auto good = dir.write("users.map", "USER-A alice\n", 0644);
    auto map = terminal::load_user_map(good);
    REQUIRE(map.ok());
    CHECK(map->allows("USER-A", "alice"));

    const auto group_writable = dir.write("group.map", "USER-A alice\n", 0664);
    auto g = terminal::load_user_map(group_writable);
    REQUIRE_FALSE(g.ok());
    CHECK(g.error().code == Errc::permission);
    CHECK(g.error().message.find("mode 0664") != std::string::npos);
    CHECK(terminal::load_user_map(dir.write("other.map", "", 0602)).error().code ==
          Errc::permission);

    const auto not_root = dir.write("nobody.map", "USER-A alice\n", 0644);
    REQUIRE(chown(not_root.c_str(), 65534, 65534) == 0);
    auto n = terminal::load_user_map(not_root);
    REQUIRE_FALSE(n.ok());
    CHECK(n.error().message.find("owned by uid 65534") != std::string::npos);

    std::filesystem::create_symlink(good, dir.path / "link.map");
    CHECK_FALSE(terminal::load_user_map(dir.path / "link.map").ok());
    CHECK_FALSE(terminal::load_user_map(dir.path).ok());
    CHECK(terminal::load_user_map(dir.path / "missing.map").error().code == Errc::not_found);

    const auto bad = dir.write("bad.map", "USER-A alice\nUSER-B\n", 0600);
    CHECK(terminal::load_user_map(bad).error().message ==
          bad.string() + ": line 2: 'USER-B' maps to no local user");
}
