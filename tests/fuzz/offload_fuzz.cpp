// What the TUN device hands over with offloads on: a virtio-net header and a
// packet, which cug-tun cuts into packets of the MTU; and the joining of
// decrypted packets into one write (GRO).
#include "dataplane/offload.hpp"
#include "dataplane/packet.hpp"

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug::dataplane;
    if (size < vnet_header_size) return 0;
    const VnetHeader h = read_vnet_header(data);
    constexpr std::size_t stride = 1500, slots = 48;
    static std::vector<std::uint8_t> out(stride * slots);
    std::size_t lengths[slots];
    const std::size_t n =
        segment(h, cug::ByteView(data + vnet_header_size, size - vnet_header_size), out.data(),
                stride, lengths);
    // And back (the receiving side): whatever comes out must join sanely.
    static Coalescer train;
    std::size_t joined = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (lengths[i] > stride) __builtin_trap();
        const cug::ByteView segment_bytes(out.data() + i * stride, lengths[i]);
        (void)parse_inner(segment_bytes);
        if (!train.empty() && train.append(segment_bytes)) continue;
        if (!train.empty()) joined += train.finish().size();
        (void)train.start(segment_bytes);
    }
    if (!train.empty()) joined += train.finish().size();
    if (joined > n * (stride + vnet_header_size)) __builtin_trap();
    // The raw bytes offered to the joiner as they are (a peer's packets).
    Coalescer fresh;
    if (fresh.start(cug::ByteView(data, size)) && fresh.append(cug::ByteView(data, size))) {
        if (fresh.finish().size() > 65535 + vnet_header_size) __builtin_trap();
    }
    return 0;
}
