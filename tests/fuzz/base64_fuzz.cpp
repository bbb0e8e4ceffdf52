// base64url decoding of binary values in key=value messages.
#include "wire/base64.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto bytes = wire::base64url_decode(text)) {
        if (wire::base64url_encode(*bytes) != text) __builtin_trap();  // one spelling only
    }
    // And every byte string encodes to something that decodes back.
    auto back = wire::base64url_decode(wire::base64url_encode(ByteView(data, size)));
    if (!back || *back != Bytes(data, data + size)) __builtin_trap();
    return 0;
}
