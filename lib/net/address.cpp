#include "net/address.hpp"

#include "wire/text.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace cug::net {

namespace {

using u128 = unsigned __int128;

u128 to_number(const Address& a) {
    u128 n = 0;
    for (std::uint8_t b : a.bytes())
        n = n << 8 | b;
    return n;
}

Address from_number(u128 n, bool v4) {
    std::array<std::uint8_t, 16> b{};
    const std::size_t size = v4 ? 4 : 16;
    for (std::size_t i = size; i-- > 0;) {
        b[i] = static_cast<std::uint8_t>(n);
        n >>= 8;
    }
    return *Address::from_bytes(ByteView(b.data(), size));
}

// The mask of the first `length` bits of a `bits`-bit number.
u128 network_mask(unsigned length, unsigned bits) {
    if (length == 0) return 0;
    const u128 all = bits == 128 ? ~u128{0} : (u128{1} << bits) - 1;
    return all & ~((u128{1} << (bits - length)) - 1) & all;
}

// Decimal without sign or leading zeros.
bool parse_decimal(std::string_view s, unsigned long max, unsigned long& out) {
    if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    std::from_chars(s.data(), s.data() + s.size(), out);
    return out <= max;
}

}  // namespace

std::optional<Address> Address::parse(std::string_view text) {
    if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN + 1];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    Address a;
    if (inet_pton(AF_INET, buf, a.bytes_.data()) == 1) {
        a.size_ = 4;
        return a;
    }
    if (inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
        a.size_ = 16;
        return a;
    }
    return std::nullopt;
}

std::array<std::uint8_t, 16> Address::to_v6_bytes() const {
    if (!is_v4()) return bytes_;
    std::array<std::uint8_t, 16> out{};
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, bytes_.data(), 4);
    return out;
}

Address Address::from_v6_bytes(ByteView b) {
    static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b.data(), mapped, 12) == 0 ? *from_bytes(b.subspan(12, 4))
                                                  : *from_bytes(b.first(16));
}

Endpoint endpoint_from_sockaddr(const void* p) {
    const auto* ss = static_cast<const sockaddr_storage*>(p);
    Endpoint e;
    if (ss->ss_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(ss);
        e.address = *Address::from_bytes(
            ByteView(reinterpret_cast<const std::uint8_t*>(&sin->sin_addr), 4));
        e.port = ntohs(sin->sin_port);
    } else {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ss);
        e.address = Address::from_v6_bytes(
            ByteView(reinterpret_cast<const std::uint8_t*>(&sin6->sin6_addr), 16));
        e.port = ntohs(sin6->sin6_port);
    }
    return e;
}

unsigned to_sockaddr(const Endpoint& e, void* p, bool mapped) {
    auto* ss = static_cast<sockaddr_storage*>(p);
    *ss = {};
    if (e.address.is_v4() && !mapped) {
        auto* sin = reinterpret_cast<sockaddr_in*>(ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(e.port);
        std::memcpy(&sin->sin_addr, e.address.bytes().data(), 4);
        return sizeof *sin;
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(e.port);
    const auto sixteen = e.address.to_v6_bytes();
    std::memcpy(&sin6->sin6_addr, sixteen.data(), 16);
    return sizeof *sin6;
}

std::optional<Address> Address::from_bytes(ByteView bytes) {
    if (bytes.size() != 4 && bytes.size() != 16) return std::nullopt;
    Address a;
    std::memcpy(a.bytes_.data(), bytes.data(), bytes.size());
    a.size_ = static_cast<std::uint8_t>(bytes.size());
    return a;
}

int Address::family() const {
    return is_v4() ? AF_INET : AF_INET6;
}

std::string Address::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(family(), bytes_.data(), buf, sizeof buf)) return "?";
    return buf;
}

bool Address::operator==(const Address& other) const {
    return size_ == other.size_ && std::memcmp(bytes_.data(), other.bytes_.data(), size_) == 0;
}

std::strong_ordering Address::operator<=>(const Address& other) const {
    if (size_ != other.size_) return size_ <=> other.size_;
    const int c = std::memcmp(bytes_.data(), other.bytes_.data(), size_);
    return c < 0   ? std::strong_ordering::less
           : c > 0 ? std::strong_ordering::greater
                   : std::strong_ordering::equal;
}

Result<Prefix> Prefix::parse(std::string_view cidr) {
    const std::size_t slash = cidr.find('/');
    auto not_prefix = [&] {
        return make_error(Errc::invalid, "{} is not an address/length prefix",
                          wire::quote_for_message(cidr));
    };
    if (slash == std::string_view::npos) return not_prefix();
    auto address = Address::parse(cidr.substr(0, slash));
    unsigned long length = 0;
    if (!address || !parse_decimal(cidr.substr(slash + 1), 99999, length)) return not_prefix();
    Prefix p{*address, 0};
    if (length > p.bits())
        return make_error(Errc::invalid, "prefix length {} is out of range for {}", length,
                          address->is_v4() ? "IPv4" : "IPv6");
    p.length = static_cast<unsigned>(length);
    const u128 n = to_number(*address);
    const u128 masked = n & network_mask(p.length, p.bits());
    if (masked != n) {
        Prefix fixed{from_number(masked, address->is_v4()), p.length};
        return make_error(Errc::invalid, "{} has host bits set (did you mean {}?)",
                          wire::quote_for_message(cidr), fixed.to_string());
    }
    return p;
}

bool Prefix::contains(const Address& address) const {
    if (address.is_v4() != network.is_v4()) return false;
    return (to_number(address) & network_mask(length, bits())) == to_number(network);
}

bool Prefix::overlaps(const Prefix& other) const {
    if (network.is_v4() != other.network.is_v4()) return false;
    // Two prefixes overlap exactly when the shorter one contains the other's network.
    return length <= other.length ? contains(other.network) : other.contains(network);
}

std::optional<Address> Prefix::at(u128 offset) const {
    const unsigned h = host_bits();
    if (h < 128 && (offset >> h) != 0) return std::nullopt;
    return from_number(to_number(network) + offset, network.is_v4());
}

u128 Prefix::offset_of(const Address& address) const {
    return to_number(address) - to_number(network);
}

std::string Prefix::to_string() const {
    return network.to_string() + "/" + std::to_string(length);
}

Result<Endpoint> Endpoint::parse(std::string_view text) {
    auto bad = [&] {
        return make_error(Errc::invalid, "{} is not an ADDRESS:PORT endpoint",
                          wire::quote_for_message(text));
    };
    std::string_view host, port;
    if (!text.empty() && text[0] == '[') {
        const std::size_t close = text.find("]:");
        if (close == std::string_view::npos) return bad();
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        auto a = Address::parse(host);
        if (!a || a->is_v4()) return bad();
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return bad();
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        auto a = Address::parse(host);
        if (!a || !a->is_v4()) return bad();
    }
    unsigned long number = 0;
    if (!parse_decimal(port, 65535, number) || number == 0) return bad();
    return Endpoint{*Address::parse(host), static_cast<std::uint16_t>(number)};
}

std::string Endpoint::to_string() const {
    if (address.is_v4()) return address.to_string() + ":" + std::to_string(port);
    return "[" + address.to_string() + "]:" + std::to_string(port);
}

}  // namespace cug::net
