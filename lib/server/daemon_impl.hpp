// Inside cugd (server/daemon.hpp): the state the event loop owns and the
// member functions that act on it, defined by concern in daemon.cpp (the
// loop, connections and channels), session_life.cpp (resume, presence, the
// ends of sessions, store changes, the UDP hello), pushes.cpp (peers and
// rotations) and control.cpp (the local control socket). Only those files
// include this header.
#pragma once

#include "server/daemon.hpp"

#include "core/log.hpp"
#include "core/time.hpp"
#include "crypto/random.hpp"
#include "metrics/http.hpp"
#include "net/local.hpp"
#include "net/tls.hpp"
#include "protocol/session.hpp"
#include "server/bundle.hpp"
#include "server/handshakes.hpp"
#include "server/metrics.hpp"
#include "server/noise.hpp"
#include "server/workers.hpp"
#include "wire/text.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <map>
#include <set>

namespace cug::server {

inline Error os_error(std::string_view what) {
    return make_error(Errc::os, "{}: {}", what, std::strerror(errno));
}

// A terminal's TLS channel: a login in progress, or a session's channel.
struct Channel {
    Channel(std::uint64_t s, net::TlsStream t, net::Endpoint p)
        : serial(s), tls(std::move(t)), peer(p) {}
    std::uint64_t serial = 0;
    net::TlsStream tls;
    net::Endpoint peer;
    wire::Decoder decoder{protocol::terminal_limits()};
    bool startup = true;  // not yet bound to a session: counts against the startup caps
    std::string out;      // encoded messages not yet written
    std::optional<Login> login;
    bool hashing = false;           // a password check is on the worker pool
    bool close_after = false;       // close once `out` is written
    std::string user;               // set when bound to a session (resumed)
    crypto::SecretBuffer push_key;  // this channel's, from K_push and its exporter
    std::uint64_t push_seq = 0;
    // While a sync is being sealed on the workers (its sequence number
    // taken), later pushes wait here, sealed, so that they go out after it.
    bool sync_pending = false;
    std::string held;
    Bytes presence_challenge;       // outstanding, if not empty
    std::int64_t presence_due = 0;  // when to send the next challenge
    std::int64_t presence_by = 0;   // when the outstanding one must be answered
    std::int64_t deadline = 0;      // close when now passes it
    std::uint32_t events = 0;       // what epoll watches now
};

// What cugd remembers of a registered session: enough to tell its peers
// when it ends, even after cug-admin removed it from the store.
struct Known {
    Bytes id;
    std::vector<std::pair<std::string, std::uint32_t>> indices;
    explicit Known(const store::Session& s) : id(s.id), indices(s.indices) {}
};

// A group's epoch rotation in flight: the members that installed the new
// keys have said so; the others have until the deadline.
struct Rotation {
    std::uint64_t key_id = 0;
    std::set<std::string> members, waiting;
    std::int64_t deadline = 0;
};

inline std::string one(std::string_view type,
                       std::initializer_list<std::pair<std::string_view, std::string>> rest = {}) {
    wire::Message m;
    (void)m.add("type", type);
    for (const auto& [k, v] : rest)
        (void)m.add(k, v);
    return m.encode();
}

class DaemonImpl final : public Daemon {
  public:
    DaemonImpl(DaemonConfig config, store::Store st, net::TlsContext tls)
        : config_(std::move(config)), store_(std::move(st)), tls_(std::move(tls)) {}
    ~DaemonImpl() override;

    Result<void> start();
    Result<void> run() override;
    void stop() override {
        stopping_ = true;
        std::uint64_t one_event = 1;
        (void)!::write(wake_fd_, &one_event, sizeof one_event);
    }
    std::uint16_t port() const override { return port_; }

  private:
    Result<void> open_listener();
    Result<void> open_control_socket();
    void watch(int fd, std::uint32_t events);
    void accept_terminals();
    // Whether a new connection from `source` may start (the startup caps);
    // counts it if so. release_startup when it is bound or closed.
    bool admit_startup(const net::Address& source);
    void release_startup(const net::Address& source);
    void adopt_handshakes();
    void send_sync(Channel& c, const store::Session& session);
    void collect(int notify, Workers& pool);
    void on_channel(int fd, std::uint32_t events);
    void pump(Channel& c);
    void dispatch(Channel& c, const wire::Message& m);
    void apply(Channel& c, LoginStep step);
    void on_session_message(Channel& c, const wire::Message& m);
    void flush(Channel& c);
    void close_channel(int fd);
    void close_user_channels(const std::string& user, std::string_view why, int except_fd);
    Channel* live_channel(const std::string& user);
    void push(const std::string& user, const wire::Message& inner);
    void announce_up(const std::string& user, const std::vector<std::string>& groups);
    void announce_down(const std::string& user, const Known& session,
                       const std::vector<std::string>& groups);
    // Peers away: a session's channel that closed without an end is noted
    // (close_channel), and after the loop's events its peers are told; a
    // resume tells them it is back, and a terminal that gets a sync learns
    // which of its peers are away.
    void note_departures();
    void tell_presence(const std::string& user, bool away);
    void push_away_peers(const std::string& user);
    bool share_a_group(const std::string& a, const std::string& b) const;
    void end_session(const std::string& user, std::string_view action, std::string_view detail,
                     std::string_view tell);
    void on_presence(Channel& c, const wire::Message& m);
    void check_presence(std::int64_t now);
    Result<void> open_udp();
    void rotate(const std::vector<std::string>& groups);
    void on_rekeyed(Channel& c, const wire::Message& m);
    void finish_rotations(std::int64_t now);
    void activate(const std::string& group);
    void on_udp();
    void tick();
    void write_noise();
    void expire_sessions(std::int64_t now);
    void reconcile();
    // The names terminals resolve follow the store: a new DNS zone resyncs
    // every live session; a group whose members changed sends its live
    // members the difference (a names push).
    void follow_names();
    // What a session's bundle told it of its groups' members, for the
    // differences to come (a group no live session had yet).
    void prime_names(const BundlePlan& plan);
    void serve_control();
    std::string control_answer(const wire::Message& request);

    DaemonConfig config_;
    store::Store store_;
    net::TlsContext tls_;
    std::unique_ptr<net::LocalServer> control_;
    int epoll_fd_ = -1, listen_fd_ = -1, udp_fd_ = -1, wake_fd_ = -1, done_fd_ = -1,
        signal_fd_ = -1, handshake_fd_ = -1, work_fd_ = -1;
    std::unique_ptr<HandshakePool> handshakes_;
    std::unique_ptr<Workers> workers_;
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::map<int, std::unique_ptr<Channel>> channels_;
    // Connections not yet bound to a session, in all and per source.
    std::size_t startups_ = 0;
    std::map<net::Address, unsigned> startups_by_source_;
    NoiseLog noise_;
    std::uint64_t next_serial_ = 1;
    std::int64_t started_ = 0, last_tick_ = 0;
    std::uint64_t generation_ = 0;
    std::uint64_t reconcile_requests_ = 0;
    std::map<std::string, Rotation> rotations_;
    SourceBackoff sources_{config_.login};
    std::int64_t next_rotation_ = 0;
    // When each session's terminal was last heard, and the channel of each
    // session that has one.
    std::map<std::string, std::int64_t> heard_;
    std::map<std::string, int> live_;
    // The registered sessions as cugd last saw them: what a session that
    // cug-admin removed from the store was (to tell its peers).
    std::map<std::string, Known> known_;
    // Sessions whose channel closed while this cugd ran and that have not
    // resumed (their peers were told), and channels closed since the last
    // note_departures().
    std::set<std::string> away_;
    std::vector<std::string> went_away_;
    // The DNS zone, and the members of each group that has a live session
    // as its terminals were last told (user -> address).
    std::string zone_;
    std::map<std::string, std::map<std::string, net::Address>> directories_;
    // The last UDP hello counter taken for each session id.
    std::map<Bytes, std::uint64_t> hello_counters_;

    // Argon2id runs here, as many at once as it has threads.
    std::unique_ptr<Workers> hashers_;

    // What /metrics shows (server/metrics.hpp), and its server if
    // configured: declared last, so that it stops first.
    ServerMetrics metrics_;
    std::unique_ptr<metrics::Server> metrics_server_;
    void update_gauges();
};

}  // namespace cug::server
