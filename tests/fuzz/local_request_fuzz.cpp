// A request on a local socket, as cugd's control socket and cug-tun's agent
// check it before they act on any of it: the message itself, cugd's command
// check, and the agent's hand-off from cug-login.
#include "server/daemon.hpp"
#include "terminal/held_session.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto message = wire::parse_message(text, protocol::channel_limits());
    if (!message) return 0;
    (void)server::check_control_request(*message);
    auto held = terminal::parse_handoff(*message, 1'800'000'000);
    if (held) {
        // What is taken is whole: a user, a server, three 32-byte keys, groups.
        if (held->resume_key.size() != 32 || held->push_key.size() != 32 ||
            held->udp_key.size() != 32 || held->bundle.groups.empty() || held->user.empty())
            __builtin_trap();
        (void)terminal::dataplane_view(*held);
    }
    message->wipe();
    return 0;
}
