// cug-login: card, PIN, password -> a session handed to cug-tun (man/cug-login.1).
#include "cli/parse.hpp"
#include "cli/program.hpp"
#include "cli/secret_input.hpp"
#include "core/paths.hpp"
#include "core/time.hpp"
#include "terminal/agent.hpp"
#include "terminal/card_login.hpp"
#include "wire/json.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace {

// Distinct statuses scripts can act on (man/cug-login.1, EXIT STATUS).
int status_for(const cug::Error& e) {
    using cug::Reason;
    switch (e.reason) {
        case Reason::wrong_password:
            return 10;
        case Reason::locked_out:
            return 11;
        case Reason::disabled:
            return 12;
        case Reason::wrong_pin:
            return 13;
        case Reason::pin_blocked:
            return 14;
        case Reason::no_card:
            return 15;
        case Reason::server_mismatch:
            return 16;
        case Reason::unreachable:
            return 17;
        case Reason::agent_missing:
            return 18;
        case Reason::refused:
            return 19;
        case Reason::no_groups:
            return 20;
        case Reason::none:
            break;
    }
    return cug::exit_status(e.code);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace cug;
    cli::harden_process();
    std::string interface = "cug0", server, socket_dir(paths::run_dir);
    std::optional<std::string> reader;
    std::optional<int> pin_fd, password_fd;
    bool json = false;
    CLI::App app{"cug-login: log in with your card and join your groups"};
    app.name("cug-login");
    app.set_version_flag("--version", "cug-login 0.1.0");
    app.add_option("--interface", interface, "the cug-tun interface to hand the session to")
        ->capture_default_str();
    app.add_option("--server", server,
                   "cugd as HOST[:PORT] (default: $CUG_SERVER, else the server named on the card)");
    app.add_option("--reader", reader, "card reader (or a unique part of its name)");
    app.add_option("--pin-fd", pin_fd, "read the PIN from this descriptor");
    app.add_option("--password-fd", password_fd, "read the password from this descriptor");
    app.add_option("--socket-dir", socket_dir, "where cug-tun's socket is")
        ->type_name("DIR")
        ->capture_default_str();
    app.add_flag("--json", json, "print the result as JSON");
    if (auto status = cli::parse(app, argc, argv)) return *status;
    auto result = [&]() -> Result<terminal::LoginResult> {
        terminal::CardLoginOptions o;
        o.socket = terminal::agent_socket(socket_dir, interface);
        o.reader = reader;
        o.server = server;
        if (o.server.empty())
            if (const char* env = std::getenv("CUG_SERVER"); env && *env) o.server = env;
        auto card = CUG_TRY(terminal::CardLogin::start(o));
        auto pin = CUG_TRY(cli::read_secret(pin_fd, fmt::format("PIN for {}'s card: ", card.user()),
                                            {"PIN", 6, 8}, false));
        auto password =
            CUG_TRY(cli::read_secret(password_fd, fmt::format("Password for {}: ", card.user()),
                                     {"password", 1, 1024}, false));
        auto login = CUG_TRY(card.log_in(std::move(pin), std::move(password)));
        CUG_CHECK(terminal::hand_off(o.socket, login, std::chrono::seconds(20)));
        return login;
    }();
    if (!result) {
        std::fflush(stdout);
        fmt::print(stderr, "cug-login: {}\n", result.error().message);
        return status_for(result.error());
    }
    const auto& b = result->bundle;
    if (json) {
        wire::JsonWriter j;
        j.begin_object();
        j.field("user", result->user);
        j.field("interface", interface);
        j.field("server", result->server);
        j.field("expires", static_cast<std::int64_t>(b.expires));
        j.key("groups");
        j.begin_array();
        for (const auto& g : b.groups) {
            j.begin_object();
            j.field("name", g.name);
            j.field("prefix", g.prefix.to_string());
            j.field("address", g.address.to_string());
            j.end_object();
        }
        j.end_array();
        j.field("peers", std::uint64_t{b.peers.size()});
        j.end_object();
        fmt::print("{}", j.str());
        return 0;
    }
    fmt::print("logged in as {} at {} (session until {})\n", result->user, interface,
               format_time(b.expires));
    for (const auto& g : b.groups) {
        const auto peers = std::count_if(b.peers.begin(), b.peers.end(),
                                         [&](const auto& p) { return p.group == g.name; });
        fmt::print("  {}: {} in {}, {} peer{} online\n", g.name, g.address.to_string(),
                   g.prefix.to_string(), peers, peers == 1 ? "" : "s");
    }
    return 0;
}
