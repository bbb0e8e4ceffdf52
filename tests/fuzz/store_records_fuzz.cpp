// The store's record decoders read bytes that may have been damaged on disk.
#include "store/records.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    if (size == 0) return 0;
    // The first byte picks the decoder; the rest is the value.
    const ByteView value(data + 1, size - 1);
    switch (data[0] % 6) {
        case 0:
            if (auto u = store::decode_user("fuzz", value)) {
                auto again = store::decode_user("fuzz", store::encode_user(*u));
                if (!again || again->password_hash != u->password_hash) __builtin_trap();
            }
            break;
        case 1:
            if (auto g = store::decode_group("fuzz", value)) {
                auto again = store::decode_group("fuzz", store::encode_group(*g));
                if (!again || !(again->prefix.network == g->prefix.network)) __builtin_trap();
            }
            break;
        case 2:
            if (auto m = store::decode_membership("u", "g", value)) {
                auto again = store::decode_membership("u", "g", store::encode_membership(*m));
                if (!again || !(again->address == m->address)) __builtin_trap();
            }
            break;
        case 3:
            if (auto a = store::decode_audit(1, value)) {
                if (store::encode_audit(*a) != Bytes(value.begin(), value.end())) __builtin_trap();
            }
            break;
        case 4:
            if (auto s = store::decode_session("fuzz", value)) {
                auto again = store::decode_session("fuzz", store::encode_session(*s));
                if (!again || again->id != s->id || again->indices != s->indices) __builtin_trap();
            }
            break;
        case 5:
            if (auto n = store::decode_noise(1, value)) {
                if (store::encode_noise(*n) != Bytes(value.begin(), value.end())) __builtin_trap();
            }
            break;
    }
    return 0;
}
