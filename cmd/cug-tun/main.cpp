// cug-tun: the terminal's tunnel runner (man/cug-tun.8): the TUN device and
// its encrypted data plane, and the agent that takes sessions from cug-login
// and keeps them with cugd.
#include "cli/config.hpp"
#include "cli/parse.hpp"
#include "cli/program.hpp"
#include "cli/service.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/time.hpp"
#include "dataplane/tun.hpp"
#include "dns/answer.hpp"
#include "metrics/http.hpp"
#include "terminal/agent.hpp"
#include "wire/json.hpp"

#include <CLI/CLI.hpp>

namespace {

// The drop counters (drop.<reason>=N), in the agent's order.
std::vector<std::pair<std::string, std::uint64_t>> drops(const cug::wire::Message& m) {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (std::size_t i = 0; i < cug::dataplane::drop_reasons; ++i) {
        const std::string name = cug::dataplane::drop_name(static_cast<cug::dataplane::Drop>(i));
        out.emplace_back(name, m.get_u64("drop." + name).value_or(0));
    }
    return out;
}

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
        j.field("mtu", m.get_u64("mtu").value_or(0));
        j.field("threads", m.get_u64("threads").value_or(0));
        j.key("offload");
        j.value(m.get("offload").value_or("off") == "on");
        j.key("drops");
        j.begin_object();
        for (const auto& [name, count] : drops(m))
            j.field(name, count);
        j.end_object();
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
        j.key("dns");
        j.begin_object();
        j.field("port", m.get_u64("dns.port").value_or(0));
        j.field("system", std::string(m.get("dns.system").value_or("none")));
        j.key("zone");
        if (m.has("dns.zone"))
            j.value(std::string(*m.get("dns.zone")));
        else
            j.null();
        j.key("servers");
        j.begin_array();
        for (std::uint64_t i = 0; i < m.get_u64("dns.servers").value_or(0); ++i)
            j.value(std::string(m.get(fmt::format("dns.server.{}", i)).value_or("")));
        j.end_array();
        j.key("queries");
        j.begin_object();
        for (std::size_t i = 0; i < dns::outcomes; ++i) {
            const std::string name = dns::outcome_name(static_cast<dns::Outcome>(i));
            j.field(name, m.get_u64("dns." + name).value_or(0));
        }
        j.field("not_local", m.get_u64("dns.not_local").value_or(0));
        j.end_object();
        j.end_object();
        j.key("names");
        j.begin_array();
        for (std::uint64_t i = 0; i < m.get_u64("names").value_or(0); ++i) {
            j.begin_object();
            j.field("name", std::string(m.get(fmt::format("name.{}", i)).value_or("")));
            j.field("address", std::string(m.get(fmt::format("name.{}.address", i)).value_or("")));
            j.end_object();
        }
        j.end_array();
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
            j.key("away");
            j.value(m.has(fmt::format("peer.{}.away", i)));
            for (const char* f : {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets"})
                j.field(f, m.get_u64(fmt::format("peer.{}.{}", i, f)).value_or(0));
            for (const char* f : {"last_rx", "last_tx"}) {
                const auto t = m.get_u64(fmt::format("peer.{}.{}", i, f)).value_or(0);
                j.key(f);
                if (t)
                    j.value(format_time(static_cast<std::int64_t>(t)));
                else
                    j.null();
            }
            j.end_object();
        }
        j.end_array();
        j.end_object();
        fmt::print("{}", j.str());
        return ok();
    }
    fmt::print(
        "interface: {}\n  state: {}\n  listening port: {}\n  mtu: {}, worker threads: {}, "
        "offloads: {}\n",
        m.get("interface").value_or(""), state, m.get_u64("listen_port").value_or(0),
        m.get_u64("mtu").value_or(0), m.get_u64("threads").value_or(0),
        m.get("offload").value_or("off"));
    std::string dropped;
    for (const auto& [name, count] : drops(m))
        if (count) dropped += fmt::format("{}{} {}", dropped.empty() ? "" : ", ", name, count);
    fmt::print("  dropped packets: {}\n", dropped.empty() ? "none" : dropped);
    std::string queries;
    for (std::size_t i = 0; i < dns::outcomes; ++i) {
        const std::string name = dns::outcome_name(static_cast<dns::Outcome>(i));
        if (const auto count = m.get_u64("dns." + name).value_or(0))
            queries += fmt::format("{}{} {}", queries.empty() ? "" : ", ", name, count);
    }
    if (const auto count = m.get_u64("dns.not_local").value_or(0))
        queries += fmt::format("{}not local {}", queries.empty() ? "" : ", ", count);
    if (m.get_u64("dns.port").value_or(0) == 0) {
        fmt::print("  resolver: off\n");
    } else {
        std::string servers;
        for (std::uint64_t i = 0; i < m.get_u64("dns.servers").value_or(0); ++i)
            servers += (servers.empty() ? "" : ", ") +
                       std::string(m.get(fmt::format("dns.server.{}", i)).value_or(""));
        fmt::print("  resolver: {} on port {} of {} (system: {}); queries: {}\n",
                   m.get("dns.zone").value_or("no zone"), m.get_u64("dns.port").value_or(0),
                   servers.empty() ? "no address" : servers, m.get("dns.system").value_or("none"),
                   queries.empty() ? "none" : queries);
    }
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
    const auto now = unix_now();
    auto ago = [&](std::uint64_t t) {
        return t == 0 ? std::string("never")
                      : fmt::format("{} s ago",
                                    std::max<std::int64_t>(0, now - static_cast<std::int64_t>(t)));
    };
    for (std::uint64_t i = 0; i < peers; ++i) {
        auto u = [&](const char* f) {
            return m.get_u64(fmt::format("peer.{}.{}", i, f)).value_or(0);
        };
        fmt::print("  peer {} ({}): {}{}{}\n", *m.get(fmt::format("peer.{}.user", i)),
                   *m.get(fmt::format("peer.{}.group", i)),
                   *m.get(fmt::format("peer.{}.address", i)),
                   m.has(fmt::format("peer.{}.endpoint", i))
                       ? " at " + std::string(*m.get(fmt::format("peer.{}.endpoint", i)))
                       : std::string(" (endpoint not yet known)"),
                   m.has(fmt::format("peer.{}.away", i)) ? ", away (its terminal lost cugd)" : "");
        fmt::print(
            "    received {} bytes in {} packets (last {}), sent {} bytes in {} packets (last "
            "{})\n",
            u("rx_bytes"), u("rx_packets"), ago(u("last_rx")), u("tx_bytes"), u("tx_packets"),
            ago(u("last_tx")));
    }
    for (std::uint64_t i = 0; i < m.get_u64("names").value_or(0); ++i)
        fmt::print("  name {}: {}\n", m.get(fmt::format("name.{}", i)).value_or(""),
                   m.get(fmt::format("name.{}.address", i)).value_or(""));
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
    // The interface names its file: /etc/cug/<interface>.conf (cug.conf(5)).
    auto conf_for = [](const std::string& interface) {
        return std::string(paths::conf_dir) + "/" + interface + ".conf";
    };
    auto* config_file = cli::add_config(app, conf_for(config.interface));
    app.add_option_function<std::string>(
           "--interface",
           [&](const std::string& name) {
               config.interface = name;
               config_file->default_str(conf_for(name));
           },
           "interface name; its settings are read from /etc/cug/<interface>.conf")
        ->default_str(config.interface)
        ->check(cli::checked(&dataplane::check_interface_name))
        ->trigger_on_parse();
    app.add_option("--socket-dir", socket_dir, "where the local socket goes")
        ->type_name("DIR")
        ->capture_default_str();
    app.add_option("--port", config.dataplane.port, "UDP port of the data plane (0: any free port)")
        ->capture_default_str();
    app.add_option("--mtu", config.dataplane.mtu, "the interface's MTU")
        ->capture_default_str()
        ->check(CLI::Range(1280, 9000));
    app.add_option("--threads", config.dataplane.threads,
                   "worker threads, one TUN queue and UDP socket each (0: one per CPU, at most 8)")
        ->capture_default_str()
        ->check(CLI::Range(0, 64));
    bool no_offload = false;
    app.add_flag("--no-offload", no_offload,
                 "plain packets on the device: no TCP segmentation offload, no UDP GSO");
    app.add_option("--user", config.user,
                   "after set-up, run as this user keeping only CAP_NET_ADMIN");
    std::string metrics_at;
    app.add_option("--metrics", metrics_at,
                   "serve Prometheus metrics at /metrics on PORT of loopback, or ADDRESS:PORT "
                   "(default: not at all)")
        ->type_name("[ADDRESS:]PORT")
        ->check(cli::checked(&metrics::parse_listen));
    app.add_option("--dns-port", config.dns_port,
                   "serve the session's names on this port of its addresses (0: no resolver)")
        ->capture_default_str();
    std::string dns_config = "auto";
    app.add_option("--dns-config", dns_config,
                   "point the system's resolver at it: auto, resolved, resolvconf or off")
        ->capture_default_str()
        ->check(cli::checked(&terminal::parse_dns_config));
    bool verbose = false;
    app.add_flag("-v,--verbose", verbose, "log debug events too");
    auto* show_cmd =
        app.add_subcommand("show", "show the session, its groups and peers (no secrets)");
    show_cmd->add_flag("--json", json, "print JSON");
    if (auto status = cli::parse(app, argc, argv)) return *status;
    log::setup("cug-tun", verbose, "interface", config.interface);
    config.socket_dir = socket_dir;
    config.dataplane.offload = !no_offload;
    config.dns_config = *terminal::parse_dns_config(dns_config);                   // checked
    if (!metrics_at.empty()) config.metrics = *metrics::parse_listen(metrics_at);  // checked
    if (*show_cmd)
        return cli::report("cug-tun",
                           show(terminal::agent_socket(config.socket_dir, config.interface), json));
    return cli::report("cug-tun", [&]() -> Result<void> {
        auto agent = CUG_TRY(terminal::Agent::create(config));
        const auto socket = terminal::agent_socket(config.socket_dir, config.interface).string();
        log::event(
            log::Priority::info, "started",
            {{"socket", socket}, {"metrics", config.metrics ? config.metrics->to_string() : ""}});
        cli::notify_ready(fmt::format("{} ready on {}", config.interface, socket));
        return agent->run();
    }());
}
