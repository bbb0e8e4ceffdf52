// cug-admin group add|del|show|list
#include "cli/table.hpp"
#include "commands.hpp"
#include "core/time.hpp"
#include "store/names.hpp"
#include "wire/json.hpp"

namespace cug::admin {

namespace {

struct GroupArgs {
    std::string name;
    std::string prefix;
    bool force = false;
    bool json = false;
};

std::string capacity_text(const net::Prefix& prefix) {
    const unsigned __int128 last = store::last_offset(prefix);
    if (last > UINT64_MAX) return "more than 2^64";
    return std::to_string(static_cast<std::uint64_t>(last));
}

Result<void> run_add(const Context& ctx, const GroupArgs& args) {
    CUG_CHECK(store::check_group_name(args.name));
    auto prefix = CUG_TRY(net::Prefix::parse(args.prefix));
    CUG_CHECK(store::check_group_prefix(prefix));
    auto st = CUG_TRY(ctx.open_store());
    return st.write([&](store::WriteTxn& t) -> Result<void> {
        CUG_TRY(t.add_group(args.name, prefix));
        return ok();
    });
}

Result<void> run_del(const Context& ctx, const GroupArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    return st.write([&](store::WriteTxn& t) { return t.delete_group(args.name, args.force); });
}

void group_json(wire::JsonWriter& j, const store::Group& g,
                const std::vector<store::Membership>* members) {
    j.begin_object();
    j.field("name", g.name);
    j.field("prefix", g.prefix.to_string());
    j.field("created", format_time(g.created));
    j.field("members", g.member_count);
    j.field("capacity", capacity_text(g.prefix));
    j.field("key_id", g.current.key_id);
    j.field("key_created", format_time(g.current.created));
    if (members) {
        j.key("member_list");
        j.begin_array();
        for (const auto& m : *members) {
            j.begin_object();
            j.field("user", m.user);
            j.field("address", m.address.to_string());
            j.field("added", format_time(m.added));
            j.end_object();
        }
        j.end_array();
    }
    j.end_object();
}

Result<void> run_show(const Context& ctx, const GroupArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    store::Group g;
    std::vector<store::Membership> members;
    CUG_CHECK(st.read([&](store::ReadTxn& t) -> Result<void> {
        g = CUG_TRY(t.group(args.name));
        members = CUG_TRY(t.members_of(args.name));
        return ok();
    }));
    if (args.json) {
        wire::JsonWriter j;
        group_json(j, g, &members);
        print(j.str());
        return ok();
    }
    std::string out = fmt::format(
        "group: {}\n  prefix: {}\n  created: {}\n  key id: {} (since {})\n  members: {} of {}\n",
        g.name, g.prefix.to_string(), format_time(g.created), g.current.key_id,
        format_time(g.current.created), g.member_count, capacity_text(g.prefix));
    for (const auto& m : members)
        out += fmt::format("  member {}: {}\n", m.user, m.address.to_string());
    print(out);
    return ok();
}

Result<void> run_list(const Context& ctx, const GroupArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    auto groups = CUG_TRY(st.read([](store::ReadTxn& t) { return t.groups(); }));
    if (args.json) {
        wire::JsonWriter j;
        j.begin_array();
        for (const auto& g : groups)
            group_json(j, g, nullptr);
        j.end_array();
        print(j.str());
        return ok();
    }
    cli::Table table({"GROUP", "PREFIX", "MEMBERS", "KEY-ID"});
    for (const auto& g : groups)
        table.add({g.name, g.prefix.to_string(), std::to_string(g.member_count),
                   std::to_string(g.current.key_id)});
    print(table.render());
    return ok();
}

}  // namespace

void add_group_commands(CLI::App& app, Context& ctx) {
    auto* group = app.add_subcommand("group", "add, remove and show groups (one VPN each)");
    group->require_subcommand(1);

    auto add = std::make_shared<GroupArgs>();
    auto* cmd = group->add_subcommand("add", "add a group with its overlay prefix");
    cmd->add_option("GROUP", add->name, "group name")->required();
    cmd->add_option("--prefix", add->prefix, "overlay prefix, e.g. 10.0.0.0/24 or fd00:1::/64")
        ->required();
    cmd->callback([&ctx, add] { ctx.action = [&ctx, add] { return run_add(ctx, *add); }; });

    auto del = std::make_shared<GroupArgs>();
    cmd = group->add_subcommand("del", "remove a group");
    cmd->add_option("GROUP", del->name, "group name")->required();
    cmd->add_flag("--force", del->force, "remove its members too");
    cmd->callback([&ctx, del] { ctx.action = [&ctx, del] { return run_del(ctx, *del); }; });

    auto show = std::make_shared<GroupArgs>();
    cmd = group->add_subcommand("show", "show a group and its members");
    cmd->add_option("GROUP", show->name, "group name")->required();
    cmd->add_flag("--json", show->json, "print JSON");
    cmd->callback([&ctx, show] { ctx.action = [&ctx, show] { return run_show(ctx, *show); }; });

    auto list = std::make_shared<GroupArgs>();
    cmd = group->add_subcommand("list", "list groups");
    cmd->add_flag("--json", list->json, "print JSON");
    cmd->callback([&ctx, list] { ctx.action = [&ctx, list] { return run_list(ctx, *list); }; });
}

}  // namespace cug::admin
