#include "wire/binary.hpp"

#include <doctest/doctest.h>

using namespace cug;
using namespace cug::wire;

TEST_CASE("the writer and the reader agree, big-endian") {
    Writer w;
    w.u8(1)
        .u16(0x0203)
        .u32(0x04050607)
        .u64(0x08090a0b0c0d0e0f)
        .bytes8(as_bytes("ab"))
        .bytes16(as_bytes("cde"));
    CHECK(w.data() == Bytes{1,  2,  3,  4, 5,   6,   7, 8, 9,   10,  11, 12,
                            13, 14, 15, 2, 'a', 'b', 0, 3, 'c', 'd', 'e'});
    Reader r(w.data());
    CHECK(r.u8() == 1);
    CHECK(r.u16() == 0x0203);
    CHECK(r.u32() == 0x04050607);
    CHECK(r.u64() == 0x08090a0b0c0d0e0f);
    CHECK(as_chars(r.bytes8()) == "ab");
    CHECK(as_chars(r.bytes16()) == "cde");
    CHECK(r.done());
}

TEST_CASE("reading past the end fails and stays failed") {
    const Bytes data{0, 5, 'a', 'b'};
    Reader r(data);
    CHECK(r.bytes16().empty());  // claims 5 bytes, has 2
    CHECK_FALSE(r.ok());
    CHECK(r.u8() == 0);
    CHECK(r.remaining() == 0);
    CHECK_FALSE(r.done());

    Reader limited(data);
    limited.bytes16(4);  // 5 > 4 allowed
    CHECK_FALSE(limited.ok());

    Reader exact(data);
    CHECK(exact.u32() == 0x00056162);
    CHECK(exact.done());
    Reader leftover(data);
    leftover.u16();
    CHECK(leftover.ok());
    CHECK_FALSE(leftover.done());
    CHECK(leftover.rest().size() == 2);
    CHECK(leftover.done());
}
