// cug-admin init: a new store with the server's key and certificate.
#include "commands.hpp"
#include "store/names.hpp"
#include "wire/json.hpp"

#include <unistd.h>

namespace cug::admin {

namespace {

struct InitArgs {
    std::string server_name;
    std::string password_cost = crypto::Argon2Params{}.to_string();
    std::uint64_t audit_limit = 100'000;
    std::uint64_t noise_limit = 10'000;
    std::int64_t certificate_days = 3650;
    bool json = false;
};

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "cug-server";
    return buf;
}

Result<void> run_init(const Context& ctx, InitArgs args) {
    if (args.server_name.empty()) args.server_name = host_name();
    // The server name is the certificate's common name: the same rules as a user's.
    if (!store::check_user_name(args.server_name))
        return make_error(Errc::invalid,
                          "invalid server name '{}': use 1-64 letters, digits, '.', '_' or '-'",
                          args.server_name.substr(0, 64));
    store::InitParams params;
    params.server_name = args.server_name;
    params.password_params = CUG_TRY(crypto::Argon2Params::parse(args.password_cost));
    params.audit_limit = args.audit_limit;
    params.noise_limit = args.noise_limit;
    params.certificate_days = args.certificate_days;
    CUG_CHECK(ctx.become_owner());
    auto st = CUG_TRY(store::Store::create(ctx.store_dir, params, ctx.actor, ctx.options()));
    auto certificate = CUG_TRY(st.read([](store::ReadTxn& t) { return t.server_certificate(); }));
    auto key = CUG_TRY(certificate.public_key());
    if (args.json) {
        wire::JsonWriter j;
        j.begin_object();
        j.field("store", ctx.store_dir);
        j.field("server_name", params.server_name);
        j.field("server_key", key.fingerprint_text());
        j.field("password_params", params.password_params.to_string());
        j.end_object();
        print(j.str());
    } else {
        print(fmt::format("created store {}\nserver {} key {}\n", ctx.store_dir, params.server_name,
                          key.fingerprint_text()));
    }
    return ok();
}

}  // namespace

void add_init_command(CLI::App& app, Context& ctx) {
    auto args = std::make_shared<InitArgs>();
    auto* cmd = app.add_subcommand("init", "create the store, the server key and certificate");
    cmd->add_option("--server-name", args->server_name,
                    "the server's name in its certificate (default: the host name)");
    cmd->add_option("--password-cost", args->password_cost,
                    "Argon2id cost for passwords, m=KiB,t=passes,p=lanes")
        ->capture_default_str();
    cmd->add_option("--audit-limit", args->audit_limit, "audit entries kept (oldest dropped)")
        ->check(CLI::Range(std::uint64_t{100}, std::uint64_t{100'000'000}))
        ->capture_default_str();
    cmd->add_option("--noise-limit", args->noise_limit,
                    "entries of the noise ring kept (what strangers did, per source and minute)")
        ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{100'000'000}))
        ->capture_default_str();
    cmd->add_option("--certificate-days", args->certificate_days,
                    "validity of the server certificate in days")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{36500}))
        ->capture_default_str();
    cmd->add_flag("--json", args->json, "print the result as JSON");
    cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return run_init(ctx, *args); }; });
}

}  // namespace cug::admin
