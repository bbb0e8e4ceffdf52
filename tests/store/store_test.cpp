#include "store/store.hpp"

#include "core/time.hpp"
#include "crypto/random.hpp"
#include "store/names.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

using namespace cug;
using namespace cug::store;
using cug::testing::TempDir;

namespace {

const crypto::Argon2Params cheap{8, 1, 1};

Actor tester() {
    return Actor{0, "tester", "store_test"};
}

InitParams params(std::uint64_t audit_limit = 100'000) {
    InitParams p;
    p.server_name = "cug-test-server";
    p.password_params = cheap;
    p.audit_limit = audit_limit;
    return p;
}

Store make_store(const TempDir& dir, std::uint64_t audit_limit = 100'000, Options options = {}) {
    auto st = Store::create(dir / "store", params(audit_limit), tester(), options);
    REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().message));
    return std::move(*st);
}

std::string hash(std::string_view password) {
    auto h = crypto::hash_password(as_bytes(password), cheap);
    REQUIRE(h.ok());
    return *h;
}

template <typename T>
T must(Result<T> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(*r);
}

void must(Result<void> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
}

Errc error_of(const Result<void>& r) {
    REQUIRE_FALSE(r.ok());
    return r.error().code;
}

template <typename T>
Errc error_of(const Result<T>& r) {
    REQUIRE_FALSE(r.ok());
    return r.error().code;
}

// Raw access for planting damage and schema changes, with the store closed.
void raw_put(const std::filesystem::path& dir, const char* db, ByteView key, ByteView value) {
    MDB_env* env;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 16);
    REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
    MDB_txn* txn;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == 0);
    MDB_val k{key.size(), const_cast<std::uint8_t*>(key.data())};
    MDB_val v{value.size(), const_cast<std::uint8_t*>(value.data())};
    REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

// Deletes one database of a store (as a store of an older schema lacks it),
// or with `key` one entry of it.
void raw_drop(const std::filesystem::path& dir, const char* db, const char* key = nullptr) {
    MDB_env* env;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 16);
    REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
    MDB_txn* txn;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == 0);
    if (key) {
        MDB_val k{std::strlen(key), const_cast<char*>(key)};
        REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
    } else {
        REQUIRE(mdb_drop(txn, dbi, 1) == 0);
    }
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

std::vector<std::string> problems_of(Store& st) {
    return must(st.read([](ReadTxn& t) { return t.check(); }));
}

}  // namespace

TEST_CASE("a new store is private, versioned and holds the server identity") {
    TempDir dir;
    Store st = make_store(dir);
    struct stat s {};
    REQUIRE(stat((dir / "store").c_str(), &s) == 0);
    CHECK((s.st_mode & 0777) == 0700);
    REQUIRE(stat((dir / "store" / "data.mdb").c_str(), &s) == 0);
    CHECK((s.st_mode & 0777) == 0600);
    CHECK(st.check_files().empty());

    must(st.read([](ReadTxn& t) -> Result<void> {
        CHECK(t.server_name() == "cug-test-server");
        auto key = CUG_TRY(t.server_key());
        auto cert = CUG_TRY(t.server_certificate());
        CHECK(cert.subject_cn() == "cug-test-server");
        CHECK(*cert.public_key() == key.public_key());
        CHECK(*t.password_params() == cheap);
        CHECK(t.generation() == 1);
        auto log = CUG_TRY(t.audit(0, 10));
        REQUIRE(log.size() == 1);
        CHECK(log[0].action == "store.init");
        CHECK(log[0].program == "store_test");
        return ok();
    }));
    CHECK(problems_of(st).empty());
}

TEST_CASE("create refuses an existing store; open refuses missing, foreign and newer ones") {
    TempDir dir;
    { Store st = make_store(dir); }
    CHECK(error_of(Store::create(dir / "store", params(), tester())) == Errc::exists);
    CHECK(Store::open(dir / "store", tester()).ok());
    CHECK(error_of(Store::open(dir / "nothing", tester())) == Errc::no_input);

    // An LMDB environment that is not ours.
    std::filesystem::create_directory(dir / "foreign");
    {
        MDB_env* env;
        REQUIRE(mdb_env_create(&env) == 0);
        REQUIRE(mdb_env_open(env, (dir / "foreign").c_str(), 0, 0600) == 0);
        MDB_txn* txn;
        REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
        MDB_dbi dbi;
        REQUIRE(mdb_dbi_open(txn, nullptr, 0, &dbi) == 0);
        std::string k = "x", v = "y";
        MDB_val key{k.size(), k.data()}, val{v.size(), v.data()};
        REQUIRE(mdb_put(txn, dbi, &key, &val, 0) == 0);
        REQUIRE(mdb_txn_commit(txn) == 0);
        mdb_env_close(env);
    }
    CHECK(error_of(Store::open(dir / "foreign", tester())) == Errc::config);

    // A store written by a newer cug: refused, not downgraded.
    Bytes three{0, 0, 0, 0, 0, 0, 0, 3};
    raw_put(dir / "store", "meta", as_bytes("schema"), three);
    auto newer = Store::open(dir / "store", tester());
    CHECK(error_of(newer) == Errc::config);
    CHECK(newer.error().message.find("newer") != std::string::npos);
}

TEST_CASE("a store of schema 1 gets its noise ring when it is opened") {
    TempDir dir;
    {
        Store st = make_store(dir);
        must(st.write([](WriteTxn& t) { return t.add_user("USER-A", hash("passwd1-A")); }));
    }
    raw_drop(dir / "store", "noise");
    raw_drop(dir / "store", "meta", "noise.limit");
    raw_put(dir / "store", "meta", as_bytes("schema"), Bytes{0, 0, 0, 0, 0, 0, 0, 1});
    Store st = must(Store::open(dir / "store", tester()));
    must(st.read([](ReadTxn& t) -> Result<void> {
        CHECK(t.entries(Table::noise) == 0);
        CHECK(t.noise_limit() == 10'000);
        CHECK(CUG_TRY(t.find_user("USER-A")).has_value());
        return ok();
    }));
    NoiseEntry n;
    n.minute = 1800000000;
    n.source = "192.0.2.9";
    n.resumes_refused = 3;
    n.users = "";
    must(st.write([&](WriteTxn& t) { return t.record_noise({n}); }));
    auto back = must(st.read([](ReadTxn& t) { return t.noise(0, 10); }));
    REQUIRE(back.size() == 1);
    CHECK(back[0].resumes_refused == 3);
    CHECK(problems_of(st).empty());
    // Opened again: nothing more to do.
    CHECK(Store::open(dir / "store", tester()).ok());
}

TEST_CASE("the noise ring is bounded and never touches the audit log") {
    TempDir dir;
    InitParams p = params();
    p.audit_limit = 10;
    p.noise_limit = 5;
    Store st = must(Store::create(dir / "store", p, tester()));
    must(st.write([](WriteTxn& t) { return t.add_user("USER-A", hash("passwd1-A")); }));
    for (int minute = 0; minute < 12; ++minute) {
        NoiseEntry n;
        n.minute = 1800000000 + 60 * minute;
        n.source = "198.51.100.7";
        n.logins_refused = static_cast<std::uint64_t>(minute + 1);
        n.users = "USER-A,nobody";
        must(st.write([&](WriteTxn& t) { return t.record_noise({n, n}); }));
    }
    must(st.read([](ReadTxn& t) -> Result<void> {
        const auto noise = CUG_TRY(t.noise(0, 100));
        CHECK(noise.size() == 5);  // the newest five
        CHECK(noise.back().logins_refused == 12);
        CHECK(noise.front().seq == 20);
        const auto audit = CUG_TRY(t.audit(0, 100));
        REQUIRE(audit.size() == 2);  // store.init and user.add, untouched
        CHECK(audit[1].action == "user.add");
        CHECK(CUG_TRY(t.noise(1800000000 + 60 * 11, 100)).size() == 2);  // since
        return ok();
    }));
    CHECK(problems_of(st).empty());
}

TEST_CASE("an init that died before committing is redone") {
    TempDir dir;
    std::filesystem::create_directory(dir / "store");
    {
        // What a killed init leaves: LMDB's files, none of our databases or meta.
        MDB_env* env;
        REQUIRE(mdb_env_create(&env) == 0);
        REQUIRE(mdb_env_open(env, (dir / "store").c_str(), 0, 0600) == 0);
        mdb_env_close(env);
    }
    REQUIRE(std::filesystem::exists(dir / "store" / "data.mdb"));
    CHECK(error_of(Store::open(dir / "store", tester())) == Errc::config);
    auto st = Store::create(dir / "store", params(), tester());
    REQUIRE(st.ok());
    CHECK(problems_of(*st).empty());
}

TEST_CASE("users: add, refuse duplicates and bad names, change, delete") {
    TempDir dir;
    Store st = make_store(dir);
    const std::string h = hash("passwd1-A");
    must(st.write([&](WriteTxn& t) { return t.add_user("USER-A", h); }));
    CHECK(error_of(st.write([&](WriteTxn& t) { return t.add_user("USER-A", h); })) == Errc::exists);
    for (const char* bad : {"", "-lead", "has space", "slash/y", "ünicode", ".dot"})
        CHECK(error_of(st.write([&](WriteTxn& t) { return t.add_user(bad, h); })) == Errc::invalid);
    CHECK(error_of(st.write([&](WriteTxn& t) { return t.add_user(std::string(65, 'a'), h); })) ==
          Errc::invalid);
    must(st.write([&](WriteTxn& t) { return t.add_user(std::string(64, 'a'), h); }));

    must(st.write([&](WriteTxn& t) { return t.set_enabled("USER-A", false); }));
    auto u = must(st.read([](ReadTxn& t) { return t.user("USER-A"); }));
    CHECK_FALSE(u.enabled);
    CHECK(*crypto::verify_password(u.password_hash, as_bytes("passwd1-A")));

    const std::string h2 = hash("another-pw");
    must(st.write([&](WriteTxn& t) { return t.set_password("USER-A", h2); }));
    u = must(st.read([](ReadTxn& t) { return t.user("USER-A"); }));
    CHECK(*crypto::verify_password(u.password_hash, as_bytes("another-pw")));

    CHECK(error_of(st.write([](WriteTxn& t) { return t.delete_user("NOBODY"); })) ==
          Errc::not_found);
    CHECK(error_of(st.write([](WriteTxn& t) { return t.set_enabled("NOBODY", true); })) ==
          Errc::not_found);
    must(st.write([](WriteTxn& t) { return t.delete_user("USER-A"); }));
    CHECK_FALSE(must(st.read([](ReadTxn& t) { return t.find_user("USER-A"); })).has_value());
    CHECK(problems_of(st).empty());
}

TEST_CASE("a failed change leaves nothing behind") {
    TempDir dir;
    Store st = make_store(dir);
    const std::string h = hash("passwd1-A");
    const auto before =
        must(st.read([](ReadTxn& t) { return Result<std::uint64_t>(t.generation()); }));
    auto r = st.write([&](WriteTxn& t) -> Result<void> {
        CUG_CHECK(t.add_user("USER-A", h));
        CUG_TRY(t.add_group("VPN1", *net::Prefix::parse("10.0.0.0/24")));
        return t.add_user("USER-A", h);  // fails: the whole change goes
    });
    CHECK(error_of(r) == Errc::exists);
    must(st.read([&](ReadTxn& t) -> Result<void> {
        CHECK_FALSE(CUG_TRY(t.find_user("USER-A")).has_value());
        CHECK_FALSE(CUG_TRY(t.find_group("VPN1")).has_value());
        CHECK(t.generation() == before);
        CHECK(CUG_TRY(t.audit(0, 100)).size() == 1);
        return ok();
    }));
}

TEST_CASE("groups: fresh epochs, unique key ids, no overlapping prefixes") {
    TempDir dir;
    Store st = make_store(dir);
    auto g1 = must(st.write(
        [](WriteTxn& t) { return t.add_group("VPN1", *net::Prefix::parse("10.0.0.0/24")); }));
    auto g2 = must(st.write(
        [](WriteTxn& t) { return t.add_group("VPN2", *net::Prefix::parse("fd00:2::/64")); }));
    CHECK(g1.current.key_id != g2.current.key_id);
    CHECK(g1.current.secret.size() == 32);
    CHECK_FALSE(crypto::equal_ct(g1.current.secret.view(), g2.current.secret.view()));

    auto add = [&](const char* name, const char* prefix) {
        return st.write([&](WriteTxn& t) -> Result<void> {
            CUG_TRY(t.add_group(name, *net::Prefix::parse(prefix)));
            return ok();
        });
    };
    CHECK(error_of(add("VPN1", "10.9.0.0/24")) == Errc::exists);
    CHECK(error_of(add("VPN3", "10.0.0.128/25")) == Errc::invalid);  // inside VPN1
    CHECK(error_of(add("VPN3", "10.0.0.0/8")) == Errc::invalid);     // around VPN1
    CHECK(error_of(add("VPN3", "fd00:2:0:0:8000::/65")) == Errc::invalid);
    CHECK(error_of(add("VPN3", "10.1.0.0/31")) == Errc::invalid);   // too small
    CHECK(error_of(add("VPN3", "127.0.0.0/8")) == Errc::invalid);   // loopback
    CHECK(error_of(add("VPN3", "224.0.0.0/24")) == Errc::invalid);  // multicast
    CHECK(error_of(add("VPN3", "fe80::/64")) == Errc::invalid);     // link-local
    CHECK(error_of(add("bad name", "10.2.0.0/24")) == Errc::invalid);
    must(add("VPN3", "10.1.0.0/30"));

    // Key ids are never reused, even after the group holding one is gone.
    must(st.write([](WriteTxn& t) { return t.delete_group("VPN3", false); }));
    auto g4 = must(st.write(
        [](WriteTxn& t) { return t.add_group("VPN4", *net::Prefix::parse("10.1.0.0/30")); }));
    CHECK(g4.current.key_id > g2.current.key_id + 1);
    CHECK(problems_of(st).empty());
}

TEST_CASE("members get stable, unique addresses; freed ones wait for the wrap") {
    TempDir dir;
    Store st = make_store(dir);
    const std::string h = hash("passwd1-A");
    must(st.write([&](WriteTxn& t) -> Result<void> {
        for (const char* u : {"A", "B", "C", "D", "E", "F", "G", "H"})
            CUG_CHECK(t.add_user(u, h));
        CUG_TRY(t.add_group("G29", *net::Prefix::parse("192.0.2.0/29")));  // 6 usable
        CUG_TRY(t.add_group("V6", *net::Prefix::parse("fd00:6::/120")));
        return ok();
    }));
    auto add = [&](const char* g, const char* u) {
        return st.write([&](WriteTxn& t) { return t.add_member(g, u); });
    };
    CHECK(must(add("G29", "A")).address.to_string() == "192.0.2.1");
    CHECK(must(add("G29", "B")).address.to_string() == "192.0.2.2");
    CHECK(must(add("V6", "A")).address.to_string() == "fd00:6::1");
    CHECK(error_of(add("G29", "A")) == Errc::exists);
    CHECK(error_of(add("G29", "NOBODY")) == Errc::not_found);
    CHECK(error_of(add("NOGROUP", "A")) == Errc::not_found);

    // A freed address is not handed to the next member at once.
    must(st.write([](WriteTxn& t) { return t.delete_member("G29", "A"); }));
    CHECK(must(add("G29", "C")).address.to_string() == "192.0.2.3");
    // Explicit addresses: inside, usable, free.
    auto explicit_add = [&](const char* u, const char* a) {
        return st.write(
            [&](WriteTxn& t) { return t.add_member("G29", u, net::Address::parse(a)); });
    };
    CHECK(error_of(explicit_add("D", "192.0.2.0")) == Errc::invalid);  // network
    CHECK(error_of(explicit_add("D", "192.0.2.7")) == Errc::invalid);  // broadcast
    CHECK(error_of(explicit_add("D", "192.0.2.9")) == Errc::invalid);  // outside
    CHECK(error_of(explicit_add("D", "192.0.2.2")) == Errc::exists);   // B's
    CHECK(must(explicit_add("D", "192.0.2.6")).address.to_string() == "192.0.2.6");
    CHECK(must(add("G29", "E")).address.to_string() == "192.0.2.4");
    CHECK(must(add("G29", "F")).address.to_string() == "192.0.2.5");
    // Wrapped: the search comes round to the address A gave back.
    CHECK(must(add("G29", "G")).address.to_string() == "192.0.2.1");
    CHECK(error_of(add("G29", "H")) == Errc::unavailable);  // six of six

    auto members = must(st.read([](ReadTxn& t) { return t.members_of("G29"); }));
    REQUIRE(members.size() == 6);
    CHECK(members.front().user == "G");  // ordered by address
    CHECK(members.back().user == "D");
    auto of_a = must(st.read([](ReadTxn& t) { return t.memberships_of("A"); }));
    REQUIRE(of_a.size() == 1);
    CHECK(of_a[0].group == "V6");

    // Deleting a user frees its addresses and counts; deleting a group needs --force.
    must(st.write([](WriteTxn& t) { return t.delete_user("B"); }));
    auto g = must(st.read([](ReadTxn& t) { return t.group("G29"); }));
    CHECK(g.member_count == 5);
    CHECK(error_of(st.write([](WriteTxn& t) { return t.delete_group("G29", false); })) ==
          Errc::invalid);
    CHECK(problems_of(st).empty());
    must(st.write([](WriteTxn& t) { return t.delete_group("G29", true); }));
    CHECK(must(st.read([](ReadTxn& t) { return t.memberships_of("C"); })).empty());
    CHECK(problems_of(st).empty());
}

TEST_CASE("the audit log records every change and stays within its limit") {
    TempDir dir;
    Store st = make_store(dir, 5);
    const std::string h = hash("passwd1-A");
    for (int i = 0; i < 12; ++i)
        must(st.write([&](WriteTxn& t) { return t.add_user(fmt::format("U{}", i), h); }));
    auto log = must(st.read([](ReadTxn& t) { return t.audit(0, 100); }));
    REQUIRE(log.size() == 5);
    CHECK(log.front().seq == 9);  // 1 init + 12 adds = 13 entries; the newest five kept
    CHECK(log.back().seq == 13);
    CHECK(log.back().action == "user.add");
    CHECK(log.back().subject == "U11");
    CHECK(log.back().actor == "tester");
    auto newest = must(st.read([](ReadTxn& t) { return t.audit(0, 2); }));
    REQUIRE(newest.size() == 2);
    CHECK(newest[0].seq == 12);
    auto future = must(st.read([](ReadTxn& t) { return t.audit(unix_now() + 3600, 100); }));
    CHECK(future.empty());
    CHECK(problems_of(st).empty());
}

TEST_CASE("the DNS zone: cug. until set, set canonical and audited, a bad one refused") {
    TempDir dir;
    Store st = make_store(dir);
    CHECK(must(st.read([](ReadTxn& t) -> Result<std::string> { return t.dns_zone(); })) == "cug.");
    CHECK(must(st.write([](WriteTxn& t) { return t.set_dns_zone("Corp.Example"); })) ==
          "corp.example.");
    CHECK(must(st.read([](ReadTxn& t) -> Result<std::string> { return t.dns_zone(); })) ==
          "corp.example.");
    auto bad = st.write([](WriteTxn& t) { return t.set_dns_zone("a_b"); });
    REQUIRE(!bad);
    CHECK(bad.error().code == Errc::invalid);
    CHECK(must(st.read([](ReadTxn& t) -> Result<std::string> { return t.dns_zone(); })) ==
          "corp.example.");
    auto log = must(st.read([](ReadTxn& t) { return t.audit(0, 100); }));
    CHECK(log.back().action == "server.dns-zone");
    CHECK(log.back().subject == "corp.example.");
    CHECK(log.back().detail == "was cug.");
    CHECK(problems_of(st).empty());
}

TEST_CASE("check finds planted damage") {
    TempDir dir;
    {
        Store st = make_store(dir);
        const std::string h = hash("passwd1-A");
        must(st.write([&](WriteTxn& t) -> Result<void> {
            CUG_CHECK(t.add_user("A", h));
            CUG_TRY(t.add_group("VPN1", *net::Prefix::parse("10.0.0.0/24")));
            CUG_TRY(t.add_member("VPN1", "A"));
            return ok();
        }));
    }
    // An address index entry with no membership behind it.
    raw_put(dir / "store", "addresses", address_key("VPN1", *net::Address::parse("10.0.0.9")),
            as_bytes("A"));
    // A membership for a user that does not exist.
    Membership ghost{"GHOST", "VPN1", *net::Address::parse("10.0.0.1"), 1};
    raw_put(dir / "store", "members", membership_key("GHOST", "VPN1"), encode_membership(ghost));
    // A DNS zone no cug-admin would have written.
    raw_put(dir / "store", "meta", as_bytes("dns.zone"), as_bytes("Bad Zone"));
    auto st = Store::open(dir / "store", tester());
    REQUIRE(st.ok());
    auto problems = problems_of(*st);
    auto mentions = [&](std::string_view text) {
        for (const auto& p : problems)
            if (p.find(text) != std::string::npos) return true;
        return false;
    };
    CHECK(mentions("10.0.0.9"));
    CHECK(mentions("names no user"));
    CHECK(mentions("counts 1 members but has 2"));
    CHECK(mentions("the DNS zone 'Bad Zone'"));
    CHECK(must(st->read([](ReadTxn& t) -> Result<std::string> { return t.dns_zone(); })) == "cug.");
}

TEST_CASE("the map grows when a change does not fit") {
    TempDir dir;
    Options small;
    small.initial_map_size = 1 << 20;
    // A short audit log, so pruning (deletes) runs in every change too.
    Store st = make_store(dir, 100, small);
    const std::string h = hash("passwd1-A");
    // About 4 MiB of users in one transaction, then more in many.
    must(st.write([&](WriteTxn& t) -> Result<void> {
        for (int i = 0; i < 20000; ++i)
            CUG_CHECK(t.add_user(fmt::format("user-{:06}", i), h));
        return ok();
    }));
    for (int batch = 0; batch < 4; ++batch)
        must(st.write([&](WriteTxn& t) -> Result<void> {
            for (int i = 0; i < 2000; ++i)
                CUG_CHECK(t.add_user(fmt::format("more-{}-{:04}", batch, i), h));
            return ok();
        }));
    must(st.read([](ReadTxn& t) -> Result<void> {
        CHECK(t.entries(Table::users) == 28000);
        return ok();
    }));
    CHECK(st.disk_size() > (4u << 20));
}

TEST_CASE("several processes write at once and nothing is lost") {
    TempDir dir;
    { Store st = make_store(dir); }
    const std::string h = hash("passwd1-A");
    constexpr int writers = 4, each = 25;
    std::vector<pid_t> children;
    for (int w = 0; w < writers; ++w) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            auto st = Store::open(dir / "store", tester());
            int failures = st.ok() ? 0 : 1;
            for (int i = 0; st.ok() && i < each; ++i)
                if (!st->write(
                        [&](WriteTxn& t) { return t.add_user(fmt::format("w{}-{}", w, i), h); }))
                    ++failures;
            _exit(failures);
        }
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    auto st = must(Store::open(dir / "store", tester()));
    must(st.read([&](ReadTxn& t) -> Result<void> {
        CHECK(t.entries(Table::users) == writers * each);
        CHECK(t.entries(Table::audit) == writers * each + 1);
        CHECK(t.generation() == writers * each + 1);
        return ok();
    }));
    CHECK(problems_of(st).empty());
}

TEST_CASE("a writer that holds the store too long is reported, not waited on forever") {
    TempDir dir;
    { Store st = make_store(dir); }
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        auto st = Store::open(dir / "store", tester());
        (void)st->write([&](WriteTxn&) -> Result<void> {
            (void)!write(ready[1], "x", 1);
            std::this_thread::sleep_for(std::chrono::seconds(2));
            return ok();
        });
        _exit(0);
    }
    char c;
    REQUIRE(read(ready[0], &c, 1) == 1);
    Options impatient;
    impatient.lock_timeout = std::chrono::milliseconds(100);
    auto st = must(Store::open(dir / "store", tester(), impatient));
    auto r = st.write([](WriteTxn& t) { return t.add_user("late", "x"); });
    CHECK(error_of(r) == Errc::temporary);
    CHECK(r.error().message.find(std::to_string(pid)) != std::string::npos);
    // Reading goes on meanwhile.
    CHECK(st.read([](ReadTxn& t) { return t.find_user("anyone"); }).ok());
    int status;
    waitpid(pid, &status, 0);
    close(ready[0]);
    close(ready[1]);
}

TEST_CASE("names and prefixes") {
    CHECK(check_user_name("USER-A").ok());
    CHECK(check_user_name("a.b_c-9").ok());
    CHECK_FALSE(check_user_name("_x").ok());
    CHECK(check_group_name(std::string(32, 'v')).ok());
    CHECK_FALSE(check_group_name(std::string(33, 'v')).ok());
    CHECK(last_offset(*net::Prefix::parse("10.0.0.0/24")) == 254);
    CHECK(last_offset(*net::Prefix::parse("fd00::/120")) == 255);
    CHECK(last_offset(*net::Prefix::parse("10.0.0.0/30")) == 2);
    CHECK(check_group_prefix(*net::Prefix::parse("fd00::/64")).ok());
    CHECK_FALSE(check_group_prefix(*net::Prefix::parse("::ffff:10.0.0.0/120")).ok());
    CHECK_FALSE(check_group_prefix(*net::Prefix::parse("ff02::/64")).ok());
    CHECK_FALSE(check_group_prefix(*net::Prefix::parse("169.254.0.0/16")).ok());
}

TEST_CASE("sessions: the registration table") {
    TempDir dir;
    Store st = make_store(dir);
    const std::string h = hash("passwd1-A");
    must(st.write([&](WriteTxn& t) -> Result<void> {
        CUG_CHECK(t.add_user("USER-A", h));
        CUG_CHECK(t.add_user("USER-B", h));
        CUG_TRY(t.add_group("VPN1", *net::Prefix::parse("10.0.0.0/24")));
        CUG_TRY(t.add_group("VPN2", *net::Prefix::parse("10.0.1.0/24")));
        CUG_TRY(t.add_member("VPN1", "USER-A"));
        CUG_TRY(t.add_member("VPN2", "USER-A"));
        CUG_TRY(t.add_member("VPN1", "USER-B"));
        return ok();
    }));
    auto session_for = [](const char* user, std::uint8_t id) {
        Session s;
        s.user = user;
        s.id = Bytes(16, id);
        s.login_time = s.last_seen = 1800000000;
        s.expires = 1800043200;
        s.card_serial = Bytes{1, 2, 3};
        s.resume_key = crypto::random_secret(32);
        s.push_key = crypto::random_secret(32);
        s.udp_key = crypto::random_secret(32);
        s.control = *net::Endpoint::parse("192.0.2.1:40000");
        return s;
    };
    auto none =
        must(st.write([&](WriteTxn& t) { return t.register_session(session_for("USER-A", 1)); }));
    CHECK_FALSE(none.has_value());
    must(st.write([&](WriteTxn& t) -> Result<void> {
        CUG_TRY(t.register_session(session_for("USER-B", 2)));
        return ok();
    }));
    CHECK(error_of(st.write([&](WriteTxn& t) -> Result<void> {
              CUG_TRY(t.register_session(session_for("NOBODY", 3)));
              return ok();
          })) == Errc::not_found);
    CHECK(error_of(st.write([&](WriteTxn& t) -> Result<void> {
              CUG_TRY(t.register_session(session_for("USER-A", 2)));  // B's id
              return ok();
          })) == Errc::exists);

    auto a = must(st.read([](ReadTxn& t) { return t.find_session("USER-A"); }));
    REQUIRE(a.has_value());
    REQUIRE(a->indices.size() == 2);  // one receiver index per group
    CHECK(a->index_in("VPN1").has_value());
    CHECK(a->index_in("VPN2") != a->index_in("VPN1"));
    CHECK(a->control->to_string() == "192.0.2.1:40000");
    CHECK_FALSE(a->endpoint.has_value());
    CHECK_FALSE(a->acknowledged);
    auto by_id = must(st.read([](ReadTxn& t) { return t.find_session_by_id(Bytes(16, 2)); }));
    REQUIRE(by_id.has_value());
    CHECK(by_id->user == "USER-B");
    CHECK(by_id->index_in("VPN1") != a->index_in("VPN1"));

    // A new login of USER-A replaces the old session, which is handed back.
    auto replaced =
        must(st.write([&](WriteTxn& t) { return t.register_session(session_for("USER-A", 4)); }));
    REQUIRE(replaced.has_value());
    CHECK(replaced->id == Bytes(16, 1));
    CHECK_FALSE(
        must(st.read([](ReadTxn& t) { return t.find_session_by_id(Bytes(16, 1)); })).has_value());
    auto a2 = must(st.read([](ReadTxn& t) { return t.find_session("USER-A"); }));
    CHECK(*a2->index_in("VPN1") > *a->index_in("VPN2"));  // never reused

    must(st.write([](WriteTxn& t) {
        return t.touch_session("USER-A", 1800000100, *net::Endpoint::parse("[fd00::1]:51820"));
    }));
    must(st.write([](WriteTxn& t) { return t.acknowledge_session("USER-A"); }));
    a2 = must(st.read([](ReadTxn& t) { return t.find_session("USER-A"); }));
    CHECK(a2->last_seen == 1800000100);
    CHECK(a2->endpoint->to_string() == "[fd00::1]:51820");
    CHECK(a2->acknowledged);
    CHECK(problems_of(st).empty());

    // The session follows the memberships: nothing changed, then A leaves
    // VPN2 (its index goes in that very transaction) and joins VPN2 again
    // and VPN3 (new indices from the counter; VPN1's kept).
    CHECK(must(st.write([](WriteTxn& t) { return t.follow_memberships("USER-A"); })).empty());
    must(st.write([](WriteTxn& t) -> Result<void> {
        CUG_TRY(t.add_group("VPN3", *net::Prefix::parse("10.0.2.0/24")));
        CUG_CHECK(t.delete_member("VPN2", "USER-A"));
        CHECK_FALSE(CUG_TRY(t.find_session("USER-A"))->index_in("VPN2").has_value());
        CUG_TRY(t.add_member("VPN2", "USER-A"));
        CUG_TRY(t.add_member("VPN3", "USER-A"));
        return ok();
    }));
    auto change = must(st.write([](WriteTxn& t) { return t.follow_memberships("USER-A"); }));
    CHECK(change.left.empty());
    CHECK(change.joined == std::vector<std::string>{"VPN2", "VPN3"});
    auto a3 = must(st.read([](ReadTxn& t) { return t.find_session("USER-A"); }));
    CHECK(a3->index_in("VPN1") == a2->index_in("VPN1"));
    CHECK(*a3->index_in("VPN2") > *a2->index_in("VPN2"));  // a new instance, a new index
    CHECK(*a3->index_in("VPN3") > *a2->index_in("VPN2"));
    CHECK(a3->acknowledged);
    CHECK(error_of(st.write([](WriteTxn& t) { return t.follow_memberships("NOBODY"); })) ==
          Errc::not_found);
    CHECK(problems_of(st).empty());

    must(st.write(
        [](WriteTxn& t) { return t.end_session("USER-B", "session.logout", "card removed"); }));
    CHECK(error_of(st.write([](WriteTxn& t) {
              return t.end_session("USER-B", "session.logout");
          })) == Errc::not_found);
    must(st.write([](WriteTxn& t) { return t.delete_user("USER-A"); }));
    must(st.read([](ReadTxn& t) -> Result<void> {
        CHECK(CUG_TRY(t.sessions()).empty());
        CHECK(t.entries(Table::session_ids) == 0);
        auto log = CUG_TRY(t.audit(0, 100));
        std::vector<std::string> actions;
        for (const auto& e : log)
            actions.push_back(e.action);
        CHECK(std::count(actions.begin(), actions.end(), "session.login") == 3);
        CHECK(std::count(actions.begin(), actions.end(), "session.logout") == 1);
        CHECK(std::count(actions.begin(), actions.end(), "session.groups") ==
              2);  // -VPN2, +VPN2 +VPN3
        CHECK(std::count(actions.begin(), actions.end(), "session.revoked") == 1);  // A removed
        return ok();
    }));
    CHECK(problems_of(st).empty());
}

TEST_CASE("revocation ends the session in the transaction that decides it") {
    TempDir dir;
    Store st = make_store(dir);
    const std::string h = hash("passwd1-A");
    must(st.write([&](WriteTxn& t) -> Result<void> {
        for (const char* u : {"USER-A", "USER-B", "USER-C", "USER-D"}) {
            CUG_CHECK(t.add_user(u, h));
            User user = CUG_TRY(t.user(u));
            user.card = CardKeys{Bytes(65, 4), Bytes(65, 4), Bytes{1, 2, 3}, 1, Bytes{9}, "test"};
            CUG_CHECK(t.put_user(user));
        }
        CUG_TRY(t.add_group("VPN1", *net::Prefix::parse("10.0.0.0/24")));
        CUG_TRY(t.add_group("VPN2", *net::Prefix::parse("10.0.1.0/24")));
        for (const char* u : {"USER-A", "USER-B", "USER-C", "USER-D"})
            CUG_TRY(t.add_member("VPN1", u));
        CUG_TRY(t.add_member("VPN2", "USER-D"));
        return ok();
    }));
    std::uint8_t next_id = 1;
    auto log_in = [&](const char* user) {
        Session s;
        s.user = user;
        s.id = Bytes(16, next_id++);
        s.login_time = s.last_seen = 1800000000;
        s.expires = 1800043200;
        s.card_serial = Bytes{1, 2, 3};
        s.resume_key = crypto::random_secret(32);
        s.push_key = crypto::random_secret(32);
        s.udp_key = crypto::random_secret(32);
        must(st.write([&](WriteTxn& t) -> Result<void> {
            CUG_TRY(t.register_session(std::move(s)));
            return ok();
        }));
    };
    auto has_session = [&](const char* user) {
        return must(st.read([&](ReadTxn& t) { return t.find_session(user); })).has_value();
    };
    for (const char* u : {"USER-A", "USER-B", "USER-C", "USER-D"})
        log_in(u);

    // Disabled and enabled again at once: the session is gone all the same.
    must(st.write([](WriteTxn& t) { return t.set_enabled("USER-A", false); }));
    must(st.write([](WriteTxn& t) { return t.set_enabled("USER-A", true); }));
    CHECK_FALSE(has_session("USER-A"));
    // Another card for B: the session the old card opened ends.
    must(st.write([](WriteTxn& t) -> Result<void> {
        User b = CUG_TRY(t.user("USER-B"));
        b.card->certificate_serial = Bytes{7, 7};
        return t.put_user(b);
    }));
    CHECK_FALSE(has_session("USER-B"));
    // Failed-login counters change nothing of the session.
    must(st.write([](WriteTxn& t) -> Result<void> {
        User c = CUG_TRY(t.user("USER-C"));
        c.failed_logins = 3;
        return t.put_user(c);
    }));
    CHECK(has_session("USER-C"));
    // C's only group removed and added again: the session does not survive
    // into the new membership.
    must(st.write([](WriteTxn& t) -> Result<void> {
        CUG_CHECK(t.delete_member("VPN1", "USER-C"));
        CUG_TRY(t.add_member("VPN1", "USER-C"));
        return ok();
    }));
    CHECK_FALSE(has_session("USER-C"));
    // D keeps VPN2 when VPN1 (deleted with its members) goes.
    const auto d_before = must(st.read([](ReadTxn& t) { return t.find_session("USER-D"); }));
    must(st.write([](WriteTxn& t) { return t.delete_group("VPN1", true); }));
    const auto d_after = must(st.read([](ReadTxn& t) { return t.find_session("USER-D"); }));
    REQUIRE(d_after.has_value());
    CHECK_FALSE(d_after->index_in("VPN1").has_value());
    CHECK(d_after->index_in("VPN2") == d_before->index_in("VPN2"));
    must(st.write([](WriteTxn& t) { return t.delete_user("USER-D"); }));
    CHECK_FALSE(has_session("USER-D"));
    must(st.read([](ReadTxn& t) -> Result<void> {
        CHECK(t.entries(Table::session_ids) == 0);
        std::vector<std::string> why;
        for (const auto& e : CUG_TRY(t.audit(0, 1000)))
            if (e.action == "session.revoked") why.push_back(e.subject + ": " + e.detail);
        CHECK(why == std::vector<std::string>{"USER-A: the user was disabled",
                                              "USER-B: the card was re-enrolled",
                                              "USER-C: the user is in no group any more",
                                              "USER-D: the user was removed"});
        return ok();
    }));
    CHECK(problems_of(st).empty());
}
