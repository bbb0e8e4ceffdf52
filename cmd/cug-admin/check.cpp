// cug-admin check: verifies the store's invariants.
#include "commands.hpp"
#include "wire/json.hpp"

namespace cug::admin {

namespace {

struct CheckArgs {
    bool json = false;
};

Result<void> run_check(const Context& ctx, const CheckArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    std::vector<std::string> problems = st.check_files();
    std::uint64_t users = 0, groups = 0, members = 0, sessions = 0, audit = 0;
    CUG_CHECK(st.read([&](store::ReadTxn& t) -> Result<void> {
        auto found = CUG_TRY(t.check());
        problems.insert(problems.end(), found.begin(), found.end());
        users = t.entries(store::Table::users);
        groups = t.entries(store::Table::groups);
        members = t.entries(store::Table::members);
        sessions = t.entries(store::Table::sessions);
        audit = t.entries(store::Table::audit);
        return ok();
    }));
    if (args.json) {
        wire::JsonWriter j;
        j.begin_object();
        j.field("ok", problems.empty());
        j.field("users", users);
        j.field("groups", groups);
        j.field("members", members);
        j.field("sessions", sessions);
        j.field("audit_entries", audit);
        j.key("problems");
        j.begin_array();
        for (const auto& p : problems)
            j.value(p);
        j.end_array();
        j.end_object();
        print(j.str());
    } else {
        for (const auto& p : problems)
            print(fmt::format("problem: {}\n", p));
        print(fmt::format("{}: {} users, {} groups, {} members, {} sessions, {} audit entries\n",
                          problems.empty() ? "store is consistent" : "store has problems", users,
                          groups, members, sessions, audit));
    }
    if (!problems.empty())
        return make_error(Errc::invalid, "the store at {} failed {} check{}", ctx.store_dir,
                          problems.size(), problems.size() == 1 ? "" : "s");
    return ok();
}

}  // namespace

void add_check_command(CLI::App& app, Context& ctx) {
    auto args = std::make_shared<CheckArgs>();
    auto* cmd = app.add_subcommand("check", "verify the store's invariants");
    cmd->add_flag("--json", args->json, "print JSON");
    cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return run_check(ctx, *args); }; });
}

}  // namespace cug::admin
