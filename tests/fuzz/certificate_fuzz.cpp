// Certificates come from cards (the user's and the pinned server's).
#include "crypto/x509.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    auto cert = crypto::Certificate::from_der(ByteView(data, size));
    if (!cert) return 0;
    (void)cert->subject_cn();
    (void)cert->issuer_cn();
    (void)cert->public_key();
    (void)cert->serial_hex();
    (void)cert->not_before();
    (void)cert->not_after();
    (void)cert->fingerprint();
    (void)cert->issued_by(*cert);
    if (cert->to_der() != Bytes(data, data + size)) __builtin_trap();
    return 0;
}
