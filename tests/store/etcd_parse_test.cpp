// lib/store/etcd without a cluster: the store URL, base64, prefix ends and
// the gateway's answers, well-formed or not.
#include "store/etcd.hpp"

#include <doctest/doctest.h>

using namespace cug;
using namespace cug::store::etcd;

TEST_CASE("etcd:// store URLs name the members") {
    auto one = parse_store_url("etcd://127.0.0.1:2379");
    REQUIRE(one.ok());
    CHECK(*one == std::vector<std::string>{"https://127.0.0.1:2379"});
    auto three = parse_store_url("etcd://a.example:2379,[fd00::1]:2379,b:1");
    REQUIRE(three.ok());
    CHECK(three->size() == 3);
    CHECK((*three)[1] == "https://[fd00::1]:2379");
    for (const char* bad : {"/var/lib/cug/store", "etcd://", "etcd://host",
                            "etcd://host:", "etcd://:2379", "etcd://h:23x9", "etcd://h:1,,h:2",
                            "etcd://h:1/path", "etcd://u@h:1", "etcd://[fd00::1:2379"})
        CHECK_MESSAGE(!parse_store_url(bad).ok(), bad);
}

TEST_CASE("base64 both ways, and nothing else taken for it") {
    using detail::base64;
    using detail::unbase64;
    CHECK(base64(to_bytes("")) == "");
    CHECK(base64(to_bytes("f")) == "Zg==");
    CHECK(base64(to_bytes("fo")) == "Zm8=");
    CHECK(base64(to_bytes("foo")) == "Zm9v");
    const Bytes odd{0, 0xff, 0xfe, 1};
    CHECK(*unbase64(base64(odd)) == odd);
    CHECK(*unbase64("Zg==") == to_bytes("f"));
    CHECK(unbase64("")->empty());
    CHECK_FALSE(unbase64("Zg="));
    CHECK_FALSE(unbase64("Z=g="));
    CHECK_FALSE(unbase64("Zm9v\n"));
    CHECK_FALSE(unbase64("Zm-_"));
    CHECK_FALSE(unbase64("Zh=="));  // "f" with stray bits
}

TEST_CASE("the key past a prefix") {
    CHECK(prefix_end(to_bytes("/cug/")) == to_bytes("/cug0"));
    CHECK(prefix_end(Bytes{'a', 0xff}) == Bytes{'b'});
    CHECK(prefix_end(Bytes{0xff, 0xff}).empty());
}

TEST_CASE("the gateway's answers: ranges, transactions, errors") {
    auto r = detail::parse_range(
        R"({"header":{"revision":"7"},"kvs":[{"key":"YQ==","value":"b25l","create_revision":"5",)"
        R"("mod_revision":"7","version":"2"}],"count":"1"})");
    REQUIRE(r.ok());
    CHECK(r->revision == 7);
    REQUIRE(r->kvs.size() == 1);
    CHECK(r->kvs[0].key == to_bytes("a"));
    CHECK(as_chars(r->kvs[0].value) == "one");
    CHECK(r->kvs[0].version == 2);
    CHECK_FALSE(r->more);
    auto empty = detail::parse_range(R"({"header":{"revision":"9"}})");
    REQUIRE(empty.ok());
    CHECK(empty->kvs.empty());

    auto t = detail::parse_txn(
        R"({"header":{"revision":"8"},"succeeded":true,"responses":[{"response_put":{}},)"
        R"({"response_range":{"kvs":[{"key":"YQ=="}]}}]})");
    REQUIRE(t.ok());
    CHECK(t->succeeded);
    REQUIRE(t->ranges.size() == 1);
    CHECK(t->ranges[0].kvs[0].value.empty());

    for (const char* bad : {"", "[]", "{", R"({"kvs":{}})", R"({"kvs":[{"key":"!!"}]})",
                            R"({"kvs":[{"key":"YQ==","version":"x"}]})",
                            R"({"kvs":[{"version":"99999999999999999999999"}]})",
                            R"({"header":[]})", R"({"more":"yes"})"})
        CHECK_MESSAGE(!detail::parse_range(bad).ok(), bad);
    CHECK_FALSE(detail::parse_txn(R"({"responses":[1]})").ok());

    auto e = detail::parse_error(
        R"({"error":"etcdserver: too many operations in txn request",)"
        R"("code":3,"message":"etcdserver: too many operations in txn request"})",
        400);
    REQUIRE(e);
    CHECK(e->code == Errc::invalid);
    CHECK(e->message == "etcd: etcdserver: too many operations in txn request");
    CHECK(detail::parse_error(R"({"code":14,"message":"no leader"})", 503)->code ==
          Errc::unavailable);
    CHECK(detail::parse_error("<html>", 502)->message == "etcd: HTTP status 502");
    CHECK_FALSE(detail::parse_error(R"({"header":{}})", 200));
}

TEST_CASE("a watch's lines: events, creation, cancellation, a broken stream") {
    auto w = detail::parse_watch(
        R"({"result":{"header":{"revision":"10"},"events":[{"kv":{"key":"Zm9v","mod_revision":"9",)"
        R"("value":"YmFy"}},{"type":"DELETE","kv":{"key":"Zm9v","mod_revision":"10"}}]}})");
    REQUIRE(w.ok());
    CHECK(w->revision == 10);
    REQUIRE(w->events.size() == 2);
    CHECK_FALSE(w->events[0].deleted);
    CHECK(as_chars(w->events[0].kv.value) == "bar");
    CHECK(w->events[1].deleted);
    CHECK(w->events[1].kv.mod_revision == 10);
    CHECK(detail::parse_watch(R"({"result":{"header":{"revision":"4"},"created":true}})")->created);
    auto c = detail::parse_watch(R"({"result":{"canceled":true,"compact_revision":"8"}})");
    REQUIRE(c.ok());
    CHECK(c->canceled);
    CHECK(c->compact_revision == 8);
    auto broken =
        detail::parse_watch(R"({"error":{"grpc_code":14,"http_code":503,"message":"no leader"}})");
    REQUIRE(broken.ok());
    REQUIRE(broken->error);
    CHECK(broken->error->message == "etcd: no leader");
    for (const char* bad :
         {"", R"({"result":1})", R"({"result":{"events":[{"type":"MOVE","kv":{}}]}})",
          R"({"result":{"events":[{}]}})", R"({"result":{"events":{}}})"})
        CHECK_MESSAGE(!detail::parse_watch(bad).ok(), bad);
}
