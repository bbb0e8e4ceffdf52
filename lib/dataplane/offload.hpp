// Segmentation offload on the TUN device (docs/DATA-PLANE.md, "Offloads"):
// with IFF_VNET_HDR and TSO on, the kernel hands cug-tun TCP "super-packets"
// of up to 64 KiB with a virtio-net header in front, and packets whose
// checksum is still to be finished. cug-tun cuts them into packets of the
// MTU itself — exactly what the NIC would have done — before sealing each.
#pragma once

#include "core/bytes.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace cug::dataplane {

// struct virtio_net_hdr, in the host's byte order (TUN's default).
inline constexpr std::size_t vnet_header_size = 10;
struct VnetHeader {
    std::uint8_t flags = 0;     // 1: needs checksum
    std::uint8_t gso_type = 0;  // 0 none, 1 TCPv4, 4 TCPv6 (0x80: ECN)
    std::uint16_t hdr_len = 0, gso_size = 0, csum_start = 0, csum_offset = 0;
};
VnetHeader read_vnet_header(const std::uint8_t* p);

// Cuts `packet` (after its virtio header) into IP packets of at most
// `gso_size` payload each, written at out + i * stride, with their lengths in
// lengths[i]; every checksum complete. A packet without GSO comes out as
// itself (its checksum finished if the header asks). Returns how many, or 0
// when the header and the packet disagree (the packet is dropped), or when
// more than `max` would come out.
std::size_t segment(const VnetHeader& header, ByteView packet, std::uint8_t* out,
                    std::size_t stride, std::span<std::size_t> lengths);
// How many packets segment() would make of `packet`, 0 when it would refuse
// the headers.
std::size_t segment_count(const VnetHeader& header, ByteView packet);

// At most this many segments per super-packet: cug-tun sets the device's
// gso_max_segs to it, so that a peer announcing a tiny MSS cannot make the
// kernel hand over a thousand segments at once (a batch has room for 256).
inline constexpr unsigned max_tso_segments = 64;

// The other way (GRO): in-order TCP segments of one flow, as they come out
// of a batch of datagrams, joined into one super-packet for one write to the
// device with a virtio header, as a NIC's receive offload would. Only plain
// data segments join (ACK, with PSH on the last); anything else is written
// alone.
class Coalescer {
  public:
    static constexpr std::size_t max_segments = 64;
    Coalescer();
    bool empty() const { return count_ == 0; }
    // Takes `packet` as the first of a train; false when it cannot start one
    // (write it alone).
    bool start(ByteView packet);
    // Adds `packet` to the train if it continues it.
    bool append(ByteView packet);
    // The train as one write (virtio header first); empties it.
    ByteView finish();

  private:
    std::vector<std::uint8_t> buffer_;  // virtio header, headers, payloads
    std::size_t length_ = 0;            // bytes in buffer_ after the virtio header
    std::size_t ip_header_ = 0, headers_ = 0, mss_ = 0, count_ = 0;
    std::uint32_t next_seq_ = 0;
    bool v6_ = false, closed_ = false, push_ = false;
};

// The Internet checksum (RFC 1071) of bytes, folded, not inverted; `sum`
// carries a partial sum in.
std::uint32_t checksum_add(ByteView bytes, std::uint32_t sum = 0);
std::uint16_t checksum_fold(std::uint32_t sum);

}  // namespace cug::dataplane
