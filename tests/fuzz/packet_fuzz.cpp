// The bytes the data plane takes from outside: UDP datagrams (header, then a
// decrypted inner packet from a peer) and packets read from the TUN device.
#include "crypto/aead.hpp"
#include "dataplane/packet.hpp"

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    static auto key = crypto::Aes256Gcm::create(Bytes(32, 0x33));
    const ByteView d(data, size);
    if (auto h = dataplane::parse_header(d)) {
        if (size < dataplane::overhead) __builtin_trap();
        std::vector<std::uint8_t> plain(size - dataplane::overhead);
        const auto nonce = dataplane::nonce_for(h->counter);
        if (key->open(nonce, d.first(dataplane::header_size), d.subspan(dataplane::header_size),
                      plain))
            (void)dataplane::parse_inner(plain);
        std::uint8_t again[dataplane::header_size];
        dataplane::write_header(again, *h);
        for (std::size_t i = 0; i < dataplane::header_size; ++i)
            if (again[i] != data[i]) __builtin_trap();  // one encoding per header
    }
    if (auto inner = dataplane::parse_inner(d)) {
        if (inner->length > size || inner->source.is_v4() != inner->destination.is_v4())
            __builtin_trap();
    }
    return 0;
}
