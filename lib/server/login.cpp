#include "server/login.hpp"

#include "core/time.hpp"
#include "crypto/random.hpp"
#include "server/bundle.hpp"
#include "store/names.hpp"
#include "wire/text.hpp"

namespace cug::server {

using protocol::max_password;

std::int64_t backoff_left(std::uint32_t failures, std::int64_t last, std::uint32_t free,
                          std::int64_t max, std::int64_t now) {
    // After `free` failures in a row the next try waits 1 s, then 2, 4 ...
    if (failures == 0 || failures < free) return 0;
    const std::uint32_t over = failures - free;
    const std::int64_t delay =
        over >= 20 ? max : std::min<std::int64_t>(std::int64_t{1} << over, max);
    return std::max<std::int64_t>(0, last + delay - now);
}

std::int64_t lockout_left(const store::User& user, const LoginConfig& config, std::int64_t now) {
    return backoff_left(user.failed_logins, user.last_failure, config.free_failures,
                        config.max_lockout, now);
}

std::int64_t SourceBackoff::left(const net::Address& source, std::int64_t now) const {
    auto e = entries_.find(source);
    if (e == entries_.end()) return 0;
    return backoff_left(e->second.failures, e->second.last, config_.free_source_failures,
                        config_.max_lockout, now);
}

void SourceBackoff::failed(const net::Address& source, std::int64_t now) {
    auto e = entries_.find(source);
    if (e == entries_.end()) {
        if (entries_.size() >= config_.max_sources)
            std::erase_if(entries_, [&](const auto& entry) {
                return now - entry.second.last > config_.max_lockout;
            });
        if (entries_.size() >= config_.max_sources) return;
        e = entries_.emplace(source, Entry{}).first;
    } else if (now - e->second.last > config_.max_lockout) {
        e->second.failures = 0;  // long quiet: a fresh start
    }
    e->second.failures += 1;
    e->second.last = now;
}

Login::Login(store::Store& store, LoginConfig config, Bytes exporter, net::Endpoint peer,
             SourceBackoff* sources, NoiseLog* noise)
    : store_(store),
      config_(config),
      exporter_(std::move(exporter)),
      peer_(peer),
      sources_(sources),
      noise_(noise) {}

LoginStep Login::refuse(std::string_view reason, std::string_view audit_detail,
                        std::optional<std::int64_t> retry_after) {
    state_ = State::finished;
    LoginStep step;
    wire::Message m;
    (void)m.add("type", "refused");
    (void)m.add("reason", reason);
    if (retry_after) (void)m.add_u64("retry_after", static_cast<std::uint64_t>(*retry_after));
    step.send.push_back(m.encode());
    step.close = true;
    step.refused = std::string(reason);
    // Before the card proof anyone can make cugd refuse, as often as they
    // like: that is counted, not written one by one.
    if (!proven_ && noise_) {
        noise_->note(peer_.address, NoiseLog::Kind::login_refused, config_.clock(), user_);
        return step;
    }
    // Every other refusal is audited with its real reason; the answer says
    // only what the card's holder may know.
    const std::string subject =
        store::check_user_name(user_) ? user_ : wire::quote_for_message(user_);
    (void)store_.write([&](store::WriteTxn& t) {
        return t.audit_event("login.refused", subject,
                             fmt::format("from {}: {}", peer_.to_string(), audit_detail));
    });
    return step;
}

std::string Login::user() const {
    return store::check_user_name(user_) ? user_ : std::string();
}

LoginStep Login::on_message(const wire::Message& m, std::string_view encoded) {
    auto type = m.get("type");
    if (!type) return refuse("failed", "a message without a type");
    switch (state_) {
        case State::hello:
            if (*type == "hello") return on_hello(m, encoded);
            break;
        case State::proof:
            if (*type == "proof") return on_proof(m);
            break;
        case State::password:  // nothing may arrive while the password is checked
        case State::finished:
            break;
    }
    return refuse("failed", fmt::format("unexpected message '{}'", wire::quote_for_message(*type)));
}

LoginStep Login::on_hello(const wire::Message& m, std::string_view encoded) {
    if (!m.allow_only({"type", "version", "user"}) ||
        m.get_u64("version").value_or(0) != protocol::version)
        return refuse("failed", "a malformed hello");
    user_ = std::string(m.get("user").value_or(""));
    hello_ = std::string(encoded);
    auto server = store_.read([&](store::ReadTxn& t) -> Result<crypto::PublicKey> {
        auto certificate = CUG_TRY(t.server_certificate());
        if (store::check_user_name(user_)) {
            auto u = CUG_TRY(t.find_user(user_));
            if (u && u->card) {
                card_key_ = CUG_TRY(crypto::PublicKey::from_point(u->card->key_agreement));
                card_serial_ = u->card->certificate_serial;
            }
        }
        return certificate.public_key();
    });
    if (!server) return refuse("failed", server.error().message);
    // Unknown users and users without a card get a challenge all the same,
    // and a throw-away card key so the work done is alike.
    if (!card_key_) {
        doomed_ = true;
        card_key_ = crypto::PrivateKey::generate()->public_key();
    }
    auto ephemeral = crypto::PrivateKey::generate();
    if (!ephemeral) return refuse("failed", ephemeral.error().message);
    ephemeral_ = std::move(*ephemeral);
    const crypto::PublicKey e = ephemeral_->public_key();
    wire::Message challenge;
    (void)challenge.add("type", "challenge");
    (void)challenge.add_bytes("ephemeral", e.to_point());
    challenge_ = challenge.encode();
    auto shared = crypto::ecdh(*ephemeral_, *card_key_);
    if (!shared) return refuse("failed", "ECDH failed");
    keys_ = protocol::derive_login_keys(exporter_, shared->view(),
                                        protocol::login_info(user_, *card_key_, e, *server));
    state_ = State::proof;
    LoginStep step;
    step.send.push_back(challenge_);
    return step;
}

LoginStep Login::on_proof(const wire::Message& m) {
    if (!m.allow_only({"type", "proof", "password"})) return refuse("failed", "a malformed proof");
    auto proof = m.get_bytes("proof", 32);
    auto password = m.get_bytes("password", max_password);
    if (!proof || !password) return refuse("failed", "a malformed proof");
    const auto transcript = protocol::transcript_hash(hello_, challenge_);
    const bool proven = protocol::check_login_proof(*keys_, transcript, *proof);
    auto secret = crypto::SecretBuffer::copy_of(*password);
    std::fill(password->begin(), password->end(), 0);
    if (doomed_) return refuse("failed", "unknown user or no card enrolled");
    if (!proven) return refuse("failed", "the card proof does not hold (wrong card or key)");
    proven_ = true;

    // The card is proven: from here on its holder may learn why a login fails.
    auto user = store_.read([&](store::ReadTxn& t) { return t.user(user_); });
    if (!user) return refuse("failed", user.error().message);
    if (!user->enabled) return refuse("disabled", "the user is disabled");
    const std::int64_t now = config_.clock();
    if (const std::int64_t wait = lockout_left(*user, config_, now); wait > 0)
        return refuse("locked", fmt::format("locked out for {} s more", wait), wait);
    if (const std::int64_t wait = sources_ ? sources_->left(peer_.address, now) : 0; wait > 0)
        return refuse("locked",
                      fmt::format("the source {} is locked out for {} s more",
                                  peer_.address.to_string(), wait),
                      wait);
    state_ = State::password;
    LoginStep step;
    step.verify = PasswordCheck{user->password_hash, std::move(secret)};
    return step;
}

LoginStep Login::password_checked(Result<bool> match) {
    if (state_ != State::password) return refuse("failed", "a password result out of turn");
    if (!match)
        return refuse("failed", fmt::format("checking the password: {}", match.error().message));
    if (!*match) {
        const std::int64_t now = config_.clock();
        (void)store_.write([&](store::WriteTxn& t) -> Result<void> {
            auto u = CUG_TRY(t.user(user_));
            u.failed_logins += 1;
            u.last_failure = now;
            return t.put_user(u);
        });
        if (sources_) sources_->failed(peer_.address, now);
        return refuse("password", "wrong password");
    }
    auto step = register_session();
    if (!step) {
        const Error& e = step.error();
        const std::string_view reason = e.message.find("disabled") != std::string::npos ? "disabled"
                                        : e.message.find("no groups") != std::string::npos
                                            ? "no-groups"
                                            : "failed";
        return refuse(reason, e.message);
    }
    return std::move(*step);
}

Result<LoginStep> Login::register_session() {
    const std::int64_t now = config_.clock();
    Bytes id(protocol::session_id_size);
    crypto::random_bytes(id);
    // Made afresh for each run of the transaction's body: a store may run it
    // again (LMDB after growing its map), and a moved-from session is empty.
    auto session = [&] {
        store::Session s;
        s.user = user_;
        s.id = id;
        s.login_time = s.last_seen = now;
        s.expires = now + config_.session_seconds;
        s.card_serial = card_serial_;
        s.resume_key = crypto::SecretBuffer::copy_of(keys_->resume.view());
        s.push_key = crypto::SecretBuffer::copy_of(keys_->push.view());
        s.udp_key = crypto::SecretBuffer::copy_of(keys_->udp.view());
        s.control = peer_;
        return s;
    };
    LoginStep step;
    protocol::Bundle bundle;
    // One transaction re-checks what the login decided on: the user is still
    // enabled, the card is still the enrolled one, and there are groups.
    CUG_CHECK(store_.write([&](store::WriteTxn& t) -> Result<void> {
        auto u = CUG_TRY(t.user(user_));
        if (!u.enabled) return make_error(Errc::permission, "the user is disabled");
        if (!u.card || u.card->certificate_serial != card_serial_ ||
            !(*crypto::PublicKey::from_point(u.card->key_agreement) == *card_key_))
            return make_error(Errc::permission, "the card was re-enrolled during the login");
        if (CUG_TRY(t.memberships_of(user_)).empty())
            return make_error(Errc::not_found, "the user is in no groups");
        if (u.failed_logins != 0) {
            u.failed_logins = 0;
            CUG_CHECK(t.put_user(u));
        }
        step.replaced = CUG_TRY(t.register_session(session()));
        auto registered = CUG_TRY(t.find_session(user_));
        bundle = CUG_TRY(build_bundle(t, *registered));
        step.registered = std::move(registered);
        return ok();
    }));
    wire::Message reply;
    (void)reply.add("type", "bundle");
    (void)reply.add_bytes("sealed", protocol::seal_bundle(*keys_, bundle));
    step.send.push_back(reply.encode());
    state_ = State::finished;
    return step;
}

}  // namespace cug::server
