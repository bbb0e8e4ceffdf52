// The store's seal key (lib/store/seal_key): its file's text, and sealed
// values as they come back from a store, for any bytes.
#include "store/seal_key.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    static const store::SealKey key = store::SealKey::generate();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)store::SealKey::parse(text);
    // Nothing forged opens.
    if (key.open(cug::ByteView(data, size), "users/USER-A").ok()) __builtin_trap();
    return 0;
}
