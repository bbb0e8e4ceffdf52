// cug-logout: leave now, or when the card leaves the reader (man/cug-logout.1).
#include "card/pcsc.hpp"
#include "cli/parse.hpp"
#include "cli/program.hpp"
#include "core/paths.hpp"
#include "terminal/agent.hpp"

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
    using namespace cug;
    cli::harden_process();
    std::string interface = "cug0", socket_dir(paths::run_dir), reason = "cug-logout";
    std::optional<std::string> reader;
    bool wait = false;
    CLI::App app{"cug-logout: take this terminal out of its groups"};
    app.name("cug-logout");
    app.set_version_flag("--version", "cug-logout 0.1.0");
    app.add_option("--interface", interface, "the cug-tun interface")->capture_default_str();
    app.add_flag("--wait", wait, "block until the card leaves its reader, then log out");
    app.add_option("--reader", reader, "with --wait: the reader to watch (default: the session's)");
    app.add_option("--socket-dir", socket_dir, "where cug-tun's socket is")->capture_default_str();
    if (auto status = cli::parse(app, argc, argv)) return *status;
    const auto socket = terminal::agent_socket(socket_dir, interface);
    return cli::report("cug-logout", [&]() -> Result<void> {
        if (wait) {
            std::string watched;
            if (reader) {
                auto context = CUG_TRY(card::Context::establish());
                watched = CUG_TRY(context.pick_reader(reader));
            } else {
                wire::Message show;
                CUG_CHECK(show.add("cmd", "show"));
                auto state = CUG_TRY(terminal::ask_agent(socket, show, std::chrono::seconds(2)));
                auto r = state.get("reader");
                if (!r) return make_error(Errc::unavailable, "no session to watch; give --reader");
                watched = std::string(*r);
            }
            auto context = CUG_TRY(card::Context::establish());
            // A day at a time: the wait has no end of its own.
            for (;;) {
                auto gone =
                    context.wait_for(watched, card::CardPresence::absent, std::chrono::hours(24));
                if (gone) break;
                if (gone.error().code != Errc::temporary) return std::move(gone).error();
            }
            reason = "card removed";
        }
        wire::Message logout;
        CUG_CHECK(logout.add("cmd", "logout"));
        CUG_CHECK(logout.add("reason", reason));
        auto answer = CUG_TRY(terminal::ask_agent(socket, logout, std::chrono::seconds(10)));
        if (answer.get("errno").value_or("1") != "0")
            return make_error(Errc::unavailable, "{}", answer.get("message").value_or("failed"));
        fmt::print("{}\n", answer.get("message").value_or("logged out"));
        return ok();
    }());
}
