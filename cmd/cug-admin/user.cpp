// cug-admin user add|del|show|list|passwd|disable|enable
#include "cli/secret_input.hpp"
#include "cli/table.hpp"
#include "commands.hpp"
#include "core/time.hpp"
#include "store/names.hpp"
#include "wire/json.hpp"

namespace cug::admin {

namespace {

constexpr cli::SecretRules password_rules{"password", 8, 1024};

struct UserArgs {
    std::string name;
    std::optional<int> password_fd;
    bool json = false;
};

// Reads the password before the write transaction: hashing takes a while and
// must not hold the store's writer lock.
Result<std::string> new_password_hash(store::Store& st, const UserArgs& args) {
    auto params = CUG_TRY(st.read([](store::ReadTxn& t) { return t.password_params(); }));
    auto password = CUG_TRY(cli::read_secret(
        args.password_fd, fmt::format("New password for {}: ", args.name), password_rules, true));
    return crypto::hash_password(password.view(), params);
}

Result<void> run_add(const Context& ctx, const UserArgs& args) {
    CUG_CHECK(store::check_user_name(args.name));
    auto st = CUG_TRY(ctx.open_store());
    // Refuse a duplicate before asking for a password; the write re-checks.
    if (CUG_TRY(st.read([&](store::ReadTxn& t) { return t.find_user(args.name); })))
        return make_error(Errc::exists, "user '{}' already exists", args.name);
    auto hash = CUG_TRY(new_password_hash(st, args));
    return st.write([&](store::WriteTxn& t) { return t.add_user(args.name, hash); });
}

Result<void> run_passwd(const Context& ctx, const UserArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    CUG_TRY(st.read([&](store::ReadTxn& t) { return t.user(args.name); }));
    auto hash = CUG_TRY(new_password_hash(st, args));
    return st.write([&](store::WriteTxn& t) { return t.set_password(args.name, hash); });
}

Result<void> run_del(const Context& ctx, const UserArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    return st.write([&](store::WriteTxn& t) { return t.delete_user(args.name); });
}

Result<void> run_set_enabled(const Context& ctx, const UserArgs& args, bool enabled) {
    auto st = CUG_TRY(ctx.open_store());
    return st.write([&](store::WriteTxn& t) { return t.set_enabled(args.name, enabled); });
}

std::string card_summary(const store::User& u) {
    if (!u.card) return "none";
    return fmt::format("enrolled {}", format_time(u.card->enrolled));
}

std::string password_summary(const store::User& u) {
    auto params = crypto::phc_params(u.password_hash);
    return fmt::format("set {} (argon2id {})", format_time(u.password_changed),
                       params ? params->to_string() : "unreadable");
}

void user_json(wire::JsonWriter& j, const store::User& u,
               const std::vector<store::Membership>& groups) {
    j.begin_object();
    j.field("name", u.name);
    j.field("enabled", u.enabled);
    j.field("created", format_time(u.created));
    j.field("password_changed", format_time(u.password_changed));
    auto params = crypto::phc_params(u.password_hash);
    j.field("password_params", params ? params->to_string() : std::string());
    j.field("failed_logins", std::uint64_t{u.failed_logins});
    j.key("card");
    if (u.card) {
        j.begin_object();
        j.field("enrolled", format_time(u.card->enrolled));
        j.field("certificate_serial", to_hex(u.card->certificate_serial));
        j.field("device", u.card->device);
        j.end_object();
    } else {
        j.null();
    }
    j.key("groups");
    j.begin_array();
    for (const auto& m : groups) {
        j.begin_object();
        j.field("group", m.group);
        j.field("address", m.address.to_string());
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

Result<void> run_show(const Context& ctx, const UserArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    store::User u;
    std::vector<store::Membership> groups;
    CUG_CHECK(st.read([&](store::ReadTxn& t) -> Result<void> {
        u = CUG_TRY(t.user(args.name));
        groups = CUG_TRY(t.memberships_of(args.name));
        return ok();
    }));
    if (args.json) {
        wire::JsonWriter j;
        user_json(j, u, groups);
        print(j.str());
        return ok();
    }
    std::string out = fmt::format(
        "user: {}\n  state: {}\n  created: {}\n  password: {}\n  failed logins: {}\n"
        "  card: {}\n",
        u.name, u.enabled ? "enabled" : "disabled", format_time(u.created), password_summary(u),
        u.failed_logins, card_summary(u));
    if (groups.empty()) out += "  groups: none\n";
    for (const auto& m : groups)
        out += fmt::format("  group {}: {}\n", m.group, m.address.to_string());
    print(out);
    return ok();
}

Result<void> run_list(const Context& ctx, const UserArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    wire::JsonWriter j;
    cli::Table table({"USER", "STATE", "CARD", "GROUPS"});
    if (args.json) j.begin_array();
    CUG_CHECK(st.read([&](store::ReadTxn& t) {
        return t.for_each_user([&](const store::User& u) -> Result<void> {
            auto groups = CUG_TRY(t.memberships_of(u.name));
            if (args.json) {
                user_json(j, u, groups);
                return ok();
            }
            std::string names;
            for (const auto& m : groups)
                names += (names.empty() ? "" : ",") + m.group;
            table.add({u.name, u.enabled ? "enabled" : "disabled", u.card ? "enrolled" : "none",
                       names.empty() ? "-" : names});
            return ok();
        });
    }));
    if (args.json) {
        j.end_array();
        print(j.str());
    } else {
        print(table.render());
    }
    return ok();
}

using Runner = Result<void> (*)(const Context&, const UserArgs&);

void add(CLI::App& parent, Context& ctx, const char* name, const char* help, Runner runner,
         bool password, bool json) {
    auto args = std::make_shared<UserArgs>();
    auto* cmd = parent.add_subcommand(name, help);
    if (std::string(name) != "list") cmd->add_option("USER", args->name, "user ID")->required();
    if (password)
        cmd->add_option("--password-fd", args->password_fd,
                        "read the password from this file descriptor instead of the terminal");
    if (json) cmd->add_flag("--json", args->json, "print JSON");
    cmd->callback(
        [&ctx, args, runner] { ctx.action = [&ctx, args, runner] { return runner(ctx, *args); }; });
}

}  // namespace

void add_user_commands(CLI::App& app, Context& ctx) {
    auto* user = app.add_subcommand("user", "add, remove, show and change users");
    user->require_subcommand(1);
    add(*user, ctx, "add", "add a user (asks for the password)", run_add, true, false);
    add(*user, ctx, "del", "remove a user and its memberships", run_del, false, false);
    add(*user, ctx, "show", "show a user", run_show, false, true);
    add(*user, ctx, "list", "list users", run_list, false, true);
    add(*user, ctx, "passwd", "set a user's password", run_passwd, true, false);
    add(
        *user, ctx, "disable", "refuse the user's logins",
        +[](const Context& c, const UserArgs& a) { return run_set_enabled(c, a, false); }, false,
        false);
    add(
        *user, ctx, "enable", "allow the user's logins again",
        +[](const Context& c, const UserArgs& a) { return run_set_enabled(c, a, true); }, false,
        false);
}

}  // namespace cug::admin
