// cug-tun's metrics (man/cug-tun.8, METRICS), from the data plane's counters:
// traffic per group each way, per peer (by the peer's overlay address in the
// group, never its user ID), how long since each peer was last heard from
// and last sent to, and every drop by its reason.
#pragma once

#include "dataplane/dataplane.hpp"

#include <cstdint>
#include <string>

namespace cug::terminal {

// The text for /metrics; `now` in unix seconds.
std::string render_metrics(const dataplane::Stats& stats, std::int64_t now);

}  // namespace cug::terminal
