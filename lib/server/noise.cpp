#include "server/noise.hpp"

#include "store/names.hpp"

namespace cug::server {

namespace {
constexpr std::size_t users_kept = 4;
}

void NoiseLog::count(store::NoiseEntry& e, Kind kind, std::string_view user) {
    switch (kind) {
        case Kind::connection_refused:
            ++e.connections_refused;
            break;
        case Kind::handshake_failed:
            ++e.handshakes_failed;
            break;
        case Kind::login_refused:
            ++e.logins_refused;
            break;
        case Kind::resume_refused:
            ++e.resumes_refused;
            break;
        case Kind::count_:
            break;
    }
    if (user.empty() || !store::check_user_name(user)) return;
    std::size_t kept = e.users.empty() ? 0 : 1;
    for (std::size_t at = 0; (at = e.users.find(',', at)) != std::string::npos; ++at)
        ++kept;
    // Already there?
    for (std::size_t at = 0; at <= e.users.size();) {
        const std::size_t comma = std::min(e.users.find(',', at), e.users.size());
        if (std::string_view(e.users).substr(at, comma - at) == user) return;
        at = comma + 1;
    }
    if (kept >= users_kept) return;
    if (!e.users.empty()) e.users += ',';
    e.users += user;
}

void NoiseLog::note(const net::Address& source, Kind kind, std::int64_t now,
                    std::string_view user) {
    ++totals_[static_cast<unsigned>(kind)];
    auto found = by_source_.find(source);
    store::NoiseEntry* e = nullptr;
    if (found != by_source_.end()) {
        e = &found->second;
    } else if (by_source_.size() < max_sources_) {
        e = &by_source_[source];
        e->source = source.to_string();
    } else {
        if (!others_) others_.emplace().source = "others";
        e = &*others_;
    }
    if (e->minute == 0) e->minute = now - now % 60;
    count(*e, kind, user);
}

std::vector<store::NoiseEntry> NoiseLog::take() {
    std::vector<store::NoiseEntry> out;
    out.reserve(by_source_.size() + 1);
    for (auto& [source, e] : by_source_)
        out.push_back(std::move(e));
    if (others_) out.push_back(std::move(*others_));
    by_source_.clear();
    others_.reset();
    return out;
}

}  // namespace cug::server
