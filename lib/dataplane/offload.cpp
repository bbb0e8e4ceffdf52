#include "dataplane/offload.hpp"

#include <bit>
#include <cstring>
#include <optional>

namespace cug::dataplane {

namespace {

constexpr std::uint8_t needs_csum = 1;
constexpr std::uint8_t gso_none = 0, gso_tcpv4 = 1, gso_tcpv6 = 4, gso_ecn = 0x80;
constexpr std::uint8_t tcp_fin = 0x01, tcp_psh = 0x08, tcp_cwr = 0x80;

std::uint16_t load16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
void store16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
std::uint32_t load32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
void store32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 3; i >= 0; --i, v >>= 8)
        p[i] = static_cast<std::uint8_t>(v);
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
    sum += static_cast<std::uint32_t>(tcp_length >> 16) +
           static_cast<std::uint32_t>(tcp_length & 0xffff);
    sum = checksum_add(ByteView(ip + ip_header, tcp_length), sum);
    return static_cast<std::uint16_t>(~checksum_fold(sum));
}

}  // namespace

std::uint32_t checksum_add(ByteView b, std::uint32_t sum) {
    // RFC 1071's sum does not depend on byte order: add native 32-bit words
    // into 64 bits (eight bytes a step), fold, and swap to network order at
    // the end. This is the hot loop of segmentation.
    std::uint64_t s0 = 0, s1 = 0;
    const std::uint8_t* p = b.data();
    std::size_t n = b.size();
    for (; n >= 16; p += 16, n -= 16) {
        std::uint64_t a, c;
        std::memcpy(&a, p, 8);
        std::memcpy(&c, p + 8, 8);
        s0 += (a & 0xffffffff) + (a >> 32);
        s1 += (c & 0xffffffff) + (c >> 32);
    }
    std::uint64_t s = s0 + s1;  // cannot overflow: 2^32 per step, far fewer than 2^31 steps
    for (; n >= 4; p += 4, n -= 4) {
        std::uint32_t w;
        std::memcpy(&w, p, 4);
        s += w;
    }
    if (n >= 2) {
        std::uint16_t w;
        std::memcpy(&w, p, 2);
        s += w;
        p += 2;
        n -= 2;
    }
    if (n) {
        const std::uint16_t w =
            static_cast<std::uint16_t>(*p << 8);  // network order: the high byte
        s += __builtin_bswap16(w);
    }
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    std::uint64_t total = std::uint64_t{sum} + __builtin_bswap16(static_cast<std::uint16_t>(s));
    while (total >> 32)
        total = (total & 0xffffffff) + (total >> 32);
    return static_cast<std::uint32_t>(total);
}

std::uint16_t checksum_fold(std::uint32_t sum) {
    std::uint64_t s = sum;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
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

namespace {

// A TCP super-packet's headers and how many segments it makes.
struct TcpLayout {
    bool v6 = false;
    std::size_t ip_header = 0, headers = 0, mss = 0, payload = 0, count = 0;
};
std::optional<TcpLayout> tcp_layout(const VnetHeader& h, ByteView packet) {
    const std::uint8_t type = h.gso_type & static_cast<std::uint8_t>(~gso_ecn);
    if (type != gso_tcpv4 && type != gso_tcpv6) return std::nullopt;
    TcpLayout l;
    l.v6 = type == gso_tcpv6;
    const std::uint8_t* p = packet.data();
    if (l.v6) {
        if (packet.size() < 40 || (p[0] >> 4) != 6 || p[6] != 6) return std::nullopt;  // TCP only
        l.ip_header = 40;
    } else {
        if (packet.size() < 20 || (p[0] >> 4) != 4 || p[9] != 6) return std::nullopt;
        l.ip_header = (p[0] & 0x0f) * 4u;
        if (l.ip_header < 20) return std::nullopt;
    }
    if (packet.size() < l.ip_header + 20) return std::nullopt;
    const std::size_t tcp_header = (p[l.ip_header + 12] >> 4) * 4u;
    l.headers = l.ip_header + tcp_header;
    l.mss = h.gso_size;
    if (tcp_header < 20 || packet.size() < l.headers || l.mss == 0) return std::nullopt;
    l.payload = packet.size() - l.headers;
    l.count = l.payload == 0 ? 1 : (l.payload + l.mss - 1) / l.mss;
    return l;
}

}  // namespace

std::size_t segment_count(const VnetHeader& h, ByteView packet) {
    if (packet.empty()) return 0;
    if ((h.gso_type & static_cast<std::uint8_t>(~gso_ecn)) == gso_none) return 1;
    const auto layout = tcp_layout(h, packet);
    return layout ? layout->count : 0;
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
    const auto layout = tcp_layout(h, packet);
    if (!layout) return 0;
    const bool v6 = layout->v6;
    const std::uint8_t* p = packet.data();
    const std::size_t ip_header = layout->ip_header, headers = layout->headers, mss = layout->mss,
                      payload = layout->payload, count = layout->count;
    const std::size_t tcp_header = headers - ip_header;
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

namespace {

constexpr std::uint8_t tcp_ack = 0x10;

// Where a packet's TCP header is, if it is a plain data segment that may join
// a train: IPv4 without options or fragments, or IPv6 straight to TCP; ACK
// with or without PSH; some payload.
struct Segment {
    bool v6 = false;
    std::size_t ip_header = 0, tcp_header = 0, payload = 0;
};
std::optional<Segment> data_segment(ByteView p) {
    Segment s;
    if (p.size() >= 40 && (p[0] >> 4) == 6) {
        if (p[6] != 6 || std::size_t{40} + load16(p.data() + 4) != p.size()) return std::nullopt;
        s.v6 = true;
        s.ip_header = 40;
    } else if (p.size() >= 20 && p[0] == 0x45) {
        if (p[9] != 6 || load16(p.data() + 2) != p.size() || (load16(p.data() + 6) & 0x3fff) != 0)
            return std::nullopt;
        s.ip_header = 20;
    } else {
        return std::nullopt;
    }
    if (p.size() < s.ip_header + 20) return std::nullopt;
    s.tcp_header = (p[s.ip_header + 12] >> 4) * 4u;
    const std::uint8_t flags = p[s.ip_header + 13];
    if (s.tcp_header < 20 || p.size() <= s.ip_header + s.tcp_header ||
        (flags != tcp_ack && flags != (tcp_ack | tcp_psh)))
        return std::nullopt;
    s.payload = p.size() - s.ip_header - s.tcp_header;
    return s;
}

}  // namespace

Coalescer::Coalescer() : buffer_(vnet_header_size + 65535) {}

bool Coalescer::start(ByteView p) {
    auto s = data_segment(p);
    if (!s) return false;
    std::memcpy(buffer_.data() + vnet_header_size, p.data(), p.size());
    length_ = p.size();
    v6_ = s->v6;
    ip_header_ = s->ip_header;
    headers_ = s->ip_header + s->tcp_header;
    mss_ = s->payload;
    count_ = 1;
    push_ = (p[ip_header_ + 13] & tcp_psh) != 0;
    closed_ = push_;
    next_seq_ = static_cast<std::uint32_t>(load32(p.data() + ip_header_ + 4) + s->payload);
    return true;
}

bool Coalescer::append(ByteView p) {
    if (count_ == 0 || closed_ || count_ == max_segments) return false;
    auto s = data_segment(p);
    if (!s || s->v6 != v6_ || s->ip_header + s->tcp_header != headers_ || s->payload > mss_ ||
        length_ + s->payload > buffer_.size() - vnet_header_size)
        return false;
    const std::uint8_t* first = buffer_.data() + vnet_header_size;
    // Same addresses, and for IPv4 the same TOS, DF and TTL.
    if (v6_) {
        if (std::memcmp(first + 8, p.data() + 8, 32) != 0 || std::memcmp(first, p.data(), 4) != 0)
            return false;
    } else {
        if (std::memcmp(first + 12, p.data() + 12, 8) != 0 || first[1] != p[1] ||
            first[6] != p[6] || first[8] != p[8])
            return false;
    }
    const std::uint8_t* a = first + ip_header_;
    const std::uint8_t* b = p.data() + ip_header_;
    // Same ports, the next sequence number, same ACK, window and options.
    if (std::memcmp(a, b, 4) != 0 || load32(b + 4) != next_seq_ ||
        std::memcmp(a + 8, b + 8, 4) != 0 || std::memcmp(a + 14, b + 14, 2) != 0 ||
        std::memcmp(a + 20, b + 20, headers_ - ip_header_ - 20) != 0)
        return false;
    std::memcpy(buffer_.data() + vnet_header_size + length_, p.data() + headers_, s->payload);
    length_ += s->payload;
    next_seq_ += static_cast<std::uint32_t>(s->payload);
    ++count_;
    if (s->payload < mss_ || (b[13] & tcp_psh)) {
        closed_ = true;  // a short or pushed segment ends the train
        push_ = push_ || (b[13] & tcp_psh);
    }
    return true;
}

ByteView Coalescer::finish() {
    std::uint8_t* v = buffer_.data();
    std::uint8_t* p = v + vnet_header_size;
    std::memset(v, 0, vnet_header_size);
    if (count_ > 1) {
        if (v6_) {
            store16(p + 4, static_cast<std::uint16_t>(length_ - 40));
        } else {
            store16(p + 2, static_cast<std::uint16_t>(length_));
            store16(p + 10, 0);
            store16(p + 10,
                    static_cast<std::uint16_t>(~checksum_fold(checksum_add(ByteView(p, 20)))));
        }
        std::uint8_t* tcp = p + ip_header_;
        if (push_) tcp[13] |= tcp_psh;
        // The device finishes the checksum: the field holds the pseudo-header's sum.
        const std::size_t tcp_length = length_ - ip_header_;
        std::uint32_t sum =
            v6_ ? checksum_add(ByteView(p + 8, 32)) : checksum_add(ByteView(p + 12, 8));
        sum += 6 + static_cast<std::uint32_t>(tcp_length >> 16) +
               static_cast<std::uint32_t>(tcp_length & 0xffff);
        store16(tcp + 16, checksum_fold(sum));
        const std::uint16_t fields[4] = {static_cast<std::uint16_t>(headers_),
                                         static_cast<std::uint16_t>(mss_),
                                         static_cast<std::uint16_t>(ip_header_), 16};
        v[0] = needs_csum;
        v[1] = v6_ ? gso_tcpv6 : gso_tcpv4;
        std::memcpy(v + 2, fields, sizeof fields);
    }
    const ByteView out(v, vnet_header_size + length_);
    count_ = 0;
    length_ = 0;
    closed_ = false;
    return out;
}

}  // namespace cug::dataplane
