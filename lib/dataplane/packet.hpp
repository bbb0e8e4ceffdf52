// The data plane's wire format and the checks on the bytes inside it.
//
// A data packet (docs/DATA-PLANE.md):
//   type (1) = 0x01 || key hint (1) || zero (2) || receiver index (u32be) || counter (u64be)
//   || AES-256-GCM(inner IP packet) with the 16-byte header as AAD
//   and the nonce 0^4 || u64be(counter).
// The key hint is the low byte of the group epoch's key id, so a receiver
// holding two keys for a pair (during a rotation) knows which to try first.
// Of the rest, only what has the shape of cugd's answer to the UDP hello
// (control_reply_size bytes starting "cugh", protocol/session.hpp) goes to
// the control part; anything else is dropped and counted.
#pragma once

#include "core/bytes.hpp"
#include "net/address.hpp"

#include <array>
#include <cstdint>
#include <optional>

namespace cug::dataplane {

inline constexpr std::uint8_t type_data = 0x01;
inline constexpr std::size_t control_reply_size = 78;
bool is_control_reply(ByteView datagram);
inline constexpr std::size_t header_size = 16;
inline constexpr std::size_t tag_size = 16;
inline constexpr std::size_t overhead = header_size + tag_size;
// Underlay IPv6 (40) + UDP (8) + ours (32): 1500 - 80.
inline constexpr std::size_t default_mtu = 1420;
inline constexpr std::size_t min_mtu = 1280;  // IPv6's minimum, inside
inline constexpr std::size_t max_mtu = 9000;

struct Header {
    std::uint8_t key_hint = 0;
    std::uint32_t index = 0;
    std::uint64_t counter = 0;
};

void write_header(std::uint8_t* out, const Header& h);
// The header of a datagram that could be a data packet: type 0x01, zero
// padding, and room for at least a tag after it. Nothing else is checked
// before the index lookup.
std::optional<Header> parse_header(ByteView datagram);
std::array<std::uint8_t, 12> nonce_for(std::uint64_t counter);

// The addresses of an inner IP packet (v4 or v6), once its header is sound:
// version, header length, total length within the bytes read.
struct Inner {
    net::Address source, destination;
    std::size_t length = 0;  // as the IP header says (<= the bytes read)
};
std::optional<Inner> parse_inner(ByteView packet);

}  // namespace cug::dataplane
