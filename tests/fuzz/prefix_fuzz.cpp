// Addresses, prefixes and endpoints typed by administrators or received.
#include "net/address.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug::net;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto a = Address::parse(text)) {
        auto again = Address::parse(a->to_string());
        if (!again || !(*again == *a)) __builtin_trap();
    }
    if (auto p = Prefix::parse(text)) {
        auto again = Prefix::parse(p->to_string());
        if (!again || !(again->network == p->network) || again->length != p->length)
            __builtin_trap();
        if (!p->contains(p->network) || !p->overlaps(*p)) __builtin_trap();
        if (auto last = p->at(p->host_bits() >= 128
                                  ? ~static_cast<unsigned __int128>(0)
                                  : (static_cast<unsigned __int128>(1) << p->host_bits()) - 1)) {
            if (!p->contains(*last)) __builtin_trap();
        } else {
            __builtin_trap();
        }
    }
    if (auto e = Endpoint::parse(text)) {
        auto again = Endpoint::parse(e->to_string());
        if (!again || again->port != e->port || !(again->address == e->address)) __builtin_trap();
    }
    return 0;
}
