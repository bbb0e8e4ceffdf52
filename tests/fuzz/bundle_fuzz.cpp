// The session bundle a terminal decodes (after it opened under K_seal).
#include "protocol/login.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto message = wire::parse_message(text, protocol::channel_limits());
    if (!message) return 0;
    auto bundle = protocol::decode_bundle(*message);
    if (bundle) {
        // What decodes encodes back to a message that decodes alike.
        auto again = protocol::decode_bundle(protocol::encode_bundle(*bundle));
        if (!again || again->peers.size() != bundle->peers.size() ||
            again->groups.size() != bundle->groups.size() || again->names != bundle->names ||
            again->zone != bundle->zone)
            __builtin_trap();
    }
    return 0;
}
