#include "dataplane/packet.hpp"
#include "dataplane/replay.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace cug;
using namespace cug::dataplane;

TEST_CASE("a data packet's header: one encoding, checked before anything else") {
    std::uint8_t buf[overhead]{};
    write_header(buf, Header{0xab, 0x01020304, 0x1122334455667788ull});
    const std::vector<std::uint8_t> want{0x01, 0xab, 0,    0,    1,    2,    3,    4,
                                         0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    CHECK(std::vector<std::uint8_t>(buf, buf + header_size) == want);
    auto h = parse_header(ByteView(buf, overhead));
    REQUIRE(h);
    CHECK(h->key_hint == 0xab);
    CHECK(h->index == 0x01020304u);
    CHECK(h->counter == 0x1122334455667788ull);
    CHECK_FALSE(parse_header(ByteView(buf, overhead - 1)));  // no room for a tag
    buf[2] = 1;
    CHECK_FALSE(parse_header(ByteView(buf, overhead)));  // padding must be zero
    buf[2] = 0;
    buf[0] = 'c';  // the control part's ("cugh")
    CHECK_FALSE(parse_header(ByteView(buf, overhead)));
    const auto n = nonce_for(0x0102030405060708ull);
    CHECK(std::vector<std::uint8_t>(n.begin(), n.end()) ==
          std::vector<std::uint8_t>{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("inner packets: addresses only from a sound IP header") {
    std::vector<std::uint8_t> v4{0x45, 0,   0,  28,  0, 0, 0, 0, 64, 1, 0, 0, 198, 51,  100,
                                 1,    198, 51, 100, 2, 8, 0, 0, 0,  0, 0, 0, 0,   0xee};
    auto in = parse_inner(v4);
    REQUIRE(in);
    CHECK(in->source.to_string() == "198.51.100.1");
    CHECK(in->destination.to_string() == "198.51.100.2");
    CHECK(in->length == 28);  // trailing bytes are not the packet's
    v4[3] = 30;               // longer than what was read
    CHECK_FALSE(parse_inner(v4));
    v4[3] = 28;
    v4[0] = 0x44;  // header length 16
    CHECK_FALSE(parse_inner(v4));
    v4[0] = 0x55;  // IP version 5
    CHECK_FALSE(parse_inner(v4));
    CHECK_FALSE(parse_inner(ByteView()));

    std::vector<std::uint8_t> v6(48, 0);
    v6[0] = 0x60;
    v6[5] = 8;  // payload length
    v6[8] = 0xfd;
    v6[23] = 1;
    v6[24] = 0xfd;
    v6[39] = 2;
    in = parse_inner(v6);
    REQUIRE(in);
    CHECK(in->source.to_string() == "fd00::1");
    CHECK(in->destination.to_string() == "fd00::2");
    CHECK(in->length == 48);
    v6[5] = 9;
    CHECK_FALSE(parse_inner(v6));
    CHECK_FALSE(parse_inner(ByteView(v6.data(), 39)));
}

TEST_CASE("the replay window: each counter once, out of order within 8192, never older") {
    ReplayWindow w;
    CHECK(w.update(0));
    CHECK_FALSE(w.update(0));
    CHECK(w.update(5));
    CHECK(w.update(3));  // late, within the window
    CHECK_FALSE(w.check(3));
    CHECK(w.check(4));
    CHECK(w.update(10000));
    // The window is the last 8192 counters, the highest taken included.
    CHECK_FALSE(w.check(10000 - ReplayWindow::window));  // too old
    CHECK(w.check(10000 - ReplayWindow::window + 1));    // the oldest still taken
    CHECK(w.update(10000 - ReplayWindow::window + 1));
    CHECK_FALSE(w.check(5));
    // A jump far ahead forgets everything before the new window.
    CHECK(w.update(1'000'000));
    CHECK_FALSE(w.check(10000));
    CHECK(w.check(1'000'000 - 1));
    // Sliding word by word keeps what is still inside.
    ReplayWindow s;
    for (std::uint64_t c = 0; c < 20000; c += 2)
        REQUIRE(s.update(c));
    for (std::uint64_t c = 20000 - ReplayWindow::window; c < 20000; ++c)
        CHECK(s.check(c) == (c % 2 == 1));
}
