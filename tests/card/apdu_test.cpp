#include "card/apdu.hpp"

#include <doctest/doctest.h>

using namespace cug;
using namespace cug::card;

TEST_CASE("short command APDUs in all four cases encode and parse back") {
    Command select{0x00, 0xa4, 0x04, 0x00, Bytes{0xa0, 0x00, 0x00, 0x03, 0x08}, 256};
    CHECK(encode(select) ==
          Bytes{0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00});
    auto back = parse_command(encode(select));
    REQUIRE(back.ok());
    CHECK(back->ins == 0xa4);
    CHECK(back->data == select.data);
    CHECK(back->le == 256);

    Command status{0x00, 0x20, 0x00, 0x80, {}, std::nullopt};  // case 1
    CHECK(encode(status) == Bytes{0x00, 0x20, 0x00, 0x80});
    CHECK_FALSE(parse_command(encode(status))->le.has_value());
    Command get{0x00, 0xc0, 0x00, 0x00, {}, 16};  // case 2
    CHECK(parse_command(encode(get))->le == 16);
    Command put{0x00, 0xdb, 0x3f, 0xff, Bytes(10, 1), std::nullopt};  // case 3
    auto p = parse_command(encode(put));
    CHECK(p->data.size() == 10);
    CHECK_FALSE(p->le.has_value());

    CHECK_FALSE(parse_command(Bytes{0x00, 0xa4, 0x04}).ok());
    CHECK_FALSE(parse_command(Bytes{0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0}).ok());  // short of Lc
    CHECK_FALSE(parse_command(Bytes{0x00, 0xa4, 0x04, 0x00, 0x00, 0x01, 0x00}).ok());  // extended
}

TEST_CASE("long data goes as a chain of 255-byte commands") {
    Command put{0x00, 0xdb, 0x3f, 0xff, Bytes(600, 7), 256};
    auto chain = encode_chain(put);
    REQUIRE(chain.size() == 3);
    CHECK(chain[0][0] == 0x10);
    CHECK(chain[0][4] == 255);
    CHECK(chain[0].size() == 5 + 255);  // no Le before the last
    CHECK(chain[1][0] == 0x10);
    CHECK(chain[2][0] == 0x00);
    CHECK(chain[2][4] == 90);
    CHECK(chain[2].back() == 0x00);
    CHECK(encode_chain(Command{0x00, 0xcb, 0x3f, 0xff, Bytes(255, 1), 256}).size() == 1);
}

TEST_CASE("responses and BER-TLV") {
    auto r = parse_response(Bytes{0x01, 0x02, 0x90, 0x00});
    REQUIRE(r.ok());
    CHECK(r->ok());
    CHECK(r->data == Bytes{0x01, 0x02});
    CHECK(encode_response(*r) == Bytes{0x01, 0x02, 0x90, 0x00});
    CHECK(parse_response(Bytes{0x63, 0xc2})->sw2() == 0xc2);
    CHECK_FALSE(parse_response(Bytes{0x90}).ok());

    // 7F49 { 86 <65-byte point> }: a two-byte tag and a long-form length.
    Bytes point(65, 4);
    Bytes inner = tlv(0x86, point);
    Bytes outer = tlv(0x7f49, inner);
    CHECK(outer[0] == 0x7f);
    CHECK(outer[1] == 0x49);
    CHECK(outer[2] == 67);  // 2 + 65 bytes: short form
    auto found = find_tlv(outer, 0x7f49);
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    auto p = find_tlv(**found, 0x86);
    REQUIRE(p->has_value());
    CHECK(Bytes((*p)->begin(), (*p)->end()) == point);
    CHECK_FALSE(find_tlv(outer, 0x53)->has_value());

    Bytes big = tlv(0x53, Bytes(300, 9));
    CHECK(big[1] == 0x82);
    CHECK((*parse_tlvs(big))[0].value.size() == 300);

    CHECK_FALSE(parse_tlvs(Bytes{0x53, 0x05, 0x01}).ok());        // truncated
    CHECK_FALSE(parse_tlvs(Bytes{0x53, 0x80, 0x00, 0x00}).ok());  // indefinite
    CHECK_FALSE(parse_tlvs(Bytes{0x53, 0x84, 0, 0, 0, 1, 0}).ok());
    CHECK_FALSE(parse_tlvs(Bytes{0x5f, 0xc1, 0x82, 0x01, 0x00}).ok());  // 4-byte tag
    CHECK((*parse_tlvs(Bytes{0x5f, 0xc1, 0x02, 0x01, 0xaa}))[0].tag == 0x5fc102);
}
