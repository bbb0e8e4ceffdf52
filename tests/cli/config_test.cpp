#include "cli/config.hpp"
#include "cli/parse.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

using namespace cug;

namespace {

// A private directory for one test's files, removed afterwards.
struct Dir {
    std::string path;
    Dir() {
        char name[] = "/tmp/cug-config-test.XXXXXX";
        REQUIRE(mkdtemp(name) != nullptr);
        path = name;
    }
    ~Dir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        const std::string file = path + "/" + name;
        std::ofstream(file) << text;
        return file;
    }
};

// A program with one option of each kind, parsed with `args`; stderr caught.
struct Outcome {
    std::optional<int> status;
    std::string error;
    unsigned mtu = 1420;
    std::string listen = "0.0.0.0:7443";
    bool verbose = false;
    std::vector<std::string> peers;
};

Outcome run(const std::string& default_file, std::vector<std::string> args) {
    Outcome out;
    CLI::App app{"toy"};
    app.name("toy");
    cli::add_config(app, default_file);
    app.add_option("--mtu", out.mtu)->check(CLI::Range(1280, 9000));
    app.add_option("--listen", out.listen);
    app.add_flag("--verbose", out.verbose);
    app.add_option("--peer", out.peers);
    app.add_option("--hidden", out.listen)->group("");
    std::vector<char*> argv{const_cast<char*>("toy")};
    for (auto& a : args)
        argv.push_back(a.data());
    std::fflush(stderr);
    const int saved = dup(2);
    FILE* caught = std::tmpfile();
    dup2(fileno(caught), 2);
    out.status = cli::parse(app, static_cast<int>(argv.size()), argv.data());
    std::fflush(stderr);
    dup2(saved, 2);
    close(saved);
    std::rewind(caught);
    char buffer[4096];
    const auto n = std::fread(buffer, 1, sizeof buffer, caught);
    out.error.assign(buffer, n);
    std::fclose(caught);
    return out;
}

}  // namespace

TEST_CASE("a configuration file sets options, the command line wins") {
    Dir dir;
    const auto file = dir.write("toy.conf",
                                "# a comment\n"
                                "mtu = 1500\n"
                                "\n"
                                "listen = \"192.0.2.1:7443\"\n"
                                "verbose = true\n"
                                "peer = [\"a\",\n"
                                "        \"b\"]\n");
    auto read = run(file, {});
    CHECK(read.status == std::nullopt);
    CHECK(read.error == "");
    CHECK(read.mtu == 1500);
    CHECK(read.listen == "192.0.2.1:7443");
    CHECK(read.verbose);
    CHECK(read.peers == std::vector<std::string>{"a", "b"});

    auto over = run(file, {"--mtu", "1400", "--peer", "c"});
    CHECK(over.status == std::nullopt);
    CHECK(over.mtu == 1400);
    CHECK(over.peers == std::vector<std::string>{"c"});
    CHECK(over.listen == "192.0.2.1:7443");

    // Named explicitly, the same file; another default is then not read.
    auto named = run(dir.path + "/absent.conf", {"--config", file});
    CHECK(named.status == std::nullopt);
    CHECK(named.mtu == 1500);
}

TEST_CASE("a missing default file is skipped, a missing named file is an error") {
    Dir dir;
    auto skipped = run(dir.path + "/absent.conf", {});
    CHECK(skipped.status == std::nullopt);
    CHECK(skipped.mtu == 1420);

    auto missing = run("", {"--config", dir.path + "/absent.conf"});
    CHECK(missing.status == 66);
    CHECK(missing.error == "toy: " + dir.path + "/absent.conf was not readable (missing?)\n");
}

TEST_CASE("errors in a configuration file name the file and the line") {
    Dir dir;
    struct Case {
        std::string text, message;
    };
    const std::vector<Case> cases{
        {"mtu = 1500\n\n# x\nmut = 1400\n", "4: unknown key 'mut'"},
        {"peer = [\"a\",\n \"b\"]\nlisten_x = 1\n", "3: unknown key 'listen_x'"},
        {"mtu = 1500\n[server]\nlisten = x\n", "2: sections are not used in this file ('server')"},
        {"server.listen = x\n", "1: sections are not used in this file ('server')"},
        {"help = true\n", "1: 'help' cannot be set in a configuration file"},
        {"config = /etc/x\n", "1: 'config' cannot be set in a configuration file"},
        {"hidden = x\n", "1: unknown key 'hidden'"},
        {"mtu = 1500\nlisten = a\nmtu = 1400\n", "3: 'mtu' is set twice (first on line 1)"},
        {"listen = a\n\nmtu = 99999\n", "3: --mtu: Value 99999 not in range 1280 to 9000"},
        {"verbose = maybe\n", "1: Could not convert: --verbose = maybe"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        const auto file = dir.write("bad.conf", c.text);
        auto out = run(file, {});
        CHECK(out.status == 78);
        CHECK(out.error == "toy: " + file + ":" + c.message + "\n");
    }
}

TEST_CASE("a bad value on the command line stays a usage error") {
    Dir dir;
    const auto file = dir.write("toy.conf", "listen = a\n");
    auto out = run(file, {"--mtu", "99999"});
    CHECK(out.status == 64);
    CHECK(out.error == "toy: --mtu: Value 99999 not in range 1280 to 9000 (see toy --help)\n");
    // A file value that the command line replaced is never blamed.
    const auto bad = dir.write("bad.conf", "mtu = 99999\n");
    auto replaced = run(bad, {"--mtu", "1500"});
    CHECK(replaced.status == std::nullopt);
    CHECK(replaced.mtu == 1500);
}
