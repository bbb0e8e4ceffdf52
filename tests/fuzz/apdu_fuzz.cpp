// APDUs and BER-TLV: what a card answers (and, in the virtual card, what a host sends).
#include "card/apdu.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    const ByteView input(data, size);
    if (auto c = card::parse_command(input)) {
        if (card::encode(*c) != Bytes(input.begin(), input.end())) {
            // Le=00 and an absent Le differ; anything else must round-trip.
            if (!(c->le == 256 && size > 4 && data[size - 1] == 0)) __builtin_trap();
        }
    }
    if (auto r = card::parse_response(input)) {
        if (card::encode_response(*r) != Bytes(input.begin(), input.end())) __builtin_trap();
    }
    if (auto tlvs = card::parse_tlvs(input)) {
        Bytes again;
        for (const auto& t : *tlvs)
            card::append_tlv(again, t.tag, t.value);
        if (again.size() > size) __builtin_trap();  // canonical lengths are never longer
        for (const auto& t : *tlvs)
            (void)card::find_tlv(t.value, 0x86);
    }
    return 0;
}
