// cugd: the management server daemon (man/cugd.8).
#include "cli/config.hpp"
#include "cli/parse.hpp"
#include "cli/program.hpp"
#include "cli/service.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "metrics/http.hpp"
#include "server/daemon.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <thread>

int main(int argc, char** argv) {
    using namespace cug;
    cli::harden_process();
    std::string store_dir = cli::default_store_dir();
    std::string listen = "0.0.0.0:7443";
    std::string control(paths::cugd_socket);
    double session_hours = 12;
    unsigned workers = 2;
    // One handshake thread per CPU beside the event loop, at most 8.
    unsigned tls_workers = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
    std::int64_t idle = 90;
    std::int64_t presence = 600;
    std::int64_t rotate = 3600;
    std::string max_startups = "256:30:1024";
    unsigned per_source_startups = 16;
    std::string metrics_at;
    bool verbose = false;

    CLI::App app{"cugd: the cug management server"};
    app.name("cugd");
    app.set_version_flag("--version", "cugd 0.1.0");
    cli::add_config(app, std::string(paths::conf_dir) + "/cugd.conf");
    app.add_option("--store", store_dir, "store directory ($CUG_STORE, /var/lib/cug/store)")
        ->type_name("DIR");
    app.add_option("--listen", listen, "address and port of the control channel (TLS 1.3)")
        ->check(cli::checked(&net::Endpoint::parse))
        ->capture_default_str();
    app.add_option("--control-socket", control, "local key=value socket")
        ->type_name("PATH")
        ->capture_default_str();
    app.add_option("--session-hours", session_hours, "longest session")
        ->check(CLI::Range(0.01, 168.0))
        ->capture_default_str();
    app.add_option("--hash-workers", workers, "threads that check passwords (Argon2id at once)")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    app.add_option("--tls-workers", tls_workers,
                   "threads for the TLS handshakes of new connections (default: one per CPU, "
                   "at most 8)")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    app.add_option("--idle-seconds", idle, "a silent terminal's session ends after this")
        ->check(CLI::Range(std::int64_t{5}, std::int64_t{86400}))
        ->capture_default_str();
    app.add_option("--presence-seconds", presence,
                   "how often a terminal's card must sign a presence challenge")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{86400}))
        ->capture_default_str();
    app.add_option("--rotate-seconds", rotate,
                   "how often every group's key epoch rotates (also shortly after start)")
        ->check(CLI::Range(std::int64_t{10}, std::int64_t{86400}))
        ->capture_default_str();
    app.add_option("--max-startups", max_startups,
                   "connections not yet logged in or resumed: START:RATE:FULL as OpenSSH's "
                   "MaxStartups (beyond START refused with RATE percent, growing to all at FULL)")
        ->check(
            cli::checked([](const std::string& text) { return server::parse_startups(text, 0); }))
        ->capture_default_str();
    app.add_option("--per-source-startups", per_source_startups,
                   "such connections from one address at once (0: no limit)")
        ->capture_default_str();
    app.add_option("--metrics", metrics_at,
                   "serve Prometheus metrics at /metrics on PORT of loopback, or ADDRESS:PORT "
                   "(default: not at all)")
        ->type_name("[ADDRESS:]PORT")
        ->check(cli::checked(&metrics::parse_listen));
    app.add_flag("-v,--verbose", verbose, "log debug events too (every push, refused connection)");
    if (auto status = cli::parse(app, argc, argv)) return *status;
    log::setup("cugd", verbose);
    return cli::report("cugd", [&]() -> Result<void> {
        server::DaemonConfig config;
        config.store_dir = store_dir;
        auto endpoint = net::Endpoint::parse(listen);
        if (!endpoint) return make_error(Errc::usage, "--listen: {}", endpoint.error().message);
        config.listen = *endpoint;
        config.control_socket = control;
        config.login.session_seconds = static_cast<std::int64_t>(session_hours * 3600);
        config.hash_workers = workers;
        config.tls_workers = tls_workers;
        config.idle_seconds = idle;
        config.presence_seconds = presence;
        config.rotate_seconds = rotate;
        config.first_rotation = std::min<std::int64_t>(60, rotate);
        config.startups = CUG_TRY(server::parse_startups(max_startups, per_source_startups));
        if (!metrics_at.empty()) config.metrics = CUG_TRY(metrics::parse_listen(metrics_at));
        const auto metrics_endpoint = config.metrics;
        auto daemon = CUG_TRY(server::Daemon::create(std::move(config)));
        log::event(log::Priority::info, "started",
                   {{"port", daemon->port()},
                    {"store", store_dir},
                    {"control_socket", control},
                    {"metrics", metrics_endpoint ? metrics_endpoint->to_string() : ""}});
        cli::notify_ready(fmt::format("serving on port {}", daemon->port()));
        return daemon->run();
    }());
}
