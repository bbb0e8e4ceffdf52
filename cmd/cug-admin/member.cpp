// cug-admin member add|del|list
#include "cli/table.hpp"
#include "commands.hpp"
#include "core/time.hpp"
#include "wire/json.hpp"

namespace cug::admin {

namespace {

struct MemberArgs {
    std::string group;
    std::string user;
    std::string address;
    bool json = false;
};

Result<void> run_add(const Context& ctx, const MemberArgs& args) {
    std::optional<net::Address> address;
    if (!args.address.empty()) {
        address = net::Address::parse(args.address);
        if (!address)
            return make_error(Errc::invalid, "'{}' is not an IPv4 or IPv6 address",
                              args.address.substr(0, 64));
    }
    auto st = CUG_TRY(ctx.open_store());
    auto m = CUG_TRY(
        st.write([&](store::WriteTxn& t) { return t.add_member(args.group, args.user, address); }));
    print(fmt::format("{} {} {}\n", m.group, m.user, m.address.to_string()));
    return ok();
}

Result<void> run_del(const Context& ctx, const MemberArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    return st.write([&](store::WriteTxn& t) { return t.delete_member(args.group, args.user); });
}

// The patent's drawing 6: every group with its users and their addresses.
Result<void> run_list(const Context& ctx, const MemberArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    struct Row {
        store::Membership m;
        bool enabled;
    };
    std::vector<Row> rows;
    CUG_CHECK(st.read([&](store::ReadTxn& t) -> Result<void> {
        auto collect = [&](const store::Membership& m) -> Result<void> {
            auto u = CUG_TRY(t.user(m.user));
            rows.push_back({m, u.enabled});
            return ok();
        };
        if (args.group.empty()) return t.for_each_member(collect);
        for (const auto& m : CUG_TRY(t.members_of(CUG_TRY(t.group(args.group)).name)))
            CUG_CHECK(collect(m));
        return ok();
    }));
    if (args.json) {
        wire::JsonWriter j;
        j.begin_array();
        for (const auto& r : rows) {
            j.begin_object();
            j.field("group", r.m.group);
            j.field("user", r.m.user);
            j.field("address", r.m.address.to_string());
            j.field("enabled", r.enabled);
            j.field("added", format_time(r.m.added));
            j.end_object();
        }
        j.end_array();
        print(j.str());
        return ok();
    }
    cli::Table table({"GROUP", "USER", "ADDRESS", "STATE"});
    for (const auto& r : rows)
        table.add(
            {r.m.group, r.m.user, r.m.address.to_string(), r.enabled ? "enabled" : "disabled"});
    print(table.render());
    return ok();
}

}  // namespace

void add_member_commands(CLI::App& app, Context& ctx) {
    auto* member = app.add_subcommand("member", "put users in groups and take them out");
    member->require_subcommand(1);

    auto add = std::make_shared<MemberArgs>();
    auto* cmd = member->add_subcommand("add", "make a user a member of a group");
    cmd->add_option("GROUP", add->group, "group name")->required();
    cmd->add_option("USER", add->user, "user ID")->required();
    cmd->add_option("--address", add->address,
                    "the overlay address to give (default: the next free one)");
    cmd->callback([&ctx, add] { ctx.action = [&ctx, add] { return run_add(ctx, *add); }; });

    auto del = std::make_shared<MemberArgs>();
    cmd = member->add_subcommand("del", "take a user out of a group");
    cmd->add_option("GROUP", del->group, "group name")->required();
    cmd->add_option("USER", del->user, "user ID")->required();
    cmd->callback([&ctx, del] { ctx.action = [&ctx, del] { return run_del(ctx, *del); }; });

    auto list = std::make_shared<MemberArgs>();
    cmd = member->add_subcommand("list", "list members and their addresses");
    cmd->add_option("GROUP", list->group, "only this group");
    cmd->add_flag("--json", list->json, "print JSON");
    cmd->callback([&ctx, list] { ctx.action = [&ctx, list] { return run_list(ctx, *list); }; });
}

}  // namespace cug::admin
