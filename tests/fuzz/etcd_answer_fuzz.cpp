// The etcd gateway's answers (lib/store/etcd): ranges, transactions, error
// bodies and watch lines, for any bytes.
#include "store/etcd.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug::store::etcd;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto r = detail::parse_range(text); !r && r.error().message.empty()) __builtin_trap();
    if (auto t = detail::parse_txn(text); !t && t.error().message.empty()) __builtin_trap();
    if (auto w = detail::parse_watch(text); !w && w.error().message.empty()) __builtin_trap();
    if (auto e = detail::parse_error(text, 400)) {
        if (e->message.empty() || e->message.size() > 220 ||
            e->message.find('\n') != std::string::npos)
            __builtin_trap();
    } else {
        __builtin_trap();  // a 400 is always an error
    }
    if (auto b = detail::unbase64(text); b && detail::base64(*b) != text) __builtin_trap();
    return 0;
}
