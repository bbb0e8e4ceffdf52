// IPv4 and IPv6 addresses, prefixes and endpoints: parsed strictly, printed in
// their canonical forms (RFC 5952 for IPv6).
#pragma once

#include "core/bytes.hpp"
#include "core/result.hpp"

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cug::net {

class Address {
  public:
    Address() = default;  // 0.0.0.0
    // Dotted quad or RFC 4291 text; no brackets, zone ids or prefix lengths.
    static std::optional<Address> parse(std::string_view text);
    // 4 bytes (IPv4) or 16 (IPv6).
    static std::optional<Address> from_bytes(ByteView bytes);

    // 16 bytes where an IPv4 address is IPv4-mapped (::ffff:a.b.c.d), as an
    // IPv6 socket or a fixed-size wire field holds it, and back.
    std::array<std::uint8_t, 16> to_v6_bytes() const;
    static Address from_v6_bytes(ByteView sixteen);  // precondition: 16 bytes

    int family() const;  // AF_INET or AF_INET6
    bool is_v4() const { return size_ == 4; }
    ByteView bytes() const { return ByteView(bytes_.data(), size_); }
    std::string to_string() const;

    bool operator==(const Address& other) const;
    // IPv4 before IPv6, then byte order.
    std::strong_ordering operator<=>(const Address& other) const;

  private:
    std::array<std::uint8_t, 16> bytes_{};
    std::uint8_t size_ = 4;
};

struct Prefix {
    Address network;
    unsigned length = 0;

    // "10.0.0.0/24", "fd00::/64"; host bits must be zero.
    static Result<Prefix> parse(std::string_view cidr);
    unsigned bits() const { return network.is_v4() ? 32 : 128; }
    unsigned host_bits() const { return bits() - length; }
    bool contains(const Address& address) const;
    bool overlaps(const Prefix& other) const;
    // network + offset; nullopt when the offset is past the prefix.
    std::optional<Address> at(unsigned __int128 offset) const;
    // Precondition: contains(address).
    unsigned __int128 offset_of(const Address& address) const;
    std::string to_string() const;
    bool operator==(const Prefix&) const = default;
};

struct Endpoint {
    Address address;
    std::uint16_t port = 0;

    // "192.0.2.1:51820" or "[fd00::1]:51820"; port 1-65535; no names.
    static Result<Endpoint> parse(std::string_view text);
    std::string to_string() const;
    bool operator==(const Endpoint& other) const {
        return port == other.port && address == other.address;
    }
};

// Socket addresses (sockaddr_in / sockaddr_in6 in a sockaddr_storage, passed
// as void* to keep <sys/socket.h> out of this header). An IPv4-mapped IPv6
// address comes back as IPv4; `mapped` writes IPv4 as IPv4-mapped IPv6, for
// sending from a dual-stack IPv6 socket.
Endpoint endpoint_from_sockaddr(const void* sockaddr_storage_ptr);
unsigned to_sockaddr(const Endpoint& endpoint, void* sockaddr_storage_ptr, bool mapped = false);

}  // namespace cug::net
