#include "dataplane/replay.hpp"

namespace cug::dataplane {

ReplayWindow ReplayWindow::refusing_below(std::uint64_t top) {
    ReplayWindow w;
    w.top_ = top;
    if (top == 0) return w;
    // Every bit below the top is set; the bits of the top's word from the
    // top on stay clear, as update() keeps them (the words beyond it are
    // cleared when the top moves into them).
    w.bits_.fill(~std::uint64_t{0});
    w.bits_[(top / 64) % words] &= (std::uint64_t{1} << (top % 64)) - 1;
    return w;
}

bool ReplayWindow::check(std::uint64_t counter) const {
    if (counter >= top_) return true;
    if (top_ - counter > window) return false;
    const std::uint64_t word = (counter / 64) % words;
    return !(bits_[word] >> (counter % 64) & 1u);
}

bool ReplayWindow::update(std::uint64_t counter) {
    if (!check(counter)) return false;
    if (counter >= top_) {
        // Clear the words between the old top and the new one.
        const std::uint64_t old_word = top_ == 0 ? 0 : (top_ - 1) / 64 + 1;
        const std::uint64_t new_word = counter / 64;
        if (top_ == 0 || (new_word >= old_word && new_word - old_word + 1 >= words))
            bits_.fill(0);
        else
            for (std::uint64_t w = old_word; w <= new_word; ++w)
                bits_[w % words] = 0;
        top_ = counter + 1;
    }
    bits_[(counter / 64) % words] |= std::uint64_t{1} << (counter % 64);
    return true;
}

}  // namespace cug::dataplane
