#include "dataplane/offload.hpp"
#include "dataplane/packet.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

using namespace cug;
using namespace cug::dataplane;

namespace {

// A TCP packet: IPv4 (20) or IPv6 (40), TCP with 12 bytes of options (32),
// then `payload` bytes counting up.
std::vector<std::uint8_t> tcp_packet(bool v6, std::size_t payload, std::uint8_t flags) {
    const std::size_t ip = v6 ? 40 : 20, total = ip + 32 + payload;
    std::vector<std::uint8_t> p(total, 0);
    if (v6) {
        p[0] = 0x60;
        p[4] = static_cast<std::uint8_t>((total - 40) >> 8);
        p[5] = static_cast<std::uint8_t>(total - 40);
        p[6] = 6;
        p[7] = 64;
        p[8] = 0xfd;
        p[23] = 1;
        p[24] = 0xfd;
        p[39] = 2;
    } else {
        p[0] = 0x45;
        p[2] = static_cast<std::uint8_t>(total >> 8);
        p[3] = static_cast<std::uint8_t>(total);
        p[4] = 0x12;
        p[5] = 0x34;
        p[8] = 64;
        p[9] = 6;
        std::uint8_t a[8] = {198, 51, 100, 1, 198, 51, 100, 2};
        std::memcpy(&p[12], a, 8);
    }
    std::uint8_t* t = &p[ip];
    t[0] = 0x30;  // ports 12345 -> 80
    t[1] = 0x39;
    t[3] = 80;
    t[4] = 0x10;     // sequence 0x10000000
    t[12] = 8 << 4;  // 32-byte header
    t[13] = flags;
    for (std::size_t i = 0; i < payload; ++i)
        p[ip + 32 + i] = static_cast<std::uint8_t>(i);
    return p;
}

// The checksum over the pseudo-header and segment verifies (sums to 0xffff).
bool tcp_checksum_ok(const std::uint8_t* s, std::size_t len, bool v6) {
    const std::size_t ip = v6 ? 40 : 20;
    std::uint32_t sum = v6 ? checksum_add(ByteView(s + 8, 32)) : checksum_add(ByteView(s + 12, 8));
    sum += 6 + static_cast<std::uint32_t>(len - ip);
    sum = checksum_add(ByteView(s + ip, len - ip), sum);
    return checksum_fold(sum) == 0xffff;
}

}  // namespace

TEST_CASE("the Internet checksum: RFC 1071's example, odd lengths, partial sums") {
    const std::uint8_t rfc[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    CHECK(checksum_fold(checksum_add(ByteView(rfc, 8))) == 0xddf2);
    // Any split at an even offset gives the same sum; an odd tail counts as
    // the high byte of a last word.
    std::vector<std::uint8_t> big(1001);
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<std::uint8_t>(i * 7 + 3);
    std::uint32_t slow = 0;
    for (std::size_t i = 0; i < big.size(); i += 2)
        slow += static_cast<std::uint32_t>(big[i] << 8 | (i + 1 < big.size() ? big[i + 1] : 0));
    const auto whole = checksum_fold(checksum_add(big));
    CHECK(whole == checksum_fold(slow));
    CHECK(checksum_fold(checksum_add(ByteView(big.data() + 40, big.size() - 40),
                                     checksum_add(ByteView(big.data(), 40)))) == whole);
}

TEST_CASE("a TSO super-packet is cut as a NIC would: lengths, sequence, flags, checksums") {
    for (bool v6 : {false, true}) {
        CAPTURE(v6);
        const auto packet = tcp_packet(v6, 2500, 0x18 | 0x01 | 0x80);  // ACK PSH FIN CWR
        VnetHeader h;
        h.flags = 1;
        h.gso_type = v6 ? 4 : 1;
        h.gso_size = 1000;
        const std::size_t stride = 1200;
        std::vector<std::uint8_t> out(4 * stride);
        std::size_t lengths[4];
        CHECK(segment_count(h, packet) == 3);
        // Too few places for the segments: refused whole, nothing half-cut.
        CHECK(segment(h, packet, out.data(), stride, std::span(lengths, 2)) == 0);
        REQUIRE(segment(h, packet, out.data(), stride, lengths) == 3);
        // A tiny MSS makes many (the device's gso_max_segs keeps them within a batch).
        VnetHeader tiny = h;
        tiny.gso_size = 48;
        CHECK(segment_count(tiny, packet) == (2500 + 47) / 48);
        const std::size_t headers = (v6 ? 40 : 20) + 32;
        const std::size_t want[3] = {headers + 1000, headers + 1000, headers + 500};
        for (std::size_t i = 0; i < 3; ++i) {
            CAPTURE(i);
            const std::uint8_t* s = out.data() + i * stride;
            CHECK(lengths[i] == want[i]);
            auto inner = parse_inner(ByteView(s, lengths[i]));
            REQUIRE(inner);
            CHECK(inner->length == want[i]);
            const std::uint8_t* t = s + (v6 ? 40 : 20);
            const std::uint32_t seq = std::uint32_t{t[4]} << 24 | t[5] << 16 | t[6] << 8 | t[7];
            CHECK(seq == 0x10000000u + 1000 * i);
            const bool last = i == 2;
            CHECK(((t[13] & 0x09) != 0) == last);      // PSH and FIN only on the last
            CHECK(((t[13] & 0x80) != 0) == (i == 0));  // CWR only on the first
            CHECK((t[13] & 0x10) != 0);
            CHECK(s[headers] == static_cast<std::uint8_t>(1000 * i));  // payload in place
            CHECK(tcp_checksum_ok(s, lengths[i], v6));
            if (!v6) {
                CHECK(checksum_fold(checksum_add(ByteView(s, 20))) == 0xffff);
                CHECK((s[4] << 8 | s[5]) == 0x1234 + static_cast<int>(i));
            }
        }
    }
}

TEST_CASE("a single packet with its checksum left to finish, and refusals") {
    auto packet = tcp_packet(false, 100, 0x18);
    // The kernel leaves the pseudo-header's sum (not inverted) in the field.
    std::uint32_t pseudo = checksum_add(ByteView(packet.data() + 12, 8)) + 6 + 132;
    const std::uint16_t partial = checksum_fold(pseudo);
    packet[36] = static_cast<std::uint8_t>(partial >> 8);
    packet[37] = static_cast<std::uint8_t>(partial);
    VnetHeader h;
    h.flags = 1;
    h.csum_start = 20;
    h.csum_offset = 16;
    std::vector<std::uint8_t> out(2000);
    std::size_t lengths[1];
    REQUIRE(segment(h, packet, out.data(), out.size(), lengths) == 1);
    CHECK(lengths[0] == packet.size());
    CHECK(tcp_checksum_ok(out.data(), lengths[0], false));
    h.csum_offset = 200;  // past the end
    CHECK(segment(h, packet, out.data(), out.size(), lengths) == 0);

    VnetHeader gso;
    gso.gso_type = 1;
    gso.gso_size = 0;
    CHECK(segment(gso, packet, out.data(), out.size(), lengths) == 0);  // no MSS
    CHECK(segment_count(gso, packet) == 0);
    gso.gso_size = 10;
    CHECK(segment(gso, packet, out.data(), out.size(), lengths) == 0);  // 10 segments, room for 1
    CHECK(segment_count(gso, packet) == 10);
    gso.gso_type = 3;  // UDP fragmentation offload: never turned on
    CHECK(segment(gso, packet, out.data(), out.size(), lengths) == 0);
    CHECK(segment_count(gso, packet) == 0);
    gso.gso_type = 4;  // says IPv6, is IPv4
    gso.gso_size = 1000;
    CHECK(segment(gso, packet, out.data(), out.size(), lengths) == 0);
    CHECK(segment_count(gso, packet) == 0);
    VnetHeader none;
    CHECK(segment_count(none, packet) == 1);
    CHECK(segment(none, packet, out.data(), 50, lengths) == 0);  // larger than a slot
}

TEST_CASE("segments of one flow in order join into one super-packet for the device (GRO)") {
    for (bool v6 : {false, true}) {
        CAPTURE(v6);
        const std::size_t ip = v6 ? 40 : 20, headers = ip + 32;
        const auto original = tcp_packet(v6, 2500, 0x18);  // ACK PSH
        VnetHeader h;
        h.gso_type = v6 ? 4 : 1;
        h.gso_size = 1000;
        const std::size_t stride = 1200;
        std::vector<std::uint8_t> out(4 * stride);
        std::size_t lengths[4];
        REQUIRE(segment(h, original, out.data(), stride, lengths) == 3);
        auto seg = [&](std::size_t i) { return ByteView(out.data() + i * stride, lengths[i]); };

        Coalescer c;
        REQUIRE(c.start(seg(0)));
        CHECK_FALSE(c.append(seg(2)));  // out of order
        REQUIRE(c.append(seg(1)));
        REQUIRE(c.append(seg(2)));  // short and pushed: the train ends
        CHECK_FALSE(c.append(seg(2)));
        const ByteView joined = c.finish();
        CHECK(c.empty());
        REQUIRE(joined.size() == vnet_header_size + original.size());
        const VnetHeader v = read_vnet_header(joined.data());
        CHECK(v.flags == 1);
        CHECK(v.gso_type == (v6 ? 4 : 1));
        CHECK(v.gso_size == 1000);
        CHECK(v.hdr_len == headers);
        CHECK(v.csum_start == ip);
        CHECK(v.csum_offset == 16);
        const std::uint8_t* p = joined.data() + vnet_header_size;
        CHECK(std::memcmp(p + headers, original.data() + headers, 2500) == 0);
        auto inner = parse_inner(ByteView(p, joined.size() - vnet_header_size));
        REQUIRE(inner);
        CHECK(inner->length == original.size());
        CHECK((p[ip + 13] & 0x08) != 0);  // PSH kept
        if (!v6) CHECK(checksum_fold(checksum_add(ByteView(p, 20))) == 0xffff);
        // The field holds the pseudo-header's sum, for the device to finish:
        // adding the segment's bytes (that field included) gives a valid sum.
        std::uint32_t sum =
            v6 ? checksum_add(ByteView(p + 8, 32)) : checksum_add(ByteView(p + 12, 8));
        sum += 6 + static_cast<std::uint32_t>(original.size() - ip);
        CHECK(checksum_fold(sum) == (p[ip + 16] << 8 | p[ip + 17]));

        // One segment alone goes out as it came, with an empty header.
        REQUIRE(c.start(seg(0)));
        const ByteView alone = c.finish();
        CHECK(read_vnet_header(alone.data()).gso_type == 0);
        CHECK(read_vnet_header(alone.data()).flags == 0);
        const ByteView first = seg(0);
        const bool same =
            std::memcmp(alone.data() + vnet_header_size, first.data(), first.size()) == 0;
        CHECK(same);
    }
    // What never starts a train: a SYN, a segment without payload, UDP.
    Coalescer c;
    auto syn = tcp_packet(false, 10, 0x02);
    CHECK_FALSE(c.start(syn));
    auto bare = tcp_packet(false, 0, 0x10);
    CHECK_FALSE(c.start(bare));
    auto udp = tcp_packet(false, 10, 0x10);
    udp[9] = 17;
    CHECK_FALSE(c.start(udp));
    // Another flow does not join.
    auto a = tcp_packet(false, 100, 0x10), b = tcp_packet(false, 100, 0x10);
    b[27] = 100;  // the sequence number right after a's
    REQUIRE(c.start(a));
    auto other = b;
    other[21] = 0x3a;  // another source port
    CHECK_FALSE(c.append(other));
    CHECK(c.append(b));  // the same flow does
}
