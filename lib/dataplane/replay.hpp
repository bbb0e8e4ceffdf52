// The anti-replay window of one receiving direction key (RFC 6479's bitmap,
// as WireGuard uses it): counters among the last `window` (the highest taken
// included) are accepted once each; older ones are refused. check() is read-only and comes
// before the tag check; update() only after the tag has verified, so forged
// packets cannot slide the window.
#pragma once

#include <array>
#include <cstdint>

namespace cug::dataplane {

class ReplayWindow {
  public:
    static constexpr std::uint64_t window = 8192;

    // A window for a key that was held before: every counter below `top`
    // counts as taken.
    static ReplayWindow refusing_below(std::uint64_t top);
    // The highest counter taken + 1 (0: none yet).
    std::uint64_t top() const { return top_; }

    bool check(std::uint64_t counter) const;
    // False if the counter was taken meanwhile (or is too old).
    bool update(std::uint64_t counter);

  private:
    static constexpr std::size_t words = (window + 64) / 64;  // one spare word to slide into
    std::array<std::uint64_t, words> bits_{};
    std::uint64_t top_ = 0;  // highest counter taken + 1 (0: none yet)
};

}  // namespace cug::dataplane
