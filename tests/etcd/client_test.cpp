// lib/store/etcd against a real etcd cluster (run by tests/etcd/cluster_test.sh,
// which starts one and names it in CUG_ETCD_ENDPOINTS, CUG_ETCD_CA,
// CUG_ETCD_CERT and CUG_ETCD_KEY). Every test works under a prefix of its own.
#include "crypto/random.hpp"
#include "store/etcd.hpp"
#include "store/etcd_txn.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>

#include <cstdlib>
#include <functional>
#include <set>
#include <thread>

using namespace cug;
using namespace cug::store::etcd;

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    REQUIRE_MESSAGE(v != nullptr, name, " is not set: run tests/etcd/cluster_test.sh");
    return v;
}

Config config() {
    Config c;
    std::string list = env("CUG_ETCD_ENDPOINTS");
    for (std::size_t start = 0; start <= list.size();) {
        const auto comma = list.find(',', start);
        const auto end = comma == std::string::npos ? list.size() : comma;
        c.endpoints.push_back(list.substr(start, end - start));
        start = end + 1;
    }
    c.ca = env("CUG_ETCD_CA");
    c.cert = env("CUG_ETCD_CERT");
    c.key = env("CUG_ETCD_KEY");
    return c;
}

Client client(Config c = config()) {
    auto cl = Client::open(std::move(c));
    REQUIRE_MESSAGE(cl.ok(), (cl.ok() ? "" : cl.error().message));
    return std::move(*cl);
}

template <typename T>
T must(Result<T> r) {
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    return std::move(*r);
}

// A prefix no other run or test uses.
Bytes fresh_prefix() {
    Bytes tag(6);
    crypto::random_bytes(tag);
    return to_bytes("/cug-test/" + to_hex(tag) + "/");
}

Bytes key(const Bytes& prefix, std::string_view name) {
    Bytes k = prefix;
    k.insert(k.end(), name.begin(), name.end());
    return k;
}

}  // namespace

TEST_CASE("puts in one transaction are read back, by key, by prefix and at a revision") {
    Client c = client();
    const Bytes p = fresh_prefix();
    Bytes binary = key(p, "bin");
    binary.push_back(0);
    binary.push_back(0xff);
    auto put =
        must(c.txn({}, {Op::put(key(p, "a"), to_bytes("one")), Op::put(binary, Bytes{0, 1, 2}),
                        Op::put(key(p, "b"), to_bytes("two"))}));
    CHECK(put.succeeded);
    CHECK(put.revision > 0);

    auto a = must(c.range(key(p, "a")));
    REQUIRE(a.kvs.size() == 1);
    CHECK(as_chars(a.kvs[0].value) == "one");
    CHECK(a.kvs[0].mod_revision == put.revision);
    CHECK(a.kvs[0].create_revision == put.revision);
    CHECK(a.kvs[0].version == 1);

    auto all = must(c.range(p, prefix_end(p)));
    REQUIRE(all.kvs.size() == 3);  // in key order: a, b, bin\0\xff
    CHECK(all.kvs[0].key == key(p, "a"));
    CHECK(all.kvs[1].key == key(p, "b"));
    CHECK(all.kvs[2].key == binary);
    CHECK(all.kvs[2].value == Bytes{0, 1, 2});

    auto limited = must(c.range(p, prefix_end(p), 0, 2));
    CHECK(limited.kvs.size() == 2);
    CHECK(limited.more);
    CHECK(limited.count == 3);

    must(c.txn({}, {Op::put(key(p, "a"), to_bytes("uno"))}));
    auto before = must(c.range(key(p, "a"), {}, put.revision));
    REQUIRE(before.kvs.size() == 1);
    CHECK(as_chars(before.kvs[0].value) == "one");  // as it was at that revision
    CHECK(as_chars(must(c.range(key(p, "a"))).kvs.at(0).value) == "uno");
    CHECK(must(c.range(key(p, "none"))).kvs.empty());

    must(c.txn({}, {Op::del(p, prefix_end(p))}));
    CHECK(must(c.range(p, prefix_end(p))).kvs.empty());
}

TEST_CASE("a transaction that compares revisions commits only on what it read") {
    Client c = client();
    const Bytes p = fresh_prefix();
    const Bytes k = key(p, "counter");
    // Created only if absent (mod_revision 0).
    auto create = must(c.txn({{k, Compare::Target::mod_revision, Compare::Result::equal, 0, {}}},
                             {Op::put(k, to_bytes("1"))}));
    CHECK(create.succeeded);
    auto again = must(c.txn({{k, Compare::Target::mod_revision, Compare::Result::equal, 0, {}}},
                            {Op::put(k, to_bytes("1"))}, {Op::get(k)}));
    CHECK_FALSE(again.succeeded);
    REQUIRE(again.ranges.size() == 1);  // the failure branch's read
    REQUIRE(again.ranges[0].kvs.size() == 1);
    const std::int64_t read_at = again.ranges[0].kvs[0].mod_revision;
    CHECK(read_at == create.revision);

    // Two writers read the same revision; the first commits, the second must not.
    Client other = client();
    auto first =
        must(c.txn({{k, Compare::Target::mod_revision, Compare::Result::equal, read_at, {}}},
                   {Op::put(k, to_bytes("2"))}));
    CHECK(first.succeeded);
    auto second =
        must(other.txn({{k, Compare::Target::mod_revision, Compare::Result::equal, read_at, {}}},
                       {Op::put(k, to_bytes("2"))}));
    CHECK_FALSE(second.succeeded);
    CHECK(as_chars(must(c.range(k)).kvs.at(0).value) == "2");
    CHECK(must(c.range(k)).kvs.at(0).version == 2);

    auto by_value =
        must(c.txn({{k, Compare::Target::value, Compare::Result::equal, 0, to_bytes("2")}},
                   {Op::put(k, to_bytes("3"))}));
    CHECK(by_value.succeeded);
    must(c.txn({}, {Op::del(p, prefix_end(p))}));
}

TEST_CASE("etcd's limits are errors that say so, not half a transaction") {
    Client c = client();
    const Bytes p = fresh_prefix();
    std::vector<Op> many;
    for (int i = 0; i < 129; ++i)
        many.push_back(Op::put(key(p, std::to_string(i)), to_bytes("x")));
    auto too_many = c.txn({}, many);
    REQUIRE_FALSE(too_many.ok());
    CHECK(too_many.error().code == Errc::invalid);
    CHECK_MESSAGE(too_many.error().message.find("too many operations") != std::string::npos,
                  too_many.error().message);
    CHECK(must(c.range(p, prefix_end(p))).kvs.empty());

    // Two puts of one key in one transaction are refused by etcd.
    auto twice =
        c.txn({}, {Op::put(key(p, "k"), to_bytes("1")), Op::put(key(p, "k"), to_bytes("2"))});
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().code == Errc::invalid);

    auto big = c.txn({}, {Op::put(key(p, "big"), Bytes(1600 << 10, 'x'))});
    REQUIRE_FALSE(big.ok());
    CHECK_MESSAGE(big.error().message.find("too large") != std::string::npos, big.error().message);
    CHECK(must(c.range(p, prefix_end(p))).kvs.empty());
}

TEST_CASE("a lease keeps its keys while it is renewed, and takes them when revoked") {
    Client c = client();
    const Bytes p = fresh_prefix();
    const std::int64_t lease = must(c.lease_grant(std::chrono::seconds(30)));
    must(c.txn({}, {Op::put(key(p, "leader"), to_bytes("cugd-1"), lease)}));
    auto held = must(c.range(key(p, "leader")));
    REQUIRE(held.kvs.size() == 1);
    CHECK(held.kvs[0].lease == lease);
    const std::int64_t ttl = must(c.lease_keep_alive(lease));
    CHECK(ttl > 0);
    CHECK(ttl <= 30);
    REQUIRE(c.lease_revoke(lease).ok());
    CHECK(must(c.range(key(p, "leader"))).kvs.empty());
    auto gone = c.lease_keep_alive(lease);
    CHECK((!gone.ok() || *gone == 0));
    auto unknown = c.lease_revoke(lease);
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().code == Errc::not_found);
}

TEST_CASE("an endpoint that cannot be reached is passed over; none reachable is unavailable") {
    Config cf = config();
    cf.endpoints.insert(cf.endpoints.begin(), "https://127.0.0.1:1");
    cf.timeout = std::chrono::milliseconds(2000);
    Client c = client(cf);
    const Bytes p = fresh_prefix();
    must(c.txn({}, {Op::put(key(p, "x"), to_bytes("y"))}));
    CHECK(c.endpoint() != "https://127.0.0.1:1");
    must(c.txn({}, {Op::del(p, prefix_end(p))}));

    Config none = config();
    none.endpoints = {"https://127.0.0.1:1", "https://127.0.0.1:2"};
    Client d = client(none);
    auto r = d.range(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::unavailable);

    // A certificate the members do not trust is refused by TLS.
    Config stranger = config();
    stranger.cert = stranger.ca;  // not a client certificate of theirs, and no key for it
    Client e = client(stranger);
    CHECK_FALSE(e.range(p).ok());
}

namespace {

// Batches of the watch until `enough` says so, waiting on its fd (at most a
// minute: a slow day, not a fixed wait). Batches that report a broken
// stream (it is made again by itself) are kept apart.
std::vector<WatchBatch> watch_until(
    Watch& w, const std::function<bool(const std::vector<WatchBatch>&)>& enough,
    std::vector<Error>* breaks = nullptr) {
    std::vector<WatchBatch> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (!enough(got) && std::chrono::steady_clock::now() < deadline) {
        pollfd p{w.fd(), POLLIN, 0};
        ::poll(&p, 1, 1000);
        for (auto& b : w.take()) {
            if (b.error) {
                if (breaks) breaks->push_back(*b.error);
                continue;
            }
            got.push_back(std::move(b));
        }
    }
    return got;
}

std::vector<WatchEvent> events_of(const std::vector<WatchBatch>& batches) {
    std::vector<WatchEvent> out;
    for (const auto& b : batches)
        for (const auto& e : b.events)
            out.push_back(e);
    return out;
}

}  // namespace

TEST_CASE("a watch delivers every put and delete under its prefix, in order, and nothing else") {
    Client c = client();
    const Bytes p = fresh_prefix();
    const std::int64_t before =
        must(c.txn({}, {Op::put(key(p, "before"), to_bytes("0"))})).revision;
    auto w = must(Watch::start(config(), p, prefix_end(p), before + 1));
    must(c.txn({}, {Op::put(key(p, "a"), to_bytes("1"))}));
    must(c.txn({}, {Op::put(to_bytes("/cug-test/elsewhere"), to_bytes("x"))}));
    must(c.txn({}, {Op::put(key(p, "b"), to_bytes("2")), Op::del(key(p, "before"))}));
    const std::int64_t last = must(c.txn({}, {Op::del(key(p, "a"))})).revision;
    std::vector<Error> breaks;
    auto got = watch_until(
        w, [](const auto& b) { return events_of(b).size() >= 4; }, &breaks);
    for (const auto& e : breaks)
        MESSAGE("the watch broke and was made again: ", e.message);
    REQUIRE(!got.empty());
    CHECK(got.front().created);
    const auto ev = events_of(got);
    REQUIRE(ev.size() == 4);
    CHECK((!ev[0].deleted && ev[0].kv.key == key(p, "a") && as_chars(ev[0].kv.value) == "1"));
    CHECK((!ev[1].deleted && ev[1].kv.key == key(p, "b")));
    CHECK((ev[2].deleted && ev[2].kv.key == key(p, "before")));
    CHECK((ev[3].deleted && ev[3].kv.key == key(p, "a")));
    CHECK(ev[3].kv.mod_revision == last);
    CHECK(ev[1].kv.mod_revision == ev[2].kv.mod_revision);  // one transaction, one revision
    must(c.txn({}, {Op::del(p, prefix_end(p))}));
}

TEST_CASE("a watch from a revision compacted away says so, and ends") {
    Client c = client();
    const Bytes p = fresh_prefix();
    const std::int64_t first = must(c.txn({}, {Op::put(key(p, "x"), to_bytes("1"))})).revision;
    const std::int64_t second = must(c.txn({}, {Op::put(key(p, "x"), to_bytes("2"))})).revision;
    REQUIRE(c.compact(second).ok());
    auto old = c.range(key(p, "x"), {}, first);
    REQUIRE_FALSE(old.ok());
    CHECK(old.error().code == Errc::temporary);
    auto w = must(Watch::start(config(), p, prefix_end(p), first));
    auto got = watch_until(w, [](const auto& b) { return !b.empty() && b.back().canceled; });
    REQUIRE(!got.empty());
    CHECK(got.back().canceled);
    CHECK(got.back().compact_revision >= second);
    CHECK(events_of(got).empty());
    must(c.txn({}, {Op::del(p, prefix_end(p))}));
}

namespace {

// The watch of a member the test then kills (or stops: SIGSTOP), and the
// writes after it through the others: all must arrive once, in order.
void watch_through_loss(const char* pid, int sig) {
    Client c = client();
    const Bytes p = fresh_prefix();
    const std::int64_t start = must(c.txn({}, {Op::put(key(p, "0"), to_bytes("0"))})).revision;
    auto w = must(Watch::start(config(), p, prefix_end(p), start));
    auto first = watch_until(w, [](const auto& b) { return !events_of(b).empty(); });
    REQUIRE(events_of(first).size() == 1);
    REQUIRE(::kill(std::atoi(pid), sig) == 0);
    // Writes go on through the others (the client passes the lost one by).
    // While a new leader is elected a write may time out without saying
    // whether it was applied: each is made only if its key is absent, and
    // tried until that holds (as the store's backend will do).
    for (int i = 1; i <= 5; ++i) {
        const Bytes k = key(p, std::to_string(i));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
        for (;;) {
            auto put = c.txn({{k, Compare::Target::create_revision, Compare::Result::equal, 0, {}}},
                             {Op::put(k, to_bytes("v"))});
            if (put.ok() || std::chrono::steady_clock::now() > deadline) {
                REQUIRE_MESSAGE(put.ok(), (put.ok() ? "" : put.error().message));
                break;
            }
            MESSAGE("retrying a write: ", put.error().message);
        }
    }
    std::vector<Error> breaks;
    auto rest = watch_until(
        w, [](const auto& b) { return events_of(b).size() >= 5; }, &breaks);
    CHECK_FALSE(breaks.empty());  // it did break
    for (const auto& e : breaks)
        MESSAGE("the watch broke: ", e.message);
    const auto ev = events_of(rest);
    REQUIRE(ev.size() == 5);
    for (int i = 1; i <= 5; ++i)
        CHECK(ev[i - 1].kv.key == key(p, std::to_string(i)));
    must(c.txn({}, {Op::del(p, prefix_end(p))}));
}

}  // namespace

// cluster_test.sh names a member these tests may kill or stop (the first in
// the list); in the other runs they have nothing to do.
TEST_CASE("a watch whose member dies goes on at the next, with no event lost or repeated") {
    if (const char* victim = std::getenv("CUG_ETCD_VICTIM_PID"))
        watch_through_loss(victim, SIGKILL);
}

TEST_CASE("a watch whose member is stopped (alive, silent) goes on at the next") {
    if (const char* stopped = std::getenv("CUG_ETCD_STOP_PID"))
        watch_through_loss(stopped, SIGSTOP);
}

// --- store transactions on etcd (lib/store/etcd_txn) ---

namespace {

std::uint64_t read_u64(const std::optional<Bytes>& v) {
    return v ? std::stoull(std::string(as_chars(*v))) : 0;
}

}  // namespace

TEST_CASE("a store transaction sees its own writes, and commits all or nothing") {
    Client c = client();
    const Bytes root = fresh_prefix();
    REQUIRE(write(c, root, [](Transaction& t) -> Result<void> {
                t.put(as_bytes("users/a"), as_bytes("1"));
                t.put(as_bytes("users/c"), as_bytes("3"));
                t.put(as_bytes("groups/x"), as_bytes("g"));
                return ok();
            }).ok());
    std::uint64_t generation = 0;
    REQUIRE(write(c, root, [&](Transaction& t) -> Result<void> {
                generation = t.generation();
                t.put(as_bytes("users/b"), as_bytes("2"));
                t.del(as_bytes("users/c"));
                auto users = CUG_TRY(t.scan(as_bytes("users/")));
                REQUIRE(users.size() == 2);  // a, b: the put seen, the delete too
                CHECK(users[0].first == to_bytes("users/a"));
                CHECK(users[1].first == to_bytes("users/b"));
                auto newest = CUG_TRY(t.scan(as_bytes("users/"), true, 1));
                REQUIRE(newest.size() == 1);
                CHECK(newest[0].first == to_bytes("users/b"));
                const std::optional<Bytes> c_gone = CUG_TRY(t.get(as_bytes("users/c")));
                CHECK_FALSE(c_gone.has_value());
                const std::optional<Bytes> b = CUG_TRY(t.get(as_bytes("users/b")));
                REQUIRE(b.has_value());
                CHECK(as_chars(*b) == "2");
                return ok();
            }).ok());
    CHECK(generation == 1);

    // A body that fails commits nothing, however much it wrote.
    auto failed = write(c, root, [](Transaction& t) -> Result<void> {
        t.put(as_bytes("users/z"), as_bytes("26"));
        return make_error(Errc::not_found, "no such group");
    });
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().message == "no such group");
    // More keys than one etcd transaction takes: refused whole.
    auto big = write(c, root, [](Transaction& t) -> Result<void> {
        for (int i = 0; i < 128; ++i)
            t.put(to_bytes(fmt::format("n/{}", i)), as_bytes("x"));
        return ok();
    });
    REQUIRE_FALSE(big.ok());
    CHECK(big.error().code == Errc::invalid);
    REQUIRE(read(c, root, [](Transaction& t) -> Result<void> {
                CHECK(t.generation() == 2);
                const std::optional<Bytes> z = CUG_TRY(t.get(as_bytes("users/z")));
                CHECK_FALSE(z.has_value());
                CHECK(CUG_TRY(t.scan(as_bytes("n/"))).empty());
                CHECK(CUG_TRY(t.scan(as_bytes("users/"))).size() == 2);
                return ok();
            }).ok());
    must(c.txn({}, {Op::del(root, prefix_end(root))}));
}

TEST_CASE("writers on several clients at once never hand out a number twice") {
    const Bytes root = fresh_prefix();
    constexpr int writers = 4, each = 15;
    std::vector<std::vector<std::uint64_t>> taken(writers);
    std::vector<std::string> errors(writers);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w)
        threads.emplace_back([&, w] {
            auto cl = Client::open(config());
            if (!cl) {
                errors[w] = cl.error().message;
                return;
            }
            for (int i = 0; i < each; ++i) {
                std::uint64_t mine = 0;
                auto r = write(
                    *cl, root,
                    [&](Transaction& t) -> Result<void> {
                        const std::optional<Bytes> v = CUG_TRY(t.get(as_bytes("counters/key_id")));
                        mine = read_u64(v);
                        t.put(as_bytes("counters/key_id"), as_bytes(std::to_string(mine + 1)));
                        return ok();
                    },
                    64);
                if (!r) {
                    errors[w] = r.error().message;
                    return;
                }
                taken[w].push_back(mine);
            }
        });
    for (auto& t : threads)
        t.join();
    for (const auto& e : errors)
        CHECK_MESSAGE(e.empty(), e);
    std::set<std::uint64_t> all;
    for (const auto& v : taken)
        for (auto n : v)
            CHECK_MESSAGE(all.insert(n).second, "handed out twice: ", n);
    CHECK(all.size() == writers * each);
    Client c = client();
    REQUIRE(read(c, root, [&](Transaction& t) -> Result<void> {
                const std::optional<Bytes> v = CUG_TRY(t.get(as_bytes("counters/key_id")));
                CHECK(read_u64(v) == writers * each);
                CHECK(t.generation() == writers * each);
                return ok();
            }).ok());
    must(c.txn({}, {Op::del(root, prefix_end(root))}));
}
