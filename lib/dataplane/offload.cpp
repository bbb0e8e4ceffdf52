#include "dataplane/offload.hpp"

#include <cstring>

namespace cug::dataplane {

namespace {

constexpr std::uint8_t needs_csum = 1;
constexpr std::uint8_t gso_none = 0, gso_tcpv4 = 1, gso_tcpv6 = 4, gso_ecn = 0x80;
constexpr std::uint8_t tcp_fin = 0x01, tcp_psh = 0x08, tcp_cwr = 0x80;

std::uint16_t load16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
void store16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
std::uint32_t load32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
void store32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

// The TCP checksum of a whole segment (its checksum field zero), IPv4 or IPv6.
std::uint16_t tcp_checksum(const std::uint8_t* ip, bool v6, std::size_t ip_header,
                           std::size_t tcp_length) {
    std::uint32_t sum = 0;
    if (v6) {
        sum = checksum_add(ByteView(ip + 8, 32));
    } else {
        sum = checksum_add(ByteView(ip + 12, 8));
    }
    sum += 6;  // protocol
    sum += static_cast<std::uint32_t>(tcp_length >> 16) + static_cast<std::uint32_t>(tcp_length & 0xffff);
    sum = checksum_add(ByteView(ip + ip_header, tcp_length), sum);
    return static_cast<std::uint16_t>(~checksum_fold(sum));
}

}  // namespace

std::uint32_t checksum_add(ByteView b, std::uint32_t sum) {
    std::uint64_t s = sum;
    std::size_t i = 0;
    for (; i + 4 <= b.size(); i += 4) s += load32(b.data() + i);
    for (; i + 2 <= b.size(); i += 2) s += load16(b.data() + i);
    if (i < b.size()) s += std::uint32_t{b[i]} << 8;
    while (s >> 32) s = (s & 0xffffffff) + (s >> 32);
    return static_cast<std::uint32_t>(s);
}

std::uint16_t checksum_fold(std::uint32_t sum) {
    std::uint64_t s = sum;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(s);
}

VnetHeader read_vnet_header(const std::uint8_t* p) {
    VnetHeader h;
    h.flags = p[0];
    h.gso_type = p[1];
    std::memcpy(&h.hdr_len, p + 2, 2);
    std::memcpy(&h.gso_size, p + 4, 2);
    std::memcpy(&h.csum_start, p + 6, 2);
    std::memcpy(&h.csum_offset, p + 8, 2);
    return h;
}

std::size_t segment(const VnetHeader& h, ByteView packet, std::uint8_t* out, std::size_t stride,
                    std::span<std::size_t> lengths) {
    if (lengths.empty() || packet.empty()) return 0;
    const std::uint8_t type = h.gso_type & static_cast<std::uint8_t>(~gso_ecn);
    if (type == gso_none) {
        if (packet.size() > stride) return 0;
        std::memcpy(out, packet.data(), packet.size());
        if (h.flags & needs_csum) {
            // The field holds the pseudo-header's sum; add the rest and invert.
            const std::size_t start = h.csum_start, at = start + h.csum_offset;
            if (start >= packet.size() || at + 2 > packet.size()) return 0;
            const std::uint16_t c = static_cast<std::uint16_t>(
                ~checksum_fold(checksum_add(ByteView(out + start, packet.size() - start))));
            store16(out + at, c);
        }
        lengths[0] = packet.size();
        return 1;
    }
    if (type != gso_tcpv4 && type != gso_tcpv6) return 0;
    const bool v6 = type == gso_tcpv6;
    const std::uint8_t* p = packet.data();
    std::size_t ip_header = 0;
    if (v6) {
        if (packet.size() < 40 || (p[0] >> 4) != 6 || p[6] != 6) return 0;  // TCP, no extensions
        ip_header = 40;
    } else {
        if (packet.size() < 20 || (p[0] >> 4) != 4 || p[9] != 6) return 0;
        ip_header = (p[0] & 0x0f) * 4u;
        if (ip_header < 20) return 0;
    }
    if (packet.size() < ip_header + 20) return 0;
    const std::size_t tcp_header = (p[ip_header + 12] >> 4) * 4u;
    const std::size_t headers = ip_header + tcp_header;
    const std::size_t mss = h.gso_size;
    if (tcp_header < 20 || packet.size() < headers || mss == 0) return 0;
    const std::size_t payload = packet.size() - headers;
    const std::size_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
    if (count > lengths.size() || headers + std::min(mss, payload) > stride) return 0;
    const std::uint32_t seq = load32(p + ip_header + 4);
    const std::uint16_t id = v6 ? 0 : load16(p + 4);
    const std::uint8_t flags = p[ip_header + 13];
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t offset = i * mss;
        const std::size_t length = std::min(mss, payload - offset);
        std::uint8_t* s = out + i * stride;
        std::memcpy(s, p, headers);
        std::memcpy(s + headers, p + headers + offset, length);
        const std::size_t total = headers + length;
        if (v6) {
            store16(s + 4, static_cast<std::uint16_t>(total - 40));
        } else {
            store16(s + 2, static_cast<std::uint16_t>(total));
            store16(s + 4, static_cast<std::uint16_t>(id + i));
            store16(s + 10, 0);
            store16(s + 10, static_cast<std::uint16_t>(
                                ~checksum_fold(checksum_add(ByteView(s, ip_header)))));
        }
        std::uint8_t* tcp = s + ip_header;
        store32(tcp + 4, static_cast<std::uint32_t>(seq + offset));
        std::uint8_t f = flags;
        if (i + 1 < count) f &= static_cast<std::uint8_t>(~(tcp_fin | tcp_psh));
        if (i > 0) f &= static_cast<std::uint8_t>(~tcp_cwr);
        tcp[13] = f;
        store16(tcp + 16, 0);
        store16(tcp + 16, tcp_checksum(s, v6, ip_header, tcp_header + length));
        lengths[i] = total;
    }
    return count;
}

}  // namespace cug::dataplane
