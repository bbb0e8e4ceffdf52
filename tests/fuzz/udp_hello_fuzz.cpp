// Datagrams on cugd's UDP port (hellos) and on the terminal's (replies).
#include "protocol/session.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    static const Bytes key(32, 0x5a), session(16, 0x42);
    const ByteView d(data, size);
    if (auto hello = protocol::parse_udp_hello(d)) {
        if (hello->session.size() != protocol::session_id_size) __builtin_trap();
        (void)protocol::check_udp_hello(key, *hello);
    }
    (void)protocol::open_udp_reply(key, session, 1, d);
    return 0;
}
