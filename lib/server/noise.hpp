// What strangers do before they have shown a card or a session: connections
// over the startup caps, TLS handshakes that fail, logins refused before the
// card proof, resumes that do not hold. Counted per source address and
// minute, so that none of it costs a store write (an fsync) of its own, and
// written by cugd once a minute to the store's noise ring, which is bounded on
// its own: a flood of it never pushes an administrator's change, a login or a
// revocation out of the audit log.
#pragma once

#include "net/address.hpp"
#include "store/records.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace cug::server {

class NoiseLog {
  public:
    enum class Kind : unsigned {
        connection_refused,  // over the startup caps
        handshake_failed,    // TLS failed or took too long
        login_refused,       // before the card proof held (unknown user, no card, bad proof, junk)
        resume_refused,      // a session id or proof that did not hold
        count_
    };
    // At most `max_sources` addresses a minute get entries of their own; the
    // rest are counted together under "others".
    explicit NoiseLog(std::size_t max_sources = 10'000) : max_sources_(max_sources) {}

    // `user` is what the stranger claimed to be, if anything: a few of them
    // are kept per entry, valid user IDs only.
    void note(const net::Address& source, Kind kind, std::int64_t now, std::string_view user = {});
    // What was gathered, one entry per source (the minute it began in), and
    // empty afterwards.
    std::vector<store::NoiseEntry> take();
    // Since cugd started.
    std::uint64_t total(Kind kind) const { return totals_[static_cast<unsigned>(kind)]; }
    bool empty() const { return by_source_.empty() && !others_; }

  private:
    static void count(store::NoiseEntry& e, Kind kind, std::string_view user);
    std::size_t max_sources_;
    std::map<net::Address, store::NoiseEntry> by_source_;
    std::optional<store::NoiseEntry> others_;
    std::array<std::uint64_t, static_cast<unsigned>(Kind::count_)> totals_{};
};

}  // namespace cug::server
