#include "server/metrics.hpp"

namespace cug::server {

namespace {

using Type = metrics::Exposition::Type;

constexpr const char* login_names[] = {"ok",       "failed",    "disabled", "locked",
                                       "password", "no_groups", "timed_out"};
constexpr const char* ended_names[] = {"logout",  "absent",  "kicked",
                                       "expired", "revoked", "replaced"};
constexpr const char* refused_names[] = {"full", "startups", "per_source"};
constexpr const char* push_names[] = {"sync",     "peer_up",   "peer_down", "group_down",
                                      "endpoint", "peer_away", "peer_back", "rekey",
                                      "activate", "names",     "other"};
static_assert(std::size(login_names) == static_cast<std::size_t>(ServerMetrics::Login::count_));
static_assert(std::size(ended_names) == static_cast<std::size_t>(ServerMetrics::Ended::count_));
static_assert(std::size(refused_names) == static_cast<std::size_t>(ServerMetrics::Refused::count_));
static_assert(std::size(push_names) == static_cast<std::size_t>(ServerMetrics::Push::count_));

std::uint64_t get(const std::atomic<std::uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
}

template <class Counts, std::size_t N>
void by_label(metrics::Exposition& e, const char* name, const char* label, const Counts& counts,
              const char* const (&names)[N]) {
    for (std::size_t i = 0; i < N; ++i)
        e.sample(name, {{label, names[i]}}, get(counts[i]));
}

// Underscores for the protocol's hyphens: "no-groups" is no_groups.
std::string snake(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c == '-') c = '_';
    return out;
}

}  // namespace

void ServerMetrics::login_refused(std::string_view reason) {
    const std::string name = snake(reason);
    for (std::size_t i = 0; i < std::size(login_names); ++i)
        if (name == login_names[i] && i != static_cast<std::size_t>(Login::ok))
            return add(logins, static_cast<Login>(i));
    add(logins, Login::failed);
}

std::string_view ServerMetrics::name(Refused why) {
    return refused_names[static_cast<std::size_t>(why)];
}

std::string_view ServerMetrics::name(Ended why) {
    return ended_names[static_cast<std::size_t>(why)];
}

void ServerMetrics::pushed(std::string_view type) {
    const std::string name = snake(type);
    for (std::size_t i = 0; i < std::size(push_names); ++i)
        if (name == push_names[i]) return add(pushes, static_cast<Push>(i));
    add(pushes, Push::other);
}

std::string ServerMetrics::render() const {
    metrics::Exposition e;
    e.family("cug_start_time_seconds", Type::gauge, "When cugd started, in Unix seconds.");
    e.sample("cug_start_time_seconds",
             static_cast<double>(start_time.load(std::memory_order_relaxed)));

    e.family("cug_logins_total", Type::counter,
             "Logins by result: ok, a refusal's reason, or timed_out (the deadline passed).");
    by_label(e, "cug_logins_total", "result", logins, login_names);
    e.family("cug_resumes_total", Type::counter, "Session resumes by result.");
    e.sample("cug_resumes_total", {{"result", "ok"}}, get(resumes));
    e.sample("cug_resumes_total", {{"result", "refused"}}, get(resumes_refused));

    e.family("cug_sessions", Type::gauge, "Registered sessions.");
    e.sample("cug_sessions", get(sessions));
    e.family("cug_sessions_connected", Type::gauge, "Sessions whose terminal holds a channel.");
    e.sample("cug_sessions_connected", get(sessions_connected));
    e.family("cug_sessions_away", Type::gauge,
             "Sessions whose channel closed and that have not resumed.");
    e.sample("cug_sessions_away", get(sessions_away));
    e.family("cug_sessions_ended_total", Type::counter, "Sessions ended, by why.");
    by_label(e, "cug_sessions_ended_total", "reason", ended, ended_names);

    e.family("cug_channels", Type::gauge, "Open TLS channels: logins, resumes and sessions.");
    e.sample("cug_channels", get(channels));
    e.family("cug_channels_opened_total", Type::counter, "TLS channels established.");
    e.sample("cug_channels_opened_total", get(channels_opened));
    e.family("cug_startups", Type::gauge,
             "Connections not yet bound to a session (the startup caps count these).");
    e.sample("cug_startups", get(startups));
    e.family("cug_connections_refused_total", Type::counter,
             "Connections refused before TLS, by which cap: full, startups (the random "
             "early drop) or per_source.");
    by_label(e, "cug_connections_refused_total", "reason", refused, refused_names);
    e.family("cug_login_backoff_sources", Type::gauge,
             "Source addresses with failed passwords that the login backoff remembers.");
    e.sample("cug_login_backoff_sources", get(backoff_sources));

    e.family("cug_tls_handshakes_total", Type::counter,
             "TLS handshakes by result (failed includes those out of time).");
    e.sample("cug_tls_handshakes_total", {{"result", "ok"}}, get(handshakes));
    e.sample("cug_tls_handshakes_total", {{"result", "failed"}}, get(handshakes_failed));
    e.family("cug_tls_handshakes_pending", Type::gauge, "TLS handshakes in progress.");
    e.sample("cug_tls_handshakes_pending", get(handshakes_pending));
    e.family("cug_tls_handshake_seconds", Type::histogram,
             "Time from a connection's first bytes to its finished TLS handshake.");
    e.histogram("cug_tls_handshake_seconds", {}, handshake_seconds.snapshot());
    e.family("cug_password_verify_seconds", Type::histogram,
             "Time one Argon2id password check takes on a hash worker.");
    e.histogram("cug_password_verify_seconds", {}, password_seconds.snapshot());

    e.family("cug_pushes_total", Type::counter, "Messages pushed to terminals, by type.");
    by_label(e, "cug_pushes_total", "type", pushes, push_names);
    e.family("cug_key_rotations_total", Type::counter, "Group key epochs rotated.");
    e.sample("cug_key_rotations_total", get(rotations));
    e.family("cug_key_rotation_timeouts_total", Type::counter,
             "Members that did not acknowledge a rotation's keys in time (their sessions end).");
    e.sample("cug_key_rotation_timeouts_total", get(rotation_timeouts));
    e.family("cug_key_rotations_pending", Type::gauge,
             "Rotations waiting for members' acknowledgements.");
    e.sample("cug_key_rotations_pending", get(rotations_pending));
    return e.text();
}

}  // namespace cug::server
