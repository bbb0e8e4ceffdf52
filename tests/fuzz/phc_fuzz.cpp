// Password hashes are read back from the store, which may be damaged.
#include "crypto/password.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug::crypto;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto params = phc_params(text)) {
        // Anything accepted is within the bounds that keep Argon2 affordable.
        if (params->parallelism < 1 || params->parallelism > 16 || params->iterations > 64 ||
            params->memory_kib > 4194304)
            __builtin_trap();
        (void)needs_rehash(text, Argon2Params{});
    }
    if (auto params = Argon2Params::parse(text)) {
        if (params->to_string() != text) __builtin_trap();
    }
    return 0;
}
