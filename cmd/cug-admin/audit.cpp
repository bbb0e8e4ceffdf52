// cug-admin audit [--noise] [--since TIME] [--limit N] [--json]
#include "cli/table.hpp"
#include "commands.hpp"
#include "core/time.hpp"
#include "wire/json.hpp"

namespace cug::admin {

namespace {

struct AuditArgs {
    std::string since;
    std::size_t limit = 1000;
    bool json = false;
    bool noise = false;
};

// The noise ring: what strangers did, per source address and minute.
Result<void> run_noise(const Context& ctx, const AuditArgs& args, std::int64_t since) {
    auto st = CUG_TRY(ctx.open_store());
    auto entries = CUG_TRY(st.read([&](store::ReadTxn& t) { return t.noise(since, args.limit); }));
    if (args.json) {
        wire::JsonWriter j;
        j.begin_array();
        for (const auto& e : entries) {
            j.begin_object();
            j.field("seq", e.seq);
            j.field("minute", format_time(e.minute));
            j.field("source", e.source);
            j.field("connections_refused", e.connections_refused);
            j.field("handshakes_failed", e.handshakes_failed);
            j.field("logins_refused", e.logins_refused);
            j.field("resumes_refused", e.resumes_refused);
            j.key("users");
            j.begin_array();
            for (std::size_t at = 0; !e.users.empty() && at <= e.users.size();) {
                const std::size_t comma = std::min(e.users.find(',', at), e.users.size());
                j.value(e.users.substr(at, comma - at));
                at = comma + 1;
            }
            j.end_array();
            j.end_object();
        }
        j.end_array();
        print(j.str());
        return ok();
    }
    cli::Table table(
        {"SEQ", "MINUTE", "SOURCE", "REFUSED", "HANDSHAKES", "LOGINS", "RESUMES", "USERS"});
    for (const auto& e : entries)
        table.add({std::to_string(e.seq), format_time(e.minute), e.source,
                   std::to_string(e.connections_refused), std::to_string(e.handshakes_failed),
                   std::to_string(e.logins_refused), std::to_string(e.resumes_refused),
                   e.users.empty() ? "-" : e.users});
    print(table.render());
    return ok();
}

Result<void> run_audit(const Context& ctx, const AuditArgs& args) {
    std::int64_t since = 0;
    if (!args.since.empty()) since = CUG_TRY(parse_time(args.since, unix_now()));
    if (args.noise) return run_noise(ctx, args, since);
    auto st = CUG_TRY(ctx.open_store());
    auto entries = CUG_TRY(st.read([&](store::ReadTxn& t) { return t.audit(since, args.limit); }));
    if (args.json) {
        wire::JsonWriter j;
        j.begin_array();
        for (const auto& e : entries) {
            j.begin_object();
            j.field("seq", e.seq);
            j.field("time", format_time(e.time_us / 1'000'000));
            j.field("time_us", e.time_us);
            j.field("uid", std::uint64_t{e.uid});
            j.field("actor", e.actor);
            j.field("program", e.program);
            j.field("action", e.action);
            j.field("subject", e.subject);
            j.field("detail", e.detail);
            j.end_object();
        }
        j.end_array();
        print(j.str());
        return ok();
    }
    cli::Table table({"SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT", "DETAIL"});
    for (const auto& e : entries)
        table.add({std::to_string(e.seq), format_time(e.time_us / 1'000'000),
                   fmt::format("{} ({})", e.actor, e.program), e.action, e.subject, e.detail});
    print(table.render());
    return ok();
}

}  // namespace

void add_audit_command(CLI::App& app, Context& ctx) {
    auto args = std::make_shared<AuditArgs>();
    auto* cmd = app.add_subcommand("audit", "show the audit log of changes");
    cmd->add_option(
        "--since", args->since,
        "from this time: 2026-11-23, 2026-11-23T10:00:00Z, @UNIXTIME, or 15m/2h/7d ago");
    cmd->add_option("--limit", args->limit, "at most this many (the newest)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100'000'000}))
        ->capture_default_str();
    cmd->add_flag("--json", args->json, "print JSON");
    cmd->add_flag("--noise", args->noise,
                  "show what strangers did instead (per source and minute: connections over the "
                  "caps, failed handshakes, logins refused before the card proof, bogus resumes)");
    cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return run_audit(ctx, *args); }; });
}

}  // namespace cug::admin
