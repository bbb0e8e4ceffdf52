// cug-admin: enrollment and administration of a cug server's store.
#include "cli/parse.hpp"
#include "cli/program.hpp"
#include "commands.hpp"
#include "core/paths.hpp"
#include "net/local.hpp"

#include <cstdio>
#include <cstdlib>

namespace cug::admin {

store::Options Context::options() const {
    store::Options o;
    o.lock_timeout = std::chrono::milliseconds(static_cast<long long>(lock_timeout * 1000));
    return o;
}

Result<void> Context::become_owner() const {
    return cli::act_as_owner_of(store_dir);
}

Result<store::Store> Context::open_store() const {
    CUG_CHECK(become_owner());
    auto st = CUG_TRY(store::Store::open(store_dir, actor, options()));
    if (!generation_before)
        generation_before = st.read([](store::ReadTxn& t) -> Result<std::uint64_t> {
                                  return t.generation();
                              }).value_or(0);
    return st;
}

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
}

// The store's generation, if there is a store.
std::optional<std::uint64_t> generation(const Context& ctx) {
    auto st = store::Store::open(ctx.store_dir, ctx.actor, ctx.options());
    if (!st) return std::nullopt;
    auto g = st->read([](store::ReadTxn& t) -> Result<std::uint64_t> { return t.generation(); });
    return g ? std::optional<std::uint64_t>(*g) : std::nullopt;
}

// After a change, a running cugd applies it to live sessions at once. If none
// runs (or it does not answer), it notices the store's generation within a
// second anyway, so this is best effort and silent.
void notify_cugd(const Context& ctx) {
    wire::Message request;
    (void)request.add("cmd", "reconcile");
    (void)net::ask_local(ctx.cugd_socket, request, std::chrono::seconds(2), wire::Limits{});
}

}  // namespace cug::admin

int main(int argc, char** argv) {
    using namespace cug;
    cli::harden_process();
    admin::Context ctx;
    ctx.store_dir = cli::default_store_dir();
    const char* socket_env = std::getenv("CUG_CUGD_SOCKET");
    ctx.cugd_socket = socket_env && *socket_env ? socket_env : std::string(paths::cugd_socket);

    CLI::App app{"cug-admin: enroll users, groups and cards on a cug server"};
    app.name("cug-admin");
    app.set_version_flag("--version", "cug-admin 0.1.0");
    app.add_option("--store", ctx.store_dir, "store directory ($CUG_STORE, /var/lib/cug/store)")
        ->type_name("DIR");
    app.add_option("--lock-timeout", ctx.lock_timeout,
                   "seconds to wait for another writer (default 10)")
        ->check(CLI::Range(0.0, 3600.0));
    app.add_option("--cugd-socket", ctx.cugd_socket,
                   fmt::format("cugd's control socket, told after a change ($CUG_CUGD_SOCKET, "
                               "{})",
                               paths::cugd_socket))
        ->type_name("PATH");
    app.require_subcommand(1);
    admin::add_init_command(app, ctx);
    admin::add_user_commands(app, ctx);
    admin::add_group_commands(app, ctx);
    admin::add_member_commands(app, ctx);
    admin::add_audit_command(app, ctx);
    admin::add_check_command(app, ctx);
    admin::add_server_command(app, ctx);
    admin::add_card_commands(app, ctx);
    admin::add_session_commands(app, ctx);

    if (auto status = cli::parse(app, argc, argv)) return *status;
    if (!ctx.action) {
        fmt::print(stderr, "cug-admin: no command given (see cug-admin --help)\n");
        return exit_status(Errc::usage);
    }
    // The audit log names who ran the command (root, and who used sudo),
    // though the files are written as the store's owner.
    ctx.actor = store::Actor::current("cug-admin");
    auto result = ctx.action();
    if (result && ctx.generation_before && admin::generation(ctx) != ctx.generation_before)
        admin::notify_cugd(ctx);
    return cli::report("cug-admin", std::move(result));
}
