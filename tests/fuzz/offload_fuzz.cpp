// What the TUN device hands over with offloads on: a virtio-net header and a
// packet, which cug-tun cuts into packets of the MTU.
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
    const std::size_t n = segment(h, cug::ByteView(data + vnet_header_size, size - vnet_header_size),
                                  out.data(), stride, lengths);
    for (std::size_t i = 0; i < n; ++i) {
        if (lengths[i] > stride) __builtin_trap();
        (void)parse_inner(cug::ByteView(out.data() + i * stride, lengths[i]));
    }
    return 0;
}
