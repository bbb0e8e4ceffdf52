// cug-admin card enroll|show
#include "cli/secret_input.hpp"
#include "commands.hpp"
#include "core/time.hpp"
#include "enroll/enroll.hpp"
#include "wire/json.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace cug::admin {

namespace {

struct CardArgs {
    std::string user;
    std::optional<std::string> reader;
    std::optional<int> mgmt_key_fd, pin_fd, puk_fd, new_pin_fd, new_puk_fd;
    std::vector<std::string> attestation_ca;
    bool require_attestation = false;
    std::int64_t certificate_days = 3650;
    bool json = false;
};

constexpr cli::SecretRules pin_rules{"PIN", 6, 8};
constexpr cli::SecretRules puk_rules{"PUK", 6, 8};

Result<std::vector<crypto::Certificate>> read_roots(const std::vector<std::string>& files) {
    std::vector<crypto::Certificate> roots;
    for (const auto& file : files) {
        std::ifstream in(file);
        if (!in) return make_error(Errc::no_input, "cannot read {}", file);
        std::stringstream text;
        text << in.rdbuf();
        auto cert = crypto::Certificate::from_pem(text.str());
        if (!cert) return make_error(Errc::invalid, "{}: {}", file, cert.error().message);
        roots.push_back(std::move(*cert));
    }
    return roots;
}

Result<crypto::SecretBuffer> read_management_key(int fd) {
    auto text = CUG_TRY(cli::read_secret_from_fd(fd, {"management key", 32, 64}));
    std::string lower(as_chars(text.view()));
    for (char& c : lower)
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    auto bytes = from_hex(lower);
    std::fill(lower.begin(), lower.end(), '\0');
    if (!bytes) return make_error(Errc::invalid, "the management key is not hexadecimal");
    auto key = crypto::SecretBuffer::copy_of(*bytes);
    std::fill(bytes->begin(), bytes->end(), 0);
    return key;
}

Result<void> run_enroll(const Context& ctx, const CardArgs& args) {
    // Files the command names are read as the caller, before it becomes the
    // store's owner.
    auto roots = CUG_TRY(read_roots(args.attestation_ca));
    auto st = CUG_TRY(ctx.open_store());
    // Refuse an unknown user before touching the card or asking for anything.
    CUG_TRY(st.read([&](store::ReadTxn& t) { return t.user(args.user); }));
    enroll::EnrollOptions o;
    o.user = args.user;
    o.attestation_roots = std::move(roots);
    o.require_attestation = args.require_attestation;
    o.certificate_days = args.certificate_days;
    if (args.mgmt_key_fd) o.management_key = CUG_TRY(read_management_key(*args.mgmt_key_fd));
    if (args.pin_fd) o.current_pin = CUG_TRY(cli::read_secret_from_fd(*args.pin_fd, pin_rules));
    if (args.puk_fd) o.current_puk = CUG_TRY(cli::read_secret_from_fd(*args.puk_fd, puk_rules));
    o.new_pin = CUG_TRY(cli::read_secret(
        args.new_pin_fd, fmt::format("New PIN for {}'s card (6-8 characters): ", args.user),
        pin_rules, true));
    if (args.new_puk_fd) o.new_puk = CUG_TRY(cli::read_secret_from_fd(*args.new_puk_fd, puk_rules));

    auto card = CUG_TRY(card::Card::open(args.reader));
    auto r = CUG_TRY(enroll::enroll(st, card, std::move(o)));
    if (args.json) {
        wire::JsonWriter j;
        j.begin_object();
        j.field("user", r.user);
        j.field("reader", r.reader);
        j.field("device", r.device);
        j.field("key_agreement_key", r.key_agreement_fingerprint);
        j.field("authentication_key", r.authentication_fingerprint);
        j.field("attestation", r.attestation);
        j.field("management_key", r.management_key);
        j.key("previous_owner");
        if (r.previous_owner)
            j.value(*r.previous_owner);
        else
            j.null();
        j.key("puk");
        if (!r.generated_puk.empty())
            j.value(as_chars(r.generated_puk.view()));
        else
            j.null();
        j.end_object();
        print(j.str());
        return ok();
    }
    std::string out = fmt::format(
        "enrolled {} on the card in '{}' ({})\n  key agreement (9D): {}\n  card authentication "
        "(9E): {}\n  attestation: {}\n  management key: {}, random, sealed in the store\n",
        r.user, r.reader, r.device, r.key_agreement_fingerprint, r.authentication_fingerprint,
        r.attestation, r.management_key);
    if (r.previous_owner && *r.previous_owner != r.user)
        out += fmt::format("  previously {}'s card: that user no longer has a card\n",
                           *r.previous_owner);
    if (!r.generated_puk.empty())
        out += fmt::format("  PUK: {} (give it to the user; it is not stored anywhere)\n",
                           as_chars(r.generated_puk.view()));
    print(out);
    return ok();
}

std::string validity(const crypto::Certificate& c) {
    return fmt::format("valid {} to {}", format_time(c.not_before()), format_time(c.not_after()));
}

std::string key_text(const std::optional<crypto::Certificate>& c) {
    if (!c) return "";
    auto key = c->public_key();
    return key ? key->fingerprint_text() : "unreadable";
}

Result<void> run_show(const Context& ctx, const CardArgs& args) {
    // Compare with the local store when there is one; a terminal has none.
    std::optional<store::Store> st;
    if (std::filesystem::exists(std::filesystem::path(ctx.store_dir) / "data.mdb"))
        st = CUG_TRY(ctx.open_store());
    auto card = CUG_TRY(card::Card::open(args.reader));
    auto report = CUG_TRY(enroll::inspect(card, st ? &*st : nullptr));
    const auto& id = report.identity;
    std::string device = id.version ? fmt::format("PIV card {}.{}.{}", id.version->major,
                                                  id.version->minor, id.version->patch)
                                    : "PIV card";
    if (id.serial) device += fmt::format(" serial {}", *id.serial);
    const auto server_key = key_text(id.server_certificate);
    if (args.json) {
        wire::JsonWriter j;
        j.begin_object();
        j.field("reader", id.reader);
        j.field("device", device);
        j.key("user");
        if (id.user_certificate)
            j.value(id.user_id());
        else
            j.null();
        j.key("server");
        if (id.server_certificate) {
            j.begin_object();
            j.field("name", id.server_certificate->subject_cn());
            j.field("key", server_key);
            j.end_object();
        } else {
            j.null();
        }
        j.key("server_matches_store");
        if (report.server_matches_store)
            j.value(*report.server_matches_store);
        else
            j.null();
        j.key("keys_match_store");
        if (report.keys_match_store)
            j.value(*report.keys_match_store);
        else
            j.null();
        j.field("key_agreement_key", id.key_agreement_key);
        j.field("authentication_key", id.authentication_key);
        j.field("key_agreement_key_fingerprint", key_text(id.user_certificate));
        j.field("pin_tries_left", std::int64_t{id.pin_tries_left});
        j.end_object();
        print(j.str());
        return ok();
    }
    std::string out = fmt::format("card in '{}': {}\n", id.reader, device);
    if (id.user_certificate)
        out += fmt::format("  user: {} (certificate {})\n", id.user_id(),
                           validity(*id.user_certificate));
    else
        out += "  user: none (not enrolled)\n";
    if (id.server_certificate) {
        std::string relation;
        if (report.server_matches_store)
            relation = *report.server_matches_store ? ", this store's server"
                                                    : ", NOT this store's server";
        out += fmt::format("  server: {} key {}{}\n", id.server_certificate->subject_cn(),
                           server_key, relation);
    } else {
        out += "  server: none\n";
    }
    if (report.keys_match_store)
        out += fmt::format("  registered in the store: {}\n",
                           *report.keys_match_store ? "yes" : "no (an older or replaced card)");
    out += fmt::format("  key agreement key (9D): {}\n",
                       id.key_agreement_key ? "present " + key_text(id.user_certificate) : "none");
    out += fmt::format(
        "  card authentication key (9E): {}\n",
        id.authentication_key ? "present " + key_text(id.authentication_certificate) : "none");
    out += fmt::format("  PIN tries left: {}\n", id.pin_tries_left < 0
                                                     ? std::string("unknown")
                                                     : std::to_string(id.pin_tries_left));
    print(out);
    return ok();
}

}  // namespace

void add_card_commands(CLI::App& app, Context& ctx) {
    auto* group = app.add_subcommand("card", "issue PIV cards to users and inspect cards");
    group->require_subcommand(1);

    auto enroll_args = std::make_shared<CardArgs>();
    auto* cmd = group->add_subcommand("enroll", "initialise a card for a user");
    cmd->add_option("USER", enroll_args->user, "user ID")->required();
    cmd->add_option("--reader", enroll_args->reader, "reader name (or a unique part of it)");
    cmd->add_option("--mgmt-key-fd", enroll_args->mgmt_key_fd,
                    "read the card's current management key (hex) from this descriptor");
    cmd->add_option("--pin-fd", enroll_args->pin_fd,
                    "read the card's current PIN from this descriptor (default: factory PIN)");
    cmd->add_option("--puk-fd", enroll_args->puk_fd,
                    "read the card's current PUK from this descriptor (default: factory PUK)");
    cmd->add_option("--new-pin-fd", enroll_args->new_pin_fd,
                    "read the new PIN from this descriptor instead of the terminal");
    cmd->add_option("--new-puk-fd", enroll_args->new_puk_fd,
                    "read the new PUK from this descriptor (default: a random one, printed)");
    cmd->add_option("--attestation-ca", enroll_args->attestation_ca,
                    "a trusted attestation root certificate (PEM); may repeat")
        ->type_name("FILE");
    cmd->add_flag("--require-attestation", enroll_args->require_attestation,
                  "refuse cards whose keys cannot be attested");
    cmd->add_option("--certificate-days", enroll_args->certificate_days,
                    "validity of the user's certificates in days")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{36500}))
        ->capture_default_str();
    cmd->add_flag("--json", enroll_args->json, "print JSON");
    cmd->callback([&ctx, enroll_args] {
        ctx.action = [&ctx, enroll_args] { return run_enroll(ctx, *enroll_args); };
    });

    auto show_args = std::make_shared<CardArgs>();
    cmd = group->add_subcommand("show", "read a card without its PIN");
    cmd->add_option("--reader", show_args->reader, "reader name (or a unique part of it)");
    cmd->add_flag("--json", show_args->json, "print JSON");
    cmd->callback([&ctx, show_args] {
        ctx.action = [&ctx, show_args] { return run_show(ctx, *show_args); };
    });
}

}  // namespace cug::admin
