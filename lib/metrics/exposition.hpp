// Prometheus' text exposition format, version 0.0.4: families of counters
// (names ending in _total), gauges and histograms, in base units (seconds,
// bytes). A daemon builds the whole text at each scrape from its atomics;
// nothing here takes a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cug::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Durations in seconds into fixed buckets. observe() may run on any thread;
// a snapshot taken while others observe is off by at most those few.
class Histogram {
  public:
    explicit Histogram(std::vector<double> upper_bounds);
    void observe(double seconds);

    struct Snapshot {
        std::vector<double> upper_bounds;
        std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
        std::uint64_t count = 0;
        double sum = 0;
    };
    Snapshot snapshot() const;

  private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1
    std::atomic<std::uint64_t> sum_ns_{0};
};

class Exposition {
  public:
    enum class Type { counter, gauge, histogram };

    // "# HELP" and "# TYPE" of a family; its samples follow.
    void family(std::string_view name, Type type, std::string_view help);
    void sample(std::string_view name, const Labels& labels, std::uint64_t value);
    void sample(std::string_view name, const Labels& labels, double value);
    void sample(std::string_view name, std::uint64_t value) { sample(name, Labels{}, value); }
    void sample(std::string_view name, double value) { sample(name, Labels{}, value); }
    // _bucket (cumulative, with le), _sum and _count of one histogram.
    void histogram(std::string_view name, const Labels& labels, const Histogram::Snapshot& h);

    const std::string& text() const { return text_; }

  private:
    void labels(const Labels& labels, std::string_view le = {});
    std::string text_;
};

// The media type of the text above, for Content-Type.
inline constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace cug::metrics
