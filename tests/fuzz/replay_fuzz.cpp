// The anti-replay window against a plain model: a set of every counter taken.
// Input: a sequence of 3-byte steps (a signed jump from the highest counter).
#include "dataplane/replay.hpp"

#include <cstdint>
#include <set>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using cug::dataplane::ReplayWindow;
    ReplayWindow w;
    std::set<std::uint64_t> taken;
    std::uint64_t top = 0;  // highest taken + 1
    for (std::size_t i = 0; i + 3 <= size; i += 3) {
        const auto step =
            static_cast<std::int32_t>(data[i] << 16 | data[i + 1] << 8 | data[i + 2]) - (1 << 23);
        const std::int64_t c = static_cast<std::int64_t>(top) + step / 256;
        if (c < 0) continue;
        const auto counter = static_cast<std::uint64_t>(c);
        const bool fresh =
            !taken.count(counter) && (counter >= top || top - counter <= ReplayWindow::window);
        if (w.check(counter) != fresh) __builtin_trap();
        if (w.update(counter) != fresh) __builtin_trap();
        if (fresh) {
            taken.insert(counter);
            top = std::max(top, counter + 1);
        }
        if (w.check(counter)) __builtin_trap();  // never twice
    }
    return 0;
}
