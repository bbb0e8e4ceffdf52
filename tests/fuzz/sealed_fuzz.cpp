// Sealed messages arrive from the network (bundles) and the store.
#include "crypto/seal.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    static const crypto::PrivateKey key = [] {
        // A fixed key so a corpus entry sealed to it stays meaningful.
        auto der = from_hex(
            "3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420"
            "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433");
        return std::move(*crypto::PrivateKey::from_der(*der));
    }();
    auto opened = crypto::open_sealed(key, as_bytes("fuzz"), ByteView(data, size));
    if (opened && opened->size() + 65 + 16 != size) __builtin_trap();
    return 0;
}
