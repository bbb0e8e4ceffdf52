#include "metrics/exposition.hpp"

#include <fmt/format.h>

#include <cmath>

namespace cug::metrics {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double seconds) {
    if (!(seconds >= 0)) seconds = 0;  // NaN and clocks that went back
    std::size_t i = 0;
    while (i < bounds_.size() && seconds > bounds_[i])
        ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e9)),
                      std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot s;
    s.upper_bounds = bounds_;
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        running += counts_[i].load(std::memory_order_relaxed);
        s.cumulative.push_back(running);
    }
    s.count = running;
    s.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
    return s;
}

namespace {

// Help text: backslash and line feed escaped. Label values: those and '"'.
void escaped(std::string& out, std::string_view text, bool quote) {
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (quote && c == '"')
            out += "\\\"";
        else
            out += c;
    }
}

std::string number(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", value);
}

}  // namespace

void Exposition::family(std::string_view name, Type type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    escaped(text_, help, false);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += type == Type::counter ? " counter\n"
             : type == Type::gauge ? " gauge\n"
                                   : " histogram\n";
}

void Exposition::labels(const Labels& labels, std::string_view le) {
    if (labels.empty() && le.empty()) return;
    text_ += '{';
    bool first = true;
    for (const auto& [name, value] : labels) {
        if (!first) text_ += ',';
        first = false;
        text_ += name;
        text_ += "=\"";
        escaped(text_, value, true);
        text_ += '"';
    }
    if (!le.empty()) {
        if (!first) text_ += ',';
        text_ += "le=\"";
        text_ += le;
        text_ += '"';
    }
    text_ += '}';
}

void Exposition::sample(std::string_view name, const Labels& l, std::uint64_t value) {
    text_ += name;
    labels(l);
    text_ += fmt::format(" {}\n", value);
}

void Exposition::sample(std::string_view name, const Labels& l, double value) {
    text_ += name;
    labels(l);
    text_ += ' ';
    text_ += number(value);
    text_ += '\n';
}

void Exposition::histogram(std::string_view name, const Labels& l, const Histogram::Snapshot& h) {
    const std::string bucket = std::string(name) + "_bucket";
    for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
        text_ += bucket;
        labels(l, i < h.upper_bounds.size() ? number(h.upper_bounds[i]) : "+Inf");
        text_ += fmt::format(" {}\n", h.cumulative[i]);
    }
    sample(std::string(name) + "_sum", l, h.sum);
    sample(std::string(name) + "_count", l, h.count);
}

}  // namespace cug::metrics
