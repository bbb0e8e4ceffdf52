// cugd's login state machine against a terminal simulated with the protocol
// module and a software key standing in for the card's 9D key.
#include "server/login.hpp"

#include "core/time.hpp"
#include "crypto/random.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace cug;
using namespace cug::server;

namespace {

const crypto::Argon2Params cheap{8, 1, 1};
// The backoff tests' clock: it moves only when they say.
std::int64_t test_now = 1'800'000'000;
std::int64_t test_clock() {
    return test_now;
}

template <typename T>
T must(Result<T> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(*r);
}
void must(Result<void> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
}

struct Deployment {
    testing::TempDir dir;
    store::Store st = [&] {
        store::InitParams p;
        p.server_name = "srv";
        p.password_params = cheap;
        return must(store::Store::create(dir / "store", p, {0, "test", "login_test"}));
    }();
    std::map<std::string, crypto::PrivateKey> cards;
    NoiseLog noise;

    void add_user(const std::string& name, const std::string& password, bool with_card = true) {
        auto hash = must(crypto::hash_password(as_bytes(password), cheap));
        must(st.write([&](store::WriteTxn& t) { return t.add_user(name, hash); }));
        if (!with_card) return;
        auto key = must(crypto::PrivateKey::generate());
        must(st.write([&](store::WriteTxn& t) -> Result<void> {
            auto u = CUG_TRY(t.user(name));
            u.card.emplace();
            u.card->key_agreement = key.public_key().to_point();
            u.card->authentication = must(crypto::PrivateKey::generate()).public_key().to_point();
            u.card->certificate_serial = Bytes{static_cast<std::uint8_t>(name.back())};
            return t.put_user(u);
        }));
        cards.emplace(name, std::move(key));
    }
};

// One login as a terminal runs it; `card` is the key the terminal holds.
struct Attempt {
    std::vector<std::string> replies;
    std::optional<protocol::LoginKeys> keys;
    LoginStep last;
};

Attempt log_in(Deployment& d, const std::string& user, const crypto::PrivateKey& card,
               const std::string& password, SourceBackoff* sources = nullptr,
               const LoginConfig& config = {}, const char* from = "192.0.2.9:40000") {
    Attempt a;
    Bytes exporter(32);
    crypto::random_bytes(exporter);
    Login login(d.st, config, exporter, *net::Endpoint::parse(from), sources, &d.noise);
    wire::Message hello;
    (void)hello.add("type", "hello");
    (void)hello.add_u64("version", 1);
    (void)hello.add("user", user);
    const std::string hello_text = hello.encode();
    LoginStep step = login.on_message(hello, hello_text);
    REQUIRE(step.send.size() == 1);
    a.replies = step.send;
    auto challenge = must(wire::parse_message(step.send[0]));
    REQUIRE(*challenge.get("type") == "challenge");
    auto e = must(crypto::PublicKey::from_point(must(challenge.get_bytes("ephemeral", 65))));
    auto server = must(d.st.read([](store::ReadTxn& t) { return t.server_certificate(); }));
    auto shared = must(crypto::ecdh(card, e));
    a.keys = protocol::derive_login_keys(
        exporter, shared.view(),
        protocol::login_info(user, card.public_key(), e, must(server.public_key())));
    wire::Message proof;
    (void)proof.add("type", "proof");
    (void)proof.add_bytes("proof", protocol::login_proof(*a.keys, protocol::transcript_hash(
                                                                      hello_text, step.send[0])));
    (void)proof.add_bytes("password", as_bytes(password));
    step = login.on_message(proof, proof.encode());
    if (step.verify) {
        auto match = crypto::verify_password(step.verify->phc, step.verify->password.view());
        step = login.password_checked(std::move(match));
    }
    a.replies.insert(a.replies.end(), step.send.begin(), step.send.end());
    a.last = std::move(step);
    CHECK(login.finished());
    return a;
}

std::string reason_of(const Attempt& a) {
    auto m = must(wire::parse_message(a.replies.back()));
    if (*m.get("type") != "refused") return "";
    return std::string(*m.get("reason"));
}

}  // namespace

TEST_CASE("a login with the enrolled card and the right password gets its bundle") {
    Deployment d;
    d.add_user("USER-A", "passwd1-A");
    d.add_user("USER-B", "passwd2-B");
    must(d.st.write([](store::WriteTxn& t) -> Result<void> {
        CUG_TRY(t.add_group("VPN1", *net::Prefix::parse("10.0.0.0/24")));
        CUG_TRY(t.add_member("VPN1", "USER-A"));
        CUG_TRY(t.add_member("VPN1", "USER-B"));
        return ok();
    }));
    auto a = log_in(d, "USER-A", d.cards.at("USER-A"), "passwd1-A");
    REQUIRE(reason_of(a).empty());
    auto reply = must(wire::parse_message(a.replies.back(), protocol::channel_limits()));
    auto bundle = must(protocol::open_bundle(*a.keys, must(reply.get_bytes("sealed", 1 << 20))));
    REQUIRE(bundle.groups.size() == 1);
    CHECK(bundle.groups[0].address.to_string() == "10.0.0.1");
    CHECK(bundle.peers.empty());  // nobody else is logged in
    REQUIRE(a.last.registered.has_value());
    CHECK(a.last.registered->control->to_string() == "192.0.2.9:40000");
    CHECK_FALSE(a.last.replaced.has_value());
    must(d.st.write([](store::WriteTxn& t) { return t.acknowledge_session("USER-A"); }));

    // B logs in: A is its peer, and the pair keys agree across the two bundles.
    auto b = log_in(d, "USER-B", d.cards.at("USER-B"), "passwd2-B");
    auto b_reply = must(wire::parse_message(b.replies.back(), protocol::channel_limits()));
    auto b_bundle =
        must(protocol::open_bundle(*b.keys, must(b_reply.get_bytes("sealed", 1 << 20))));
    REQUIRE(b_bundle.peers.size() == 1);
    const auto& to_a = b_bundle.peers[0];
    CHECK(to_a.user == "USER-A");
    CHECK(to_a.address.to_string() == "10.0.0.1");
    auto a_session = must(d.st.read([](store::ReadTxn& t) { return t.find_session("USER-A"); }));
    auto b_session = must(d.st.read([](store::ReadTxn& t) { return t.find_session("USER-B"); }));
    CHECK(to_a.recv_index == *a_session->index_in("VPN1"));
    CHECK(to_a.send_index == *b_session->index_in("VPN1"));
    auto group = must(d.st.read([](store::ReadTxn& t) { return t.group("VPN1"); }));
    auto a_to_b = protocol::pair_key(group.current.secret.view(), group.current.key_id,
                                     {a_session->id, *a_session->index_in("VPN1")},
                                     {b_session->id, *b_session->index_in("VPN1")});
    CHECK(to_a.key_id == group.current.key_id);
    CHECK(crypto::equal_ct(to_a.recv_key.view(), a_to_b.view()));

    // A second login of A replaces the first session.
    auto again = log_in(d, "USER-A", d.cards.at("USER-A"), "passwd1-A");
    REQUIRE(again.last.replaced.has_value());
    CHECK(again.last.replaced->id == a_session->id);
}

TEST_CASE("before the card is proven, every failure gets the same answer") {
    Deployment d;
    d.add_user("USER-A", "passwd1-A");
    d.add_user("NOCARD", "passwd1-N", false);
    auto stranger = must(crypto::PrivateKey::generate());
    auto unknown = log_in(d, "NOBODY", stranger, "whatever1");
    auto no_card = log_in(d, "NOCARD", stranger, "passwd1-N");
    auto wrong_card = log_in(d, "USER-A", stranger, "passwd1-A");
    auto bad_name = log_in(d, "bad name", stranger, "whatever1");
    for (const Attempt* a : {&unknown, &no_card, &wrong_card, &bad_name}) {
        CHECK(reason_of(*a) == "failed");
        CHECK(a->replies.back() == "type=refused\nreason=failed\n\n");
        CHECK_FALSE(a->last.verify.has_value());  // no Argon2id for them
    }
    // Each got a challenge of the same shape first.
    CHECK(unknown.replies[0].size() == wrong_card.replies[0].size());
    // Anyone can make cugd refuse before the card proof, as often as they
    // like: counted per source as noise, never one audit entry each.
    auto log = must(d.st.read([](store::ReadTxn& t) { return t.audit(0, 100); }));
    int refused = 0;
    for (const auto& e : log)
        refused += e.action == "login.refused";
    CHECK(refused == 0);
    CHECK(d.noise.total(NoiseLog::Kind::login_refused) == 4);
    auto noise = d.noise.take();
    REQUIRE(noise.size() == 1);
    CHECK(noise[0].source == "192.0.2.9");
    CHECK(noise[0].logins_refused == 4);
    CHECK(noise[0].users == "NOBODY,NOCARD,USER-A");  // "bad name" is no user ID
    CHECK(d.noise.empty());
}

TEST_CASE("after the card is proven: wrong password, lockout, disabled, no groups") {
    Deployment d;
    d.add_user("USER-A", "passwd1-A");
    const auto& card = d.cards.at("USER-A");
    CHECK(reason_of(log_in(d, "USER-A", card, "passwd1-A")) == "no-groups");
    must(d.st.write([](store::WriteTxn& t) -> Result<void> {
        CUG_TRY(t.add_group("VPN1", *net::Prefix::parse("10.0.0.0/24")));
        CUG_TRY(t.add_member("VPN1", "USER-A"));
        return ok();
    }));
    LoginConfig fixed;
    fixed.clock = test_clock;
    auto attempt = [&](const char* password) {
        return log_in(d, "USER-A", card, password, nullptr, fixed);
    };
    // Exactly four wrong passwords are checked at once ...
    for (int i = 0; i < 4; ++i)
        CHECK(reason_of(attempt("wrong-pass")) == "password");
    auto u = must(d.st.read([](store::ReadTxn& t) { return t.user("USER-A"); }));
    CHECK(u.failed_logins == 4);
    // ... the fifth try is not even checked: locked out for 2^(4-4) = 1 s.
    auto locked = attempt("passwd1-A");
    CHECK(reason_of(locked) == "locked");
    auto m = must(wire::parse_message(locked.replies.back()));
    CHECK(*m.get_u64("retry_after") == 1);
    CHECK_FALSE(locked.last.verify.has_value());
    // Once the second has passed it is checked (wrong again), then the wait is 2 s.
    test_now += 1;
    CHECK(reason_of(attempt("wrong-pass")) == "password");
    locked = attempt("passwd1-A");
    CHECK(reason_of(locked) == "locked");
    CHECK(*must(wire::parse_message(locked.replies.back())).get_u64("retry_after") == 2);
    test_now += 1;
    CHECK(reason_of(attempt("passwd1-A")) == "locked");  // 1 s of the 2 is left
    test_now += 1;
    // An administrator's new password clears the count.
    must(d.st.write([&](store::WriteTxn& t) {
        return t.set_password("USER-A", *crypto::hash_password(as_bytes("passwd1-A"), cheap));
    }));
    CHECK(reason_of(log_in(d, "USER-A", card, "passwd1-A")).empty());
    must(d.st.write([](store::WriteTxn& t) { return t.set_enabled("USER-A", false); }));
    CHECK(reason_of(log_in(d, "USER-A", card, "passwd1-A")) == "disabled");
}

TEST_CASE("lockout grows and is capped") {
    LoginConfig c;
    store::User u;
    u.last_failure = 1000;
    u.failed_logins = 0;
    CHECK(lockout_left(u, c, 1000) == 0);
    u.failed_logins = 3;
    CHECK(lockout_left(u, c, 1000) == 0);
    u.failed_logins = 4;  // 2^(n - 4), as cugd(8) says
    CHECK(lockout_left(u, c, 1000) == 1);
    CHECK(lockout_left(u, c, 1001) == 0);
    u.failed_logins = 5;
    CHECK(lockout_left(u, c, 1000) == 2);
    u.failed_logins = 8;
    CHECK(lockout_left(u, c, 1000) == 16);
    CHECK(lockout_left(u, c, 1010) == 6);
    u.failed_logins = 40;
    CHECK(lockout_left(u, c, 1000) == 900);
}

TEST_CASE("wrong passwords from one source address lock that address out, for every user") {
    Deployment d;
    d.add_user("USER-A", "passwd1-A");
    d.add_user("USER-B", "passwd1-B");
    must(d.st.write([](store::WriteTxn& t) -> Result<void> {
        CUG_TRY(t.add_group("VPN1", *net::Prefix::parse("10.0.0.0/24")));
        CUG_TRY(t.add_member("VPN1", "USER-A"));
        CUG_TRY(t.add_member("VPN1", "USER-B"));
        return ok();
    }));
    LoginConfig config;
    config.free_failures = 100;  // the per-user lockout stays out of the way
    config.free_source_failures = 2;
    config.clock = test_clock;
    SourceBackoff sources(config);
    const auto& a = d.cards.at("USER-A");
    const auto& b = d.cards.at("USER-B");
    const char* here = "192.0.2.9:40000";
    CHECK(reason_of(log_in(d, "USER-A", a, "wrong-pass", &sources, config, here)) == "password");
    CHECK(sources.left(*net::Address::parse("192.0.2.9"), test_now) == 0);  // one of two free
    CHECK(reason_of(log_in(d, "USER-B", b, "wrong-pass", &sources, config, here)) == "password");
    CHECK(sources.left(*net::Address::parse("192.0.2.9"), test_now) == 1);  // 2^(2-2)
    // Now B, with the right password, is not even checked from this address...
    auto locked = log_in(d, "USER-B", b, "passwd1-B", &sources, config, "192.0.2.9:40001");
    CHECK(reason_of(locked) == "locked");
    CHECK_FALSE(locked.last.verify.has_value());
    CHECK(must(wire::parse_message(locked.replies.back())).get_u64("retry_after").value_or(0) == 1);
    // ...but is from another one, and that success does not unlock the first.
    CHECK(reason_of(log_in(d, "USER-B", b, "passwd1-B", &sources, config, "198.51.100.7:5000"))
              .empty());
    CHECK(sources.left(*net::Address::parse("192.0.2.9"), test_now) == 1);
}

TEST_CASE("the per-source memory is bounded and forgets quiet addresses") {
    LoginConfig c;
    c.free_source_failures = 0;
    c.max_sources = 2;
    SourceBackoff s(c);
    const auto x = *net::Address::parse("192.0.2.1"), y = *net::Address::parse("192.0.2.2"),
               z = *net::Address::parse("192.0.2.3");
    s.failed(x, 1000);
    s.failed(y, 1000);
    CHECK(s.left(x, 1000) == 2);
    s.failed(z, 1001);  // full, nothing expired: z is not counted
    CHECK(s.size() == 2);
    CHECK(s.left(z, 1001) == 0);
    s.failed(z, 1000 + c.max_lockout + 1);  // x and y expired and make room
    CHECK(s.size() == 1);
    CHECK(s.left(z, 1000 + c.max_lockout + 1) == 2);
    CHECK(backoff_left(3, 1000, 2, 900, 1000) == 2);
    CHECK(backoff_left(40, 1000, 2, 900, 1000) == 900);
}
