// The key=value codec reads every message a cug program receives.
#include "wire/kv.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const wire::Limits limits{256, 200, 16, 4096};
    auto message = wire::parse_message(text, limits);
    if (message) {
        // What parses encodes back to the same bytes and parses again alike.
        const std::string again = message->encode();
        if (again != text) __builtin_trap();
        auto reparsed = wire::parse_message(again, limits);
        if (!reparsed || reparsed->size() != message->size()) __builtin_trap();
    }
    // The same bytes through the stream decoder, in chunks sized by the input.
    wire::Decoder decoder(limits);
    std::size_t pos = 0, step = size ? data[0] % 7 + 1 : 1, parsed = 0;
    while (pos < size) {
        const std::size_t n = std::min(step, size - pos);
        if (!decoder.feed(ByteView(data + pos, n))) break;
        pos += n;
        for (;;) {
            auto next = decoder.next();
            if (!next || !*next) break;
            ++parsed;
        }
    }
    if (message && parsed != 1) __builtin_trap();
    return 0;
}
