// cug-tun: the terminal's tunnel runner (man/cug-tun.8). This release runs the
// control part: it takes sessions from cug-login and keeps them with cugd.
#include "cli/parse.hpp"
#include "cli/program.hpp"
#include "core/time.hpp"
#include "terminal/agent.hpp"
#include "wire/json.hpp"

#include <CLI/CLI.hpp>

namespace {

cug::Result<void> show(const std::filesystem::path& socket, bool json) {
    using namespace cug;
    wire::Message request;
    CUG_CHECK(request.add("cmd", "show"));
    auto m = CUG_TRY(terminal::ask_agent(socket, request, std::chrono::seconds(2)));
    const std::string state(m.get("state").value_or("?"));
    const std::uint64_t groups = m.get_u64("groups").value_or(0);
    const std::uint64_t peers = m.get_u64("peers").value_or(0);
    if (json) {
        wire::JsonWriter j;
        j.begin_object();
        j.field("interface", std::string(m.get("interface").value_or("")));
        j.field("state", state);
        j.field("listen_port", m.get_u64("listen_port").value_or(0));
        j.key("user");
        if (m.has("user"))
            j.value(std::string(*m.get("user")));
        else
            j.null();
        if (m.has("user")) {
            j.field("server", std::string(*m.get("server")));
            j.field("server_key", std::string(*m.get("server_key")));
            j.field("reader", std::string(*m.get("reader")));
            j.field("since",
                    format_time(static_cast<std::int64_t>(m.get_u64("since").value_or(0))));
            j.field("expires",
                    format_time(static_cast<std::int64_t>(m.get_u64("expires").value_or(0))));
            j.key("endpoint");
            if (m.has("endpoint"))
                j.value(std::string(*m.get("endpoint")));
            else
                j.null();
        }
        j.key("groups");
        j.begin_array();
        for (std::uint64_t i = 0; i < groups; ++i) {
            j.begin_object();
            for (const char* f : {"name", "prefix", "address"})
                j.field(f, std::string(m.get(fmt::format("group.{}.{}", i, f)).value_or("")));
            j.field("key_id", m.get_u64(fmt::format("group.{}.key_id", i)).value_or(0));
            j.end_object();
        }
        j.end_array();
        j.key("peers");
        j.begin_array();
        for (std::uint64_t i = 0; i < peers; ++i) {
            j.begin_object();
            for (const char* f : {"user", "group", "address", "endpoint"})
                if (m.has(fmt::format("peer.{}.{}", i, f)))
                    j.field(f, std::string(*m.get(fmt::format("peer.{}.{}", i, f))));
            j.end_object();
        }
        j.end_array();
        j.end_object();
        fmt::print("{}", j.str());
        return ok();
    }
    fmt::print("interface: {}\n  state: {}\n  listening port: {}\n",
               m.get("interface").value_or(""), state, m.get_u64("listen_port").value_or(0));
    if (!m.has("user")) return ok();
    fmt::print(
        "  user: {}\n  server: {} (key {})\n  card reader: {}\n  session: since {}, until {}\n",
        *m.get("user"), *m.get("server"), *m.get("server_key"), *m.get("reader"),
        format_time(static_cast<std::int64_t>(m.get_u64("since").value_or(0))),
        format_time(static_cast<std::int64_t>(m.get_u64("expires").value_or(0))));
    fmt::print("  endpoint seen by cugd: {}\n", m.get("endpoint").value_or("(not yet)"));
    for (std::uint64_t i = 0; i < groups; ++i)
        fmt::print("  group {}: {} in {}\n", *m.get(fmt::format("group.{}.name", i)),
                   *m.get(fmt::format("group.{}.address", i)),
                   *m.get(fmt::format("group.{}.prefix", i)));
    for (std::uint64_t i = 0; i < peers; ++i)
        fmt::print("  peer {} ({}): {}{}\n", *m.get(fmt::format("peer.{}.user", i)),
                   *m.get(fmt::format("peer.{}.group", i)),
                   *m.get(fmt::format("peer.{}.address", i)),
                   m.has(fmt::format("peer.{}.endpoint", i))
                       ? " at " + std::string(*m.get(fmt::format("peer.{}.endpoint", i)))
                       : std::string());
    return ok();
}

}  // namespace

int main(int argc, char** argv) {
    using namespace cug;
    cli::harden_process();
    terminal::AgentConfig config;
    std::string socket_dir = config.socket_dir.string();
    bool json = false;
    CLI::App app{"cug-tun: the terminal side of cug"};
    app.name("cug-tun");
    app.set_version_flag("--version", "cug-tun 0.1.0");
    app.add_option("--interface", config.interface, "interface name")->capture_default_str();
    app.add_option("--socket-dir", socket_dir, "where the local socket goes")
        ->capture_default_str();
    app.add_option("--port", config.udp_port, "UDP port of the data plane (0: any free port)")
        ->capture_default_str();
    auto* show_cmd =
        app.add_subcommand("show", "show the session, its groups and peers (no secrets)");
    show_cmd->add_flag("--json", json, "print JSON");
    if (auto status = cli::parse(app, argc, argv)) return *status;
    config.socket_dir = socket_dir;
    if (*show_cmd)
        return cli::report("cug-tun",
                           show(terminal::agent_socket(config.socket_dir, config.interface), json));
    return cli::report("cug-tun", [&]() -> Result<void> {
        auto agent = CUG_TRY(terminal::Agent::create(config));
        fmt::print(stderr, "cug-tun: {} ready on {}\n", config.interface,
                   terminal::agent_socket(config.socket_dir, config.interface).string());
        return agent->run();
    }());
}
