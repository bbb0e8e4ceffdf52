// A push from cugd, as the terminal decodes it after opening it.
#include "protocol/session.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    static const std::vector<protocol::BundleGroup> groups = {
        {"VPN1", *net::Prefix::parse("10.0.0.0/24"), *net::Address::parse("10.0.0.1"), 3},
        {"VPN6", *net::Prefix::parse("fd00::/64"), *net::Address::parse("fd00::1"), 4}};
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto message = wire::parse_message(text, protocol::channel_limits());
    if (!message) return 0;
    auto push = protocol::decode_push(*message, groups);
    if (push && push->kind == protocol::Push::Kind::peer_up) {
        // What decodes encodes back to a push that decodes alike.
        auto again = protocol::decode_push(protocol::encode_peer_up(push->peers), groups);
        if (!again || again->peers.size() != push->peers.size()) __builtin_trap();
    }
    if (push && push->kind == protocol::Push::Kind::names) {
        auto again = protocol::decode_push(
            protocol::encode_names(push->group, push->names, push->gone), groups);
        if (!again || again->names != push->names || again->gone != push->gone) __builtin_trap();
    }
    return 0;
}
