// cug-logout: leave now, or when the card leaves the reader (man/cug-logout.1).
#include "card/pcsc.hpp"
#include "cli/parse.hpp"
#include "cli/program.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "terminal/agent.hpp"

#include <CLI/CLI.hpp>

#include <thread>

namespace {

using namespace cug;

// The reader of the agent's session, or nullopt when it has none.
Result<std::optional<std::string>> session_reader(const std::filesystem::path& socket) {
    wire::Message show;
    CUG_CHECK(show.add("cmd", "show"));
    auto state = CUG_TRY(terminal::ask_agent(socket, show, std::chrono::seconds(2)));
    auto reader = state.get("reader");
    return reader ? std::optional<std::string>(std::string(*reader)) : std::nullopt;
}

Result<void> logout(const std::filesystem::path& socket, const std::string& reason) {
    wire::Message request;
    CUG_CHECK(request.add("cmd", "logout"));
    CUG_CHECK(request.add("reason", reason));
    auto answer = CUG_TRY(terminal::ask_agent(socket, request, std::chrono::seconds(10)));
    if (answer.get("errno").value_or("1") != "0")
        return make_error(Errc::unavailable, "{}", answer.get("message").value_or("failed"));
    fmt::print("{}\n", answer.get("message").value_or("logged out"));
    std::fflush(stdout);
    return ok();
}

// Blocks until the card leaves `reader` (a reader that goes counts).
Result<void> wait_for_removal(const card::Context& context, const std::string& reader) {
    // A day at a time: the wait has no end of its own.
    for (;;) {
        auto gone = context.wait_for(reader, card::CardPresence::absent, std::chrono::hours(24));
        if (gone) return ok();
        if (gone.error().code != Errc::temporary) return std::move(gone).error();
    }
}

// --watch: for as long as cug-tun runs, every session it gets ends when its
// card leaves its reader. A session that ends otherwise (cug-logout, expiry)
// or moves to another reader is noticed within a couple of seconds.
Result<void> watch(const std::filesystem::path& socket) {
    auto context = CUG_TRY(card::Context::establish());
    for (;;) {
        auto reader = CUG_TRY(session_reader(socket));
        if (!reader) {
            std::this_thread::sleep_for(std::chrono::seconds(1));
            continue;
        }
        log::event(log::Priority::debug, "watching", {{"reader", *reader}});
        for (;;) {
            auto gone =
                context.wait_for(*reader, card::CardPresence::absent, std::chrono::seconds(2));
            if (gone) {
                log::event(log::Priority::notice, "card_removed", {{"reader", *reader}});
                CUG_CHECK(logout(socket, "card removed"));
                break;
            }
            if (gone.error().code != Errc::temporary) return std::move(gone).error();
            if (CUG_TRY(session_reader(socket)) != reader) break;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    cli::harden_process();
    std::string interface = "cug0", socket_dir(paths::run_dir);
    std::optional<std::string> reader;
    bool wait = false, keep_watching = false;
    CLI::App app{"cug-logout: take this terminal out of its groups"};
    app.name("cug-logout");
    app.set_version_flag("--version", "cug-logout 0.1.0");
    app.add_option("--interface", interface, "the cug-tun interface")->capture_default_str();
    auto* wait_flag =
        app.add_flag("--wait", wait, "block until the card leaves its reader, then log out");
    app.add_option("--reader", reader, "with --wait: the reader to watch (default: the session's)")
        ->needs(wait_flag);
    app.add_flag("--watch", keep_watching,
                 "keep watching: each session cug-tun gets ends when its card leaves its reader "
                 "(what cug-logout@.service runs)")
        ->excludes(wait_flag);
    app.add_option("--socket-dir", socket_dir, "where cug-tun's socket is")
        ->type_name("DIR")
        ->capture_default_str();
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "with --wait or --watch: log debug events too");
    if (auto status = cli::parse(app, argc, argv)) return *status;
    log::setup("cug-logout", verbose, "interface", interface);
    const auto socket = terminal::agent_socket(socket_dir, interface);
    return cli::report("cug-logout", [&]() -> Result<void> {
        if (keep_watching) return watch(socket);
        if (!wait) return logout(socket, "cug-logout");
        std::string watched;
        auto context = CUG_TRY(card::Context::establish());
        if (reader) {
            watched = CUG_TRY(context.pick_reader(reader));
        } else {
            auto r = CUG_TRY(session_reader(socket));
            if (!r) return make_error(Errc::unavailable, "no session to watch; give --reader");
            watched = *r;
        }
        log::event(log::Priority::debug, "watching", {{"reader", watched}});
        CUG_CHECK(wait_for_removal(context, watched));
        log::event(log::Priority::notice, "card_removed", {{"reader", watched}});
        return logout(socket, "card removed");
    }());
}
