#include "dataplane/packet.hpp"

#include <cstring>

namespace cug::dataplane {

namespace {

std::uint32_t load32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
void store32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 3; i >= 0; --i, v >>= 8)
        p[i] = static_cast<std::uint8_t>(v);
}
std::uint64_t load64(const std::uint8_t* p) {
    return std::uint64_t{load32(p)} << 32 | load32(p + 4);
}
void store64(std::uint8_t* p, std::uint64_t v) {
    store32(p, static_cast<std::uint32_t>(v >> 32));
    store32(p + 4, static_cast<std::uint32_t>(v));
}

}  // namespace

void write_header(std::uint8_t* out, const Header& h) {
    out[0] = type_data;
    out[1] = h.key_hint;
    out[2] = out[3] = 0;
    store32(out + 4, h.index);
    store64(out + 8, h.counter);
}

std::optional<Header> parse_header(ByteView d) {
    if (d.size() < overhead || d[0] != type_data || d[2] != 0 || d[3] != 0) return std::nullopt;
    return Header{d[1], load32(d.data() + 4), load64(d.data() + 8)};
}

bool is_control_reply(ByteView d) {
    return d.size() == control_reply_size && d[0] == 'c' && d[1] == 'u' && d[2] == 'g' &&
           d[3] == 'h';
}

std::array<std::uint8_t, 12> nonce_for(std::uint64_t counter) {
    std::array<std::uint8_t, 12> n{};
    store64(n.data() + 4, counter);
    return n;
}

std::optional<Inner> parse_inner(ByteView p) {
    if (p.empty()) return std::nullopt;
    Inner in;
    if ((p[0] >> 4) == 4) {
        if (p.size() < 20) return std::nullopt;
        const std::size_t ihl = (p[0] & 0x0f) * 4u;
        const std::size_t total = std::size_t{p[2]} << 8 | p[3];
        if (ihl < 20 || total < ihl || total > p.size()) return std::nullopt;
        in.source = *net::Address::from_bytes(p.subspan(12, 4));
        in.destination = *net::Address::from_bytes(p.subspan(16, 4));
        in.length = total;
        return in;
    }
    if ((p[0] >> 4) == 6) {
        if (p.size() < 40) return std::nullopt;
        const std::size_t total = 40 + (std::size_t{p[4]} << 8 | p[5]);
        if (total > p.size()) return std::nullopt;
        in.source = *net::Address::from_bytes(p.subspan(8, 16));
        in.destination = *net::Address::from_bytes(p.subspan(24, 16));
        in.length = total;
        return in;
    }
    return std::nullopt;
}

}  // namespace cug::dataplane
