#include "wire/kv.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace cug;
using namespace cug::wire;

namespace {

std::string error_of(std::string_view text, const Limits& limits = {}) {
    auto m = parse_message(text, limits);
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().code == Errc::protocol);
    return m.error().message;
}

}  // namespace

TEST_CASE("a message round-trips and its typed values read back") {
    Message m;
    REQUIRE(m.add("cmd", "status").ok());
    REQUIRE(m.add_u64("peer.0.index", 18446744073709551615u).ok());
    REQUIRE(m.add_bool("up", true).ok());
    REQUIRE(m.add_bytes("key", Bytes{0xfb, 0xff}).ok());
    REQUIRE(m.add("note", "a=b = c").ok());
    REQUIRE(m.add("empty", "").ok());
    const std::string text = m.encode();
    CHECK(text ==
          "cmd=status\npeer.0.index=18446744073709551615\nup=true\nkey=-_8\nnote=a=b = "
          "c\nempty=\n\n");
    auto back = parse_message(text);
    REQUIRE(back.ok());
    CHECK(back->size() == 6);
    CHECK(*back->get("cmd") == "status");
    CHECK(*back->get_u64("peer.0.index") == 18446744073709551615u);
    CHECK(*back->get_bool("up"));
    CHECK(*back->get_bytes("key", 2) == Bytes{0xfb, 0xff});
    CHECK(*back->get("note") == "a=b = c");
    CHECK(back->get("empty")->empty());
    CHECK(back->get_optional_u64("absent")->has_value() == false);
    CHECK(back->allow_only({"cmd", "up", "key", "note", "empty"}, {"peer."}).ok());
    auto unknown = back->allow_only({"cmd"});
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().message == "unknown key 'peer.0.index'");
}

TEST_CASE("hundreds of keys: each is found, none twice, and a wiped message starts over") {
    Message m;
    for (int i = 0; i < 500; ++i) {
        REQUIRE(m.add(fmt::format("peer.{}.user", i), fmt::format("user-{}", i)).ok());
        // The table grows while keys arrive: earlier ones must stay findable.
        REQUIRE(m.find("peer.0.user") != nullptr);
    }
    CHECK(m.size() == 500);
    for (int i = 0; i < 500; ++i) {
        const std::string* v = m.find(fmt::format("peer.{}.user", i));
        REQUIRE(v != nullptr);
        CHECK(*v == fmt::format("user-{}", i));
        CHECK_FALSE(m.add(fmt::format("peer.{}.user", i), "again").ok());
    }
    CHECK(m.find("peer.500.user") == nullptr);
    CHECK(m.find("peer.0.use") == nullptr);
    auto copy = m;
    CHECK(*copy.get("peer.499.user") == "user-499");
    m.wipe();
    CHECK(m.empty());
    CHECK(m.find("peer.0.user") == nullptr);
    REQUIRE(m.add("peer.0.user", "new").ok());
    CHECK(*m.get("peer.0.user") == "new");
    CHECK(*copy.get("peer.0.user") == "user-0");
}

TEST_CASE("typed getters accept one spelling only") {
    auto m = parse_message("n=007\nb=True\nz=0\nbig=18446744073709551616\nbin=Zg==\nr=5\n\n");
    REQUIRE(m.ok());
    CHECK_FALSE(m->get_u64("n").ok());
    CHECK(*m->get_u64("z") == 0);
    CHECK_FALSE(m->get_u64("big").ok());
    CHECK_FALSE(m->get_bool("b").ok());
    CHECK_FALSE(m->get_bytes("bin", 100).ok());
    CHECK_FALSE(m->get_u64("r", 6, 10).ok());
    CHECK(m->get("missing").error().message == "missing key 'missing'");
    auto long_bytes = parse_message("k=Zm9vYmFy\n\n");
    CHECK_FALSE(long_bytes->get_bytes("k", 5).ok());
}

TEST_CASE("malformed messages are refused with the line that broke them") {
    CHECK(error_of("a=1\na=2\n\n").find("line 2") != std::string::npos);
    CHECK(error_of("a=1\na=2\n\n").find("twice") != std::string::npos);
    CHECK(error_of("novalue\n\n").find("has no '='") != std::string::npos);
    CHECK(error_of("Upper=1\n\n").find("bad key") != std::string::npos);
    CHECK(error_of("1st=1\n\n").find("bad key") != std::string::npos);
    CHECK(error_of("=1\n\n").find("bad key") != std::string::npos);
    CHECK(error_of(std::string(65, 'k') + "=1\n\n").find("bad key") != std::string::npos);
    CHECK(error_of("a=1\r\n\n").find("\\x0d") != std::string::npos);
    CHECK(error_of("a=tab\there\n\n").find("\\x09") != std::string::npos);
    CHECK(error_of(std::string("a=nul\0x\n\n", 10)).find("\\x00") != std::string::npos);
    CHECK(error_of("a=\xc3\xa9\n\n").find("\\xc3") != std::string::npos);
    CHECK(error_of("\n").find("empty message") != std::string::npos);
    CHECK(error_of("a=1\n").find("not ended") != std::string::npos);
    CHECK(error_of("a=1\n\nb=2\n\n").find("follow") != std::string::npos);
}

TEST_CASE("limits are enforced") {
    Limits small{16, 8, 2, 40};
    CHECK(parse_message("a=12345678\n\n", small).ok());
    CHECK(error_of("a=123456789\n\n", small).find("longer than 8") != std::string::npos);
    CHECK(error_of("abcdefghijklmnop=1\n\n", small).find("longer than 16") != std::string::npos);
    CHECK(error_of("a=1\nb=2\nc=3\n\n", small).find("more than 2 keys") != std::string::npos);
    CHECK(error_of(std::string(41, 'x'), small).find("longer than 40") != std::string::npos);
}

TEST_CASE("the stream decoder returns messages as they complete and fails for good") {
    Decoder d;
    REQUIRE(d.feed("cmd=sta").ok());
    CHECK_FALSE(d.next()->has_value());
    REQUIRE(d.feed("tus\n\ncmd=show\n").ok());
    auto first = d.next();
    REQUIRE(first.ok());
    REQUIRE(first->has_value());
    CHECK(*(*first)->get("cmd") == "status");
    CHECK_FALSE(d.next()->has_value());
    REQUIRE(d.feed("\n").ok());
    auto second = d.next();
    REQUIRE(second->has_value());
    CHECK(*(*second)->get("cmd") == "show");
    CHECK(d.pending() == 0);

    REQUIRE(d.feed("bad line\n\ncmd=x\n\n").ok());
    CHECK_FALSE(d.next().ok());
    CHECK_FALSE(d.next().ok());  // sticky
    CHECK_FALSE(d.feed("cmd=y\n\n").ok());

    Decoder endless(Limits{100, 80, 10, 1000});
    REQUIRE(endless.feed(std::string(101, 'a')).ok());
    CHECK_FALSE(endless.next().ok());  // a line that never ends is refused early
    Decoder flood(Limits{100, 80, 10, 200});
    CHECK_FALSE(flood.feed(std::string(201, 'a')).ok());
}
