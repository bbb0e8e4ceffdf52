// The anti-replay window against a plain model: a set of every counter taken.
// Input: a mode byte (odd: the window starts as for a key held before, with
// every counter below a 3-byte start taken), then a sequence of 3-byte steps
// (a signed jump from the highest counter).
#include "dataplane/replay.hpp"

#include <cstdint>
#include <set>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using cug::dataplane::ReplayWindow;
    if (size < 1) return 0;
    std::uint64_t start = 0;  // everything below it is taken
    std::size_t i = 1;
    if (data[0] & 1) {
        if (size < 4) return 0;
        start = static_cast<std::uint64_t>(data[1]) << 16 | data[2] << 8 | data[3];
        i = 4;
    }
    ReplayWindow w = start ? ReplayWindow::refusing_below(start) : ReplayWindow();
    if (w.top() != start) __builtin_trap();
    std::set<std::uint64_t> taken;
    std::uint64_t top = start;  // highest taken + 1
    for (; i + 3 <= size; i += 3) {
        const auto step =
            static_cast<std::int32_t>(data[i] << 16 | data[i + 1] << 8 | data[i + 2]) - (1 << 23);
        const std::int64_t c = static_cast<std::int64_t>(top) + step / 256;
        if (c < 0) continue;
        const auto counter = static_cast<std::uint64_t>(c);
        const bool fresh = counter >= start && !taken.count(counter) &&
                           (counter >= top || top - counter <= ReplayWindow::window);
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
