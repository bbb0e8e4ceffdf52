// cug-admin server show [--json] [--pem]: the server's identity, as terminals pin it.
// cug-admin server status [--json]: what the running cugd says of itself.
// cug-admin server set --dns-zone ZONE: the zone terminals resolve names in.
#include "commands.hpp"
#include "core/time.hpp"
#include "dns/zone.hpp"
#include "net/local.hpp"
#include "wire/json.hpp"

namespace cug::admin {

namespace {

struct ServerArgs {
    bool json = false;
    bool pem = false;
    std::string dns_zone;
};

Result<void> run_set(const Context& ctx, const ServerArgs& args) {
    CUG_TRY(dns::check_zone(args.dns_zone));  // before the store is opened
    auto st = CUG_TRY(ctx.open_store());
    std::string was;
    const std::string zone = CUG_TRY(st.write([&](store::WriteTxn& t) {
        was = t.dns_zone();
        return t.set_dns_zone(args.dns_zone);
    }));
    if (args.json) {
        wire::JsonWriter j;
        j.begin_object();
        j.field("dns_zone", zone);
        j.field("was", was);
        j.end_object();
        print(j.str());
        return ok();
    }
    print(fmt::format("DNS zone: {} (was {}); cugd tells the terminals within a second\n", zone,
                      was));
    return ok();
}

Result<void> run_show(const Context& ctx, const ServerArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    std::string name, zone;
    std::uint64_t generation = 0;
    auto certificate = CUG_TRY(st.read([&](store::ReadTxn& t) {
        name = t.server_name();
        zone = t.dns_zone();
        generation = t.generation();
        return t.server_certificate();
    }));
    if (args.pem) {
        print(certificate.to_pem());
        return ok();
    }
    auto key = CUG_TRY(certificate.public_key());
    if (args.json) {
        wire::JsonWriter j;
        j.begin_object();
        j.field("name", name);
        j.field("key", key.fingerprint_text());
        j.field("not_before", format_time(certificate.not_before()));
        j.field("not_after", format_time(certificate.not_after()));
        j.field("generation", generation);
        j.field("dns_zone", zone);
        j.end_object();
        print(j.str());
        return ok();
    }
    print(fmt::format(
        "server: {}\n  key: {}\n  certificate: valid {} to {}\n  generation: {}\n  DNS zone: {}\n",
        name, key.fingerprint_text(), format_time(certificate.not_before()),
        format_time(certificate.not_after()), generation, zone));
    return ok();
}

// "3h 2m" for an uptime in seconds.
std::string duration_text(std::uint64_t s) {
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m {}s", s / 60, s % 60);
    if (s < 86400) return fmt::format("{}h {}m", s / 3600, s % 3600 / 60);
    return fmt::format("{}d {}h", s / 86400, s % 86400 / 3600);
}

Result<void> run_status(const Context& ctx, const ServerArgs& args) {
    wire::Message request;
    CUG_CHECK(request.add("cmd", "status"));
    auto answer = net::ask_local(ctx.cugd_socket, request, std::chrono::seconds(5), wire::Limits{});
    if (!answer)
        return make_error(Errc::unavailable, "cugd does not answer on {}: {}", ctx.cugd_socket,
                          answer.error().message);
    if (answer->get("errno").value_or("1") != "0")
        return make_error(Errc::unavailable, "cugd: {}", answer->get("message").value_or("failed"));
    // Every value of a status answer is a count (man/cugd.8, CONTROL SOCKET).
    std::vector<std::pair<std::string, std::uint64_t>> counts;
    for (const auto& [key, value] : *answer) {
        if (key == "errno") continue;
        auto n = answer->get_u64(key);
        if (!n) return make_error(Errc::protocol, "cugd's status has {}={}", key, value);
        counts.emplace_back(key, *n);
    }
    auto count = [&](std::string_view key) -> std::uint64_t {
        for (const auto& [k, n] : counts)
            if (k == key) return n;
        return 0;
    };
    if (args.json) {
        wire::JsonWriter j;
        j.begin_object();
        for (const auto& [k, n] : counts)
            j.field(k, n);
        j.end_object();
        print(j.str());
        return ok();
    }
    print(fmt::format(
        "cugd: serving on port {}, up {}\n"
        "  sessions: {} ({} channels, {} in TLS handshakes, {} not logged in yet)\n"
        "  refused since the start: {} connections, {} handshakes, {} logins, {} "
        "resumes\n",
        count("port"), duration_text(count("uptime")), count("sessions"), count("channels"),
        count("handshakes"), count("startups"), count("refused_connections"),
        count("failed_handshakes"), count("refused_logins"), count("refused_resumes")));
    return ok();
}

}  // namespace

void add_server_command(CLI::App& app, Context& ctx) {
    auto* server = app.add_subcommand("server", "the server's identity, and the running cugd");
    server->require_subcommand(1);
    auto args = std::make_shared<ServerArgs>();
    auto* cmd = server->add_subcommand("show", "show the server's name, key and certificate");
    cmd->add_flag("--json", args->json, "print JSON");
    cmd->add_flag("--pem", args->pem, "print the certificate in PEM");
    cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return run_show(ctx, *args); }; });
    cmd = server->add_subcommand("set", "change the server's settings in the store");
    cmd->add_option("--dns-zone", args->dns_zone,
                    "the DNS zone of members' names, <user>.<group>.ZONE (default cug)")
        ->required()
        ->type_name("ZONE");
    cmd->add_flag("--json", args->json, "print JSON");
    cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return run_set(ctx, *args); }; });
    cmd = server->add_subcommand("status", "ask the running cugd how it is doing");
    cmd->add_flag("--json", args->json, "print JSON");
    cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return run_status(ctx, *args); }; });
}

}  // namespace cug::admin
