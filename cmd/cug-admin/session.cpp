// cug-admin session list [--json]: the registration table (the patent's drawing 8).
#include "cli/table.hpp"
#include "commands.hpp"
#include "core/time.hpp"
#include "wire/json.hpp"

namespace cug::admin {

namespace {

struct SessionArgs {
    bool json = false;
};

struct Row {
    std::string group, user, overlay, terminal;
    std::int64_t since = 0, last_seen = 0;
    bool acknowledged = false;
};

Result<void> run_list(const Context& ctx, const SessionArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    std::vector<Row> rows;
    CUG_CHECK(st.read([&](store::ReadTxn& t) -> Result<void> {
        for (const auto& s : CUG_TRY(t.sessions())) {
            // The terminal's address is the UDP source cugd saw; until the
            // first hello, the address its control channel came from.
            const std::string terminal = s.endpoint  ? s.endpoint->to_string()
                                         : s.control ? s.control->address.to_string() + " (control)"
                                                     : "-";
            for (const auto& m : CUG_TRY(t.memberships_of(s.user)))
                rows.push_back({m.group, s.user, m.address.to_string(), terminal, s.login_time,
                                s.last_seen, s.acknowledged});
        }
        return ok();
    }));
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return std::tie(a.group, a.overlay) < std::tie(b.group, b.overlay);
    });
    if (args.json) {
        wire::JsonWriter j;
        j.begin_array();
        for (const auto& r : rows) {
            j.begin_object();
            j.field("group", r.group);
            j.field("user", r.user);
            j.field("overlay", r.overlay);
            j.field("terminal", r.terminal);
            j.field("since", format_time(r.since));
            j.field("last_seen", format_time(r.last_seen));
            j.field("acknowledged", r.acknowledged);
            j.end_object();
        }
        j.end_array();
        print(j.str());
        return ok();
    }
    cli::Table table({"GROUP", "USER", "OVERLAY", "TERMINAL", "SINCE"});
    for (const auto& r : rows)
        table.add({r.group, r.user, r.overlay, r.terminal, format_time(r.since)});
    print(table.render());
    return ok();
}

}  // namespace

void add_session_commands(CLI::App& app, Context& ctx) {
    auto* session = app.add_subcommand("session", "the registration table of logged-in users");
    session->require_subcommand(1);
    auto args = std::make_shared<SessionArgs>();
    auto* cmd = session->add_subcommand("list", "who is logged in, in which group, from where");
    cmd->add_flag("--json", args->json, "print JSON");
    cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return run_list(ctx, *args); }; });
}

}  // namespace cug::admin
