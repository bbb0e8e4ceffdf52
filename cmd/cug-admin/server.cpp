// cug-admin server show [--json] [--pem]: the server's identity, as terminals pin it.
#include "commands.hpp"
#include "core/time.hpp"
#include "wire/json.hpp"

namespace cug::admin {

namespace {

struct ServerArgs {
    bool json = false;
    bool pem = false;
};

Result<void> run_show(const Context& ctx, const ServerArgs& args) {
    auto st = CUG_TRY(ctx.open_store());
    std::string name;
    std::uint64_t generation = 0;
    auto certificate = CUG_TRY(st.read([&](store::ReadTxn& t) {
        name = t.server_name();
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
        j.end_object();
        print(j.str());
        return ok();
    }
    print(fmt::format("server: {}\n  key: {}\n  certificate: valid {} to {}\n  generation: {}\n",
                      name, key.fingerprint_text(), format_time(certificate.not_before()),
                      format_time(certificate.not_after()), generation));
    return ok();
}

}  // namespace

void add_server_command(CLI::App& app, Context& ctx) {
    auto* server = app.add_subcommand("server", "the server's identity");
    server->require_subcommand(1);
    auto args = std::make_shared<ServerArgs>();
    auto* cmd = server->add_subcommand("show", "show the server's name, key and certificate");
    cmd->add_flag("--json", args->json, "print JSON");
    cmd->add_flag("--pem", args->pem, "print the certificate in PEM");
    cmd->callback([&ctx, args] { ctx.action = [&ctx, args] { return run_show(ctx, *args); }; });
}

}  // namespace cug::admin
