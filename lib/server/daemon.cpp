#include "server/daemon.hpp"

#include "core/time.hpp"
#include "crypto/random.hpp"
#include "net/local.hpp"
#include "net/tls.hpp"
#include "protocol/session.hpp"
#include "server/bundle.hpp"
#include "server/handshakes.hpp"
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
#include <csignal>
#include <cstring>
#include <map>
#include <set>

namespace cug::server {

namespace {

Error os_error(std::string_view what) {
    return make_error(Errc::os, "{}: {}", what, std::strerror(errno));
}

// A terminal's TLS channel: a login in progress, or a session's channel.
struct Channel {
    Channel(std::uint64_t s, net::TlsStream t, net::Endpoint p)
        : serial(s), tls(std::move(t)), peer(p) {}
    std::uint64_t serial = 0;
    net::TlsStream tls;
    net::Endpoint peer;
    wire::Decoder decoder{protocol::channel_limits()};
    std::string out;  // encoded messages not yet written
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

std::string one(std::string_view type,
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
    void expire_sessions(std::int64_t now);
    void reconcile();
    void serve_control();
    std::string control_answer(const wire::Message& request);

    DaemonConfig config_;
    store::Store store_;
    net::TlsContext tls_;
    int epoll_fd_ = -1, listen_fd_ = -1, udp_fd_ = -1, control_fd_ = -1, wake_fd_ = -1,
        done_fd_ = -1, signal_fd_ = -1, handshake_fd_ = -1, work_fd_ = -1;
    std::unique_ptr<HandshakePool> handshakes_;
    std::unique_ptr<Workers> workers_;
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::map<int, std::unique_ptr<Channel>> channels_;
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
    // The last UDP hello counter taken for each session id.
    std::map<Bytes, std::uint64_t> hello_counters_;

    // Argon2id runs here, as many at once as it has threads.
    std::unique_ptr<Workers> hashers_;
};

DaemonImpl::~DaemonImpl() {
    stopping_ = true;
    // The pools join their threads, which write to handshake_fd_, work_fd_
    // and done_fd_.
    handshakes_.reset();
    workers_.reset();
    hashers_.reset();
    channels_.clear();
    for (int fd : {epoll_fd_, listen_fd_, udp_fd_, control_fd_, wake_fd_, done_fd_, signal_fd_,
                   handshake_fd_, work_fd_})
        if (fd >= 0) ::close(fd);
    if (control_fd_ >= 0) ::unlink(config_.control_socket.c_str());
}

void DaemonImpl::watch(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0)
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
}

Result<void> DaemonImpl::open_listener() {
    const net::Address& a = config_.listen.address;
    listen_fd_ = ::socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return os_error("creating the listening socket");
    int on = 1, off = 0;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // [::] takes IPv4 too, whatever net.ipv6.bindv6only says.
    if (!a.is_v4()) setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    sockaddr_storage ss{};
    const auto len = static_cast<socklen_t>(net::to_sockaddr(config_.listen, &ss));
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        return make_error(Errc::unavailable, "cannot listen on {}: {}", config_.listen.to_string(),
                          std::strerror(errno));
    if (::listen(listen_fd_, 1024) != 0) return os_error("listen");
    socklen_t got = sizeof ss;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &got);
    port_ = ntohs(a.is_v4() ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                            : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    watch(listen_fd_, EPOLLIN);
    return ok();
}

// The terminals' UDP hellos come to the same address and port as the channel.
Result<void> DaemonImpl::open_udp() {
    net::Endpoint at = config_.listen;
    at.port = port_;
    udp_fd_ = ::socket(at.address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp_fd_ < 0) return os_error("creating the UDP socket");
    int off = 0;
    if (!at.address.is_v4()) setsockopt(udp_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    sockaddr_storage ss{};
    const auto len = static_cast<socklen_t>(net::to_sockaddr(at, &ss));
    if (::bind(udp_fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0)
        return make_error(Errc::unavailable, "cannot listen on UDP {}: {}", at.to_string(),
                          std::strerror(errno));
    watch(udp_fd_, EPOLLIN);
    return ok();
}

Result<void> DaemonImpl::open_control_socket() {
    control_fd_ = CUG_TRY(net::listen_local(config_.control_socket, "cugd"));
    watch(control_fd_, EPOLLIN);
    return ok();
}

Result<void> DaemonImpl::start() {
    started_ = last_tick_ = unix_now();
    // Every terminal holds a descriptor: take all the system allows.
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    done_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    handshake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    work_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0 || done_fd_ < 0 || handshake_fd_ < 0 || work_fd_ < 0)
        return os_error("setting up the event loop");
    watch(wake_fd_, EPOLLIN);
    watch(done_fd_, EPOLLIN);
    watch(handshake_fd_, EPOLLIN);
    watch(work_fd_, EPOLLIN);
    // Threads start after this: they inherit the mask, and SIGTERM reaches the loop's signalfd.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ >= 0) watch(signal_fd_, EPOLLIN);
    CUG_CHECK(open_listener());
    CUG_CHECK(open_udp());
    CUG_CHECK(open_control_socket());
    handshakes_ = CUG_TRY(HandshakePool::start(config_.tls_workers, handshake_fd_));
    workers_ = CUG_TRY(Workers::start(config_.tls_workers, work_fd_));
    hashers_ = CUG_TRY(Workers::start(config_.hash_workers, done_fd_));
    // Sessions registered before a restart stay until their terminals
    // resume or the idle time passes.
    auto sessions = CUG_TRY(store_.read([](store::ReadTxn& t) { return t.sessions(); }));
    for (const auto& s : sessions) {
        heard_[s.user] = started_;
        known_.emplace(s.user, Known(s));
    }
    next_rotation_ = started_ + config_.first_rotation;
    generation_ = CUG_TRY(
        store_.read([](store::ReadTxn& t) -> Result<std::uint64_t> { return t.generation(); }));
    return ok();
}

void DaemonImpl::accept_terminals() {
    for (;;) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN, or a transient error: the next event retries
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        const net::Endpoint peer = net::endpoint_from_sockaddr(&ss);
        auto tls = net::TlsStream::accept(tls_, fd);
        if (!tls) continue;
        handshakes_->add(std::move(*tls), peer, unix_now() + config_.handshake_seconds);
    }
}

// Connections whose TLS handshake finished on the pool become channels; the
// deadline for the login (or resume) still counts from the accept.
void DaemonImpl::adopt_handshakes() {
    std::uint64_t count;
    (void)!::read(handshake_fd_, &count, sizeof count);
    for (auto& e : handshakes_->take()) {
        const int fd = e.tls.fd();
        auto c = std::make_unique<Channel>(next_serial_++, std::move(e.tls), e.peer);
        c->deadline = e.deadline;
        channels_[fd] = std::move(c);
        watch(fd, EPOLLIN);
        on_channel(fd, EPOLLIN);  // the first message may be here already
    }
}

void DaemonImpl::on_channel(int fd, std::uint32_t events) {
    auto found = channels_.find(fd);
    if (found == channels_.end()) return;
    Channel& c = *found->second;
    if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) return close_channel(fd);
    pump(c);
    if (channels_.count(fd)) flush(*channels_[fd]);
}

// Reads what has arrived and acts on every complete message.
void DaemonImpl::pump(Channel& c) {
    const int fd = c.tls.fd();
    std::uint8_t buf[16384];
    for (;;) {
        net::TlsWait wait;
        auto n = c.tls.read(buf, wait);
        if (!n) return close_channel(fd);
        if (*n == 0) break;
        if (!c.decoder.feed(ByteView(buf, *n))) return close_channel(fd);
        for (;;) {
            auto m = c.decoder.next();
            if (!m) return close_channel(fd);  // a broken message ends the channel
            if (!*m) break;
            dispatch(c, **m);
            if (!channels_.count(fd)) return;
        }
    }
}

void DaemonImpl::dispatch(Channel& c, const wire::Message& m) {
    const std::string type(m.get("type").value_or(""));
    if (c.hashing) {  // the terminal must wait for its answer
        c.out += one("refused", {{"reason", "failed"}});
        c.close_after = true;
        return;
    }
    if (!c.login && c.user.empty()) {
        if (type == "hello") {
            auto exporter = c.tls.exporter(protocol::exporter_login, protocol::exporter_size);
            if (!exporter) return close_channel(c.tls.fd());
            c.login.emplace(store_, config_.login, std::move(*exporter), c.peer, &sources_);
        } else if (type != "resume") {
            c.out += one("refused", {{"reason", "failed"}});
            c.close_after = true;
            return;
        }
    }
    if (c.login && !c.login->finished()) return apply(c, c.login->on_message(m, m.encode()));
    on_session_message(c, m);
}

void DaemonImpl::apply(Channel& c, LoginStep step) {
    for (auto& s : step.send)
        c.out += s;
    if (step.close) c.close_after = true;
    if (step.verify) {
        c.hashing = true;
        auto check = std::make_shared<PasswordCheck>(std::move(*step.verify));
        const int fd = c.tls.fd();
        const std::uint64_t serial = c.serial;
        hashers_->submit([this, check, fd, serial]() -> Workers::Continuation {
            // On a hash thread: nothing of the loop's is touched here.
            auto match = std::make_shared<Result<bool>>(
                crypto::verify_password(check->phc, check->password.view()));
            check->password.clear();
            return [this, match, fd, serial] {
                auto found = channels_.find(fd);
                if (found == channels_.end() || found->second->serial != serial) return;  // gone
                Channel& ch = *found->second;
                ch.hashing = false;
                apply(ch, ch.login->password_checked(std::move(*match)));
                flush(ch);
            };
        });
    }
    if (step.replaced) {
        // Its registration is gone with the new one's; its peers forget it
        // now and learn the new terminal when that acknowledges.
        announce_down(step.replaced->user, Known(*step.replaced), {});
        known_.erase(step.replaced->user);
        hello_counters_.erase(step.replaced->id);
        close_user_channels(step.replaced->user, "replaced", c.tls.fd());
    }
    if (step.registered) {
        // The login channel ends with the bundle; the terminal's agent
        // resumes the session on its own channel and acknowledges it.
        heard_[step.registered->user] = unix_now();
        c.close_after = true;
    }
}

void DaemonImpl::on_session_message(Channel& c, const wire::Message& m) {
    const std::string type(m.get("type").value_or(""));
    const std::int64_t now = unix_now();
    if (type == "resume") {
        auto id = m.get_bytes("session", protocol::session_id_size);
        auto proof = m.get_bytes("proof", 32);
        auto exporter = c.tls.exporter(protocol::exporter_resume, protocol::exporter_size);
        std::optional<store::Session> session;
        if (c.user.empty() && id && proof && exporter && m.allow_only({"type", "session", "proof"}))
            session = store_.read([&](store::ReadTxn& t) { return t.find_session_by_id(*id); })
                          .value_or(std::optional<store::Session>());
        if (!session || session->expires <= now ||
            !crypto::equal_ct(protocol::resume_proof(session->resume_key.view(), *exporter),
                              *proof)) {
            (void)store_.write([&](store::WriteTxn& t) {
                return t.audit_event("resume.refused", session ? session->user : "?",
                                     fmt::format("from {}", c.peer.to_string()));
            });
            c.out += one("refused", {{"reason", "failed"}});
            c.close_after = true;
            return;
        }
        close_user_channels(session->user, "replaced", c.tls.fd());
        c.user = session->user;
        c.deadline = 0;
        c.push_key = protocol::channel_push_key(session->push_key.view(), *exporter);
        c.presence_due = now + config_.presence_seconds;
        live_[c.user] = c.tls.fd();
        heard_[c.user] = now;
        known_.insert_or_assign(c.user, Known(*session));
        c.out += one("resumed", {{"expires", std::to_string(session->expires)}});
        send_sync(c, *session);
        return;
    }
    if (c.user.empty()) {
        c.close_after = true;
        return;
    }
    heard_[c.user] = now;
    if (type == "ack") {
        const std::string user = c.user;
        auto acked = store_.write([&](store::WriteTxn& t) -> Result<store::Session> {
            CUG_CHECK(t.acknowledge_session(user));
            return *CUG_TRY(t.find_session(user));
        });
        c.out += one("acked");
        if (!acked) return;
        known_.insert_or_assign(user, Known(*acked));
        // The patent's step 12 is done: now the group learns of the user.
        announce_up(user, {});
    } else if (type == "ping") {
        c.out += one("pong");
    } else if (type == "presence") {
        on_presence(c, m);
    } else if (type == "rekeyed") {
        on_rekeyed(c, m);
    } else if (type == "logout") {
        const std::string user = c.user;
        const std::string why(m.get("reason").value_or("logout"));
        c.user.clear();
        live_.erase(user);
        end_session(user, "session.logout",
                    fmt::format("{} from {}", wire::quote_for_message(why, 64), c.peer.to_string()),
                    "");
        c.out += one("bye");
        c.close_after = true;
    } else {
        c.out += one("error", {{"message", "unknown message type"}});
    }
}

// The card's 9E key signs SHA-256("cug presence v1" || challenge || exporter):
// the terminal that answers holds this channel and the card is in its reader.
void DaemonImpl::on_presence(Channel& c, const wire::Message& m) {
    if (c.presence_challenge.empty()) {
        c.out += one("error", {{"message", "no presence challenge is outstanding"}});
        return;
    }
    const std::string user = c.user;
    std::string failure;
    auto signature = m.get_bytes("signature", 160);
    if (!signature) {
        failure = fmt::format("the terminal could not ask the card: {}",
                              wire::quote_for_message(m.get("error").value_or("no answer"), 120));
    } else {
        auto exporter = c.tls.exporter(protocol::exporter_presence, protocol::exporter_size);
        auto key = store_.read([&](store::ReadTxn& t) -> Result<crypto::PublicKey> {
            auto u = CUG_TRY(t.find_user(user));
            if (!u || !u->card) return make_error(Errc::not_found, "no card");
            return crypto::PublicKey::from_point(u->card->authentication);
        });
        if (!exporter || !key ||
            !crypto::verify_digest(*key, protocol::presence_digest(c.presence_challenge, *exporter),
                                   *signature))
            failure = "the card's presence signature does not verify";
    }
    c.presence_challenge.clear();
    if (failure.empty()) {
        c.presence_due = unix_now() + config_.presence_seconds;
        return;
    }
    c.user.clear();
    live_.erase(user);
    end_session(user, "session.absent", failure, "");
    c.out += one("absent");
    c.close_after = true;
}

void DaemonImpl::check_presence(std::int64_t now) {
    std::vector<std::string> late;
    std::vector<int> asked;
    for (auto& [fd, cp] : channels_) {
        Channel& c = *cp;
        if (c.user.empty()) continue;
        if (!c.presence_challenge.empty()) {
            if (now > c.presence_by) late.push_back(c.user);
            continue;
        }
        if (now < c.presence_due) continue;
        c.presence_challenge.resize(32);
        crypto::random_bytes(c.presence_challenge);
        c.presence_by = now + config_.presence_timeout;
        wire::Message challenge;
        (void)challenge.add("type", "presence");
        (void)challenge.add_bytes("challenge", c.presence_challenge);
        c.out += challenge.encode();
        asked.push_back(fd);
    }
    // Writing may close a channel: not while iterating over them.
    for (int fd : asked)
        if (auto c = channels_.find(fd); c != channels_.end()) flush(*c->second);
    for (const auto& user : late)
        end_session(user, "session.absent", "no answer to the presence challenge", "absent");
}

Channel* DaemonImpl::live_channel(const std::string& user) {
    auto fd = live_.find(user);
    if (fd == live_.end()) return nullptr;
    auto c = channels_.find(fd->second);
    if (c == channels_.end() || c->second->user != user) return nullptr;
    return c->second.get();
}

void DaemonImpl::push(const std::string& user, const wire::Message& inner) {
    Channel* c = live_channel(user);
    if (!c || c->push_key.empty()) return;  // it gets the whole picture when it resumes
    if (c->sync_pending) {
        c->held += protocol::seal_push(c->push_key.view(), ++c->push_seq, inner);
        return;
    }
    c->out += protocol::seal_push(c->push_key.view(), ++c->push_seq, inner);
    flush(*c);
}

// The whole picture as of now for a resumed channel: what changed while the
// terminal was away (or between its bundle and this resume) is in it. The
// snapshot is read here; the pair keys, the encoding and the sealing run on
// the workers, and the sync goes out before any push that came meanwhile.
void DaemonImpl::send_sync(Channel& c, const store::Session& session) {
    auto plan = store_.read([&](store::ReadTxn& t) { return plan_bundle(t, session); });
    if (!plan) {
        fmt::print(stderr, "cugd: no bundle for {}: {}\n", session.user, plan.error().message);
        return;
    }
    struct Job {
        BundlePlan plan;
        crypto::SecretBuffer key;
        std::uint64_t seq;
    };
    auto job = std::make_shared<Job>(
        Job{std::move(*plan), crypto::SecretBuffer::copy_of(c.push_key.view()), ++c.push_seq});
    c.sync_pending = true;
    const int fd = c.tls.fd();
    const std::uint64_t serial = c.serial;
    workers_->submit([this, job, fd, serial]() -> Workers::Continuation {
        // On a worker: nothing of the loop's is touched here.
        std::string sealed;
        if (auto bundle = build_bundle(job->plan)) {
            wire::Message m = protocol::encode_sync(*bundle);
            sealed = protocol::seal_push(job->key.view(), job->seq, m);
            m.wipe();
        }
        job->key.clear();
        return [this, fd, serial, sealed = std::move(sealed)] {
            auto found = channels_.find(fd);
            if (found == channels_.end() || found->second->serial != serial) return;  // gone
            Channel& ch = *found->second;
            ch.sync_pending = false;
            if (sealed.empty()) {  // its sequence number is spent: the terminal resumes anew
                close_channel(fd);
                return;
            }
            ch.out += sealed;
            ch.out += ch.held;
            ch.held.clear();
            flush(ch);
        };
    });
}

// What a pool's jobs left for the loop, run on the loop.
void DaemonImpl::collect(int notify, Workers& pool) {
    std::uint64_t count;
    (void)!::read(notify, &count, sizeof count);
    for (auto& then : pool.take())
        then();
}

// Every connected member of the user's groups (or of `groups`) gets the new
// pair keys for the user; the user's own terminal had them in its bundle.
void DaemonImpl::announce_up(const std::string& user, const std::vector<std::string>& groups) {
    std::map<std::string, std::vector<protocol::BundlePeer>> entries;
    auto built = store_.read([&](store::ReadTxn& t) -> Result<void> {
        auto session = CUG_TRY(t.find_session(user));
        if (!session || !session->acknowledged) return ok();
        for (const auto& [group, index] : session->indices) {
            if (!groups.empty() && std::find(groups.begin(), groups.end(), group) == groups.end())
                continue;
            const store::Group g = CUG_TRY(t.group(group));
            auto mine = CUG_TRY(t.find_membership(user, group));
            if (!mine) continue;
            const protocol::PairKeys keys(g.current.secret.view(), g.current.key_id);
            for (const store::Membership& other : CUG_TRY(t.members_of(group))) {
                if (other.user == user || !live_channel(other.user)) continue;
                auto peer = CUG_TRY(t.find_session(other.user));
                if (!peer || !peer->acknowledged || !peer->index_in(group)) continue;
                entries[other.user].push_back(
                    CUG_TRY(pair_entry(g, keys, *peer, *session, mine->address)));
            }
        }
        return ok();
    });
    if (!built) {
        fmt::print(stderr, "cugd: cannot announce {}: {}\n", user, built.error().message);
        return;
    }
    for (const auto& [member, peers] : entries) {
        wire::Message m = protocol::encode_peer_up(peers);
        push(member, m);
        m.wipe();
    }
}

// Two-phase rotation (DESIGN.md, "Rotation and revocation"): one store
// transaction gives each group a new epoch; every connected member gets its
// new pair keys to install for receiving; when all have said so (or the
// time is up, and the silent ones lose their sessions), all switch sending.
void DaemonImpl::rotate(const std::vector<std::string>& names) {
    std::vector<std::string> todo;
    for (const auto& n : names)
        if (!rotations_.count(n)) todo.push_back(n);
    if (todo.empty()) return;
    auto rotated = store_.write([&](store::WriteTxn& t) -> Result<std::vector<store::Group>> {
        std::vector<store::Group> out;
        for (const auto& n : todo) {
            auto g = t.rotate_epoch(n);
            if (g)
                out.push_back(std::move(*g));  // a group deleted meanwhile is skipped
            else if (g.error().code != Errc::not_found)
                return std::move(g).error();
        }
        return out;
    });
    if (!rotated) {
        fmt::print(stderr, "cugd: rotating epochs: {}\n", rotated.error().message);
        return;
    }
    const std::int64_t now = unix_now();
    for (const store::Group& g : *rotated) {
        std::map<std::string, std::vector<protocol::BundlePeer>> keys;
        (void)store_.read([&](store::ReadTxn& t) -> Result<void> {
            const auto members = CUG_TRY(t.members_of(g.name));
            std::vector<std::pair<store::Session, net::Address>> online;
            for (const auto& m : members) {
                auto s = CUG_TRY(t.find_session(m.user));
                if (s && s->acknowledged && s->index_in(g.name))
                    online.emplace_back(std::move(*s), m.address);
            }
            const protocol::PairKeys pair_keys(g.current.secret.view(), g.current.key_id);
            for (const auto& [self, address] : online) {
                if (!live_channel(self.user)) continue;
                auto& entries = keys[self.user];
                for (const auto& [peer, peer_address] : online)
                    if (peer.user != self.user)
                        entries.push_back(
                            CUG_TRY(pair_entry(g, pair_keys, self, peer, peer_address)));
            }
            return ok();
        });
        if (keys.empty()) continue;
        Rotation r;
        r.key_id = g.current.key_id;
        r.deadline = now + config_.rekey_timeout;
        for (auto& [user, entries] : keys) {
            wire::Message m = protocol::encode_rekey(g.name, g.current.key_id, entries);
            push(user, m);
            m.wipe();
            r.members.insert(user);
            r.waiting.insert(user);
        }
        rotations_[g.name] = std::move(r);
    }
}

void DaemonImpl::on_rekeyed(Channel& c, const wire::Message& m) {
    const std::string group(m.get("group").value_or(""));
    auto r = rotations_.find(group);
    if (r == rotations_.end() || m.get_u64("key_id").value_or(0) != r->second.key_id) return;
    r->second.waiting.erase(c.user);
    if (r->second.waiting.empty()) activate(group);
}

void DaemonImpl::activate(const std::string& group) {
    auto r = rotations_.find(group);
    if (r == rotations_.end()) return;
    const Rotation rotation = std::move(r->second);
    rotations_.erase(r);
    for (const auto& user : rotation.members)
        push(user, protocol::encode_activate(group, rotation.key_id));
}

void DaemonImpl::finish_rotations(std::int64_t now) {
    std::vector<std::string> due;
    for (const auto& [group, r] : rotations_)
        if (now > r.deadline) due.push_back(group);
    for (const auto& group : due) {
        auto r = rotations_.find(group);
        if (r == rotations_.end()) continue;
        const auto silent = r->second.waiting;
        // Ending a session takes it out of the rotation (end_session).
        for (const auto& user : silent)
            end_session(user, "session.expired",
                        fmt::format("it did not install {}'s new keys in time", group), "expired");
        activate(group);
    }
}

// Every connected member of the session's groups (or of `groups`) forgets
// the user's pair keys.
void DaemonImpl::announce_down(const std::string& user, const Known& session,
                               const std::vector<std::string>& groups) {
    std::map<std::string, std::vector<std::string>> told;  // member -> groups
    (void)store_.read([&](store::ReadTxn& t) -> Result<void> {
        for (const auto& [group, index] : session.indices) {
            if (!groups.empty() && std::find(groups.begin(), groups.end(), group) == groups.end())
                continue;
            auto members = t.members_of(group);
            if (!members) continue;  // the group itself is gone
            for (const store::Membership& other : *members)
                if (other.user != user && live_channel(other.user))
                    told[other.user].push_back(group);
        }
        return ok();
    });
    for (const auto& [member, shared] : told) {
        if (groups.empty())
            push(member, protocol::encode_peer_down(user, ""));
        else
            for (const auto& g : shared)
                push(member, protocol::encode_peer_down(user, g));
    }
}

// The one way a session ends inside cugd: the registration is cleared and
// audited, the peers are told, and the terminal (if `tell` is not empty) gets
// `type=<tell>` and its channel closes.
void DaemonImpl::end_session(const std::string& user, std::string_view action,
                             std::string_view detail, std::string_view tell) {
    std::optional<Known> session;
    if (auto k = known_.find(user); k != known_.end()) session = k->second;
    auto ended = store_.write([&](store::WriteTxn& t) -> Result<void> {
        auto current = CUG_TRY(t.find_session(user));
        if (!current) return ok();  // already gone (cug-admin removed the user)
        session.emplace(*current);
        return t.end_session(user, action, detail);
    });
    if (!ended) fmt::print(stderr, "cugd: ending {}'s session: {}\n", user, ended.error().message);
    if (session) {
        announce_down(user, *session, {});
        hello_counters_.erase(session->id);
    }
    heard_.erase(user);
    known_.erase(user);
    if (!tell.empty()) close_user_channels(user, tell, -1);
    // A rotation does not wait for a session that is gone.
    std::vector<std::string> complete;
    for (auto& [group, r] : rotations_) {
        r.members.erase(user);
        if (r.waiting.erase(user) && r.waiting.empty()) complete.push_back(group);
    }
    for (const auto& group : complete)
        activate(group);
}

void DaemonImpl::flush(Channel& c) {
    const int fd = c.tls.fd();
    if (!c.out.empty()) {
        net::TlsWait wait;
        auto n = c.tls.write(as_bytes(c.out), wait);
        if (!n) return close_channel(fd);
        c.out.erase(0, *n);
    }
    if (c.out.empty() && c.close_after) return close_channel(fd);
    watch(fd, c.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
}

void DaemonImpl::close_channel(int fd) {
    auto found = channels_.find(fd);
    if (found == channels_.end()) return;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    if (auto live = live_.find(found->second->user); live != live_.end() && live->second == fd)
        live_.erase(live);
    channels_.erase(found);  // the TlsStream sends close_notify and closes the socket
}

void DaemonImpl::close_user_channels(const std::string& user, std::string_view why, int except_fd) {
    // A user's session has at most one channel: the one in live_.
    auto live = live_.find(user);
    if (live == live_.end() || live->second == except_fd) return;
    auto found = channels_.find(live->second);
    live_.erase(live);
    if (found == channels_.end() || found->second->user != user) return;
    Channel& c = *found->second;
    c.user.clear();
    c.out += one(why);
    c.close_after = true;
    flush(c);
}

void DaemonImpl::expire_sessions(std::int64_t now) {
    auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
    if (!sessions) return;
    for (const auto& s : *sessions) {
        std::string why;
        auto heard = heard_.find(s.user);
        const bool live = live_channel(s.user) != nullptr;
        if (s.expires <= now)
            why = "its time is up";
        else if (!s.acknowledged && now - s.login_time > config_.ack_seconds)
            why = "it was never acknowledged";
        else if (!live && (heard == heard_.end() || now - heard->second > config_.idle_seconds))
            why = "its terminal went silent";
        if (!why.empty()) end_session(s.user, "session.expired", why, "expired");
    }
}

// Store changes by cug-admin, which revokes in its own transaction: a user
// removed or disabled or a card changed took the session out of the store, a
// membership removed took its group (receiver index) out of the session.
// cugd compares the store with what it last knew and tells the terminals: the
// session's terminal is told `revoked` or loses the group, the group's members
// forget the user. A membership added gives the live session a new receiver
// index for the group (the terminal gets a sync, the group peer-up).
void DaemonImpl::reconcile() {
    auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
    if (!sessions) return;
    // One read snapshot decides; only sessions that must change are written.
    std::set<std::string> present;
    std::map<std::string, std::string> revoke;
    std::set<std::string> regroup;
    auto planned = store_.read([&](store::ReadTxn& t) -> Result<void> {
        for (const auto& s : *sessions) {
            present.insert(s.user);
            // A store written by a cug-admin that left sessions standing.
            auto u = CUG_TRY(t.find_user(s.user));
            if (!u)
                revoke[s.user] = "the user was removed";
            else if (!u->enabled)
                revoke[s.user] = "the user was disabled";
            else if (!u->card || u->card->certificate_serial != s.card_serial)
                revoke[s.user] = "the card was re-enrolled";
            if (revoke.count(s.user)) continue;
            const auto memberships = CUG_TRY(t.memberships_of(s.user));
            bool same = memberships.size() == s.indices.size();
            for (const auto& m : memberships)
                same = same && s.index_in(m.group).has_value();
            if (!same) regroup.insert(s.user);
        }
        return ok();
    });
    if (!planned) return;
    for (const auto& s : *sessions) {
        if (auto why = revoke.find(s.user); why != revoke.end()) {
            end_session(s.user, "session.revoked", why->second, "revoked");
            continue;
        }
        // Groups the store's session lost since cugd last looked.
        if (auto k = known_.find(s.user); k != known_.end() && k->second.id == s.id) {
            std::vector<std::string> left;
            for (const auto& [group, index] : k->second.indices)
                if (s.index_in(group) != index) left.push_back(group);
            if (!left.empty()) {
                announce_down(s.user, k->second, left);
                for (const auto& g : left)
                    push(s.user, protocol::encode_group_down(g));
                k->second = Known(s);
            }
        }
        if (!regroup.count(s.user)) continue;
        auto change =
            store_.write([&](store::WriteTxn& t) { return t.follow_memberships(s.user); });
        if (!change || change->empty()) continue;
        if (!change->left.empty()) {
            announce_down(s.user, Known(s), change->left);
            for (const auto& g : change->left)
                push(s.user, protocol::encode_group_down(g));
        }
        auto now_session = store_.read([&](store::ReadTxn& t) { return t.find_session(s.user); });
        if (!now_session || !*now_session) continue;
        if ((*now_session)->indices.empty()) {
            end_session(s.user, "session.revoked", "the user is in no group any more", "revoked");
            continue;
        }
        known_.insert_or_assign(s.user, Known(**now_session));
        if (!change->joined.empty()) {
            // The terminal gets the new group with its peers; they get it.
            auto bundle =
                store_.read([&](store::ReadTxn& t) { return build_bundle(t, **now_session); });
            if (bundle) push(s.user, protocol::encode_sync(*bundle));
            announce_up(s.user, change->joined);
        }
    }
    // Sessions that left the store: cug-admin revoked them (its audit entry
    // says why).
    std::vector<std::string> gone;
    for (const auto& [user, session] : known_)
        if (!present.count(user)) gone.push_back(user);
    for (const auto& user : gone)
        end_session(user, "session.revoked", "revoked by the administrator", "revoked");
}

void DaemonImpl::tick() {
    const std::int64_t now = unix_now();
    std::vector<int> late;
    for (auto& [fd, c] : channels_) {
        const auto heard = c->user.empty() ? heard_.end() : heard_.find(c->user);
        const bool idle = heard != heard_.end() && now - heard->second > config_.idle_seconds;
        if ((c->deadline && now > c->deadline) || idle) late.push_back(fd);
    }
    for (int fd : late)
        close_channel(fd);
    auto generation =
        store_.read([](store::ReadTxn& t) -> Result<std::uint64_t> { return t.generation(); });
    if (generation && *generation != generation_) {
        generation_ = *generation;
        reconcile();
    }
    expire_sessions(now);
    check_presence(now);
    finish_rotations(now);
    if (now >= next_rotation_) {
        next_rotation_ = now + config_.rotate_seconds;
        auto groups = store_.read([](store::ReadTxn& t) { return t.groups(); });
        std::vector<std::string> names;
        if (groups)
            for (const auto& g : *groups)
                names.push_back(g.name);
        rotate(names);
    }
    last_tick_ = now;
}

std::string DaemonImpl::control_answer(const wire::Message& request) {
    const std::string cmd(request.get("cmd").value_or(""));
    wire::Message reply;
    auto error = [&](std::string_view message) {
        (void)reply.add("errno", "1");
        (void)reply.add("message", message);
        return reply.encode();
    };
    if (cmd == "status") {
        auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
        (void)reply.add_u64("uptime", static_cast<std::uint64_t>(unix_now() - started_));
        (void)reply.add_u64("channels", channels_.size());
        (void)reply.add_u64("handshakes", handshakes_->pending());
        (void)reply.add_u64("sessions", sessions ? sessions->size() : 0);
        (void)reply.add_u64("port", port_);
        (void)reply.add_u64("reconcile_requests", reconcile_requests_);
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    if (cmd == "sessions") {
        auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
        if (!sessions) return error(sessions.error().message);
        (void)reply.add_u64("sessions", sessions->size());
        for (std::size_t i = 0; i < sessions->size(); ++i) {
            const auto& s = (*sessions)[i];
            const std::string p = fmt::format("session.{}.", i);
            (void)reply.add(p + "user", s.user);
            (void)reply.add(p + "terminal", s.endpoint  ? s.endpoint->to_string()
                                            : s.control ? s.control->to_string()
                                                        : "-");
            (void)reply.add_u64(p + "since", static_cast<std::uint64_t>(s.login_time));
            (void)reply.add_bool(p + "acknowledged", s.acknowledged);
            (void)reply.add_bool(p + "connected", live_channel(s.user) != nullptr);
        }
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    if (cmd == "kick") {
        const std::string user(request.get("user").value_or(""));
        auto session = store_.read([&](store::ReadTxn& t) { return t.find_session(user); });
        if (!session) return error(session.error().message);
        if (!*session) return error(fmt::format("{} has no session", user));
        end_session(user, "session.kicked", "by the control socket", "kicked");
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    if (cmd == "rotate") {
        std::vector<std::string> groups;
        if (auto g = request.get("group")) {
            groups.emplace_back(*g);
        } else if (auto all = store_.read([](store::ReadTxn& t) { return t.groups(); })) {
            for (const auto& each : *all)
                groups.push_back(each.name);
        }
        rotate(groups);
        (void)reply.add_u64("rotating", rotations_.size());
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    if (cmd == "reconcile") {
        ++reconcile_requests_;
        auto generation =
            store_.read([](store::ReadTxn& t) -> Result<std::uint64_t> { return t.generation(); });
        if (generation) generation_ = *generation;
        reconcile();
        (void)reply.add("errno", "0");
        return reply.encode();
    }
    return error("unknown command");
}

// A terminal's UDP hello: its endpoint is where the datagram came from. An
// authentic hello with a fresh counter updates the session and the peers.
void DaemonImpl::on_udp() {
    for (int budget = 0; budget < 256; ++budget) {
        std::uint8_t buf[256];
        sockaddr_storage from{};
        socklen_t from_len = sizeof from;
        const ssize_t n =
            ::recvfrom(udp_fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) return;
        auto hello = protocol::parse_udp_hello(ByteView(buf, static_cast<std::size_t>(n)));
        if (!hello) continue;
        auto session =
            store_.read([&](store::ReadTxn& t) { return t.find_session_by_id(hello->session); });
        if (!session || !*session || !protocol::check_udp_hello((*session)->udp_key.view(), *hello))
            continue;
        const std::int64_t now_us = unix_now_micros();
        std::uint64_t& last = hello_counters_[hello->session];
        const auto counter = static_cast<std::int64_t>(hello->counter);
        if (hello->counter <= last || counter < now_us - protocol::hello_window_us ||
            counter > now_us + protocol::hello_window_us)
            continue;
        last = hello->counter;
        const net::Endpoint observed = net::endpoint_from_sockaddr(&from);
        const std::string user = (*session)->user;
        heard_[user] = unix_now();
        if ((*session)->endpoint != observed) {
            auto moved = store_.write(
                [&](store::WriteTxn& t) { return t.touch_session(user, unix_now(), observed); });
            if (moved) {
                (*session)->endpoint = observed;
                known_.insert_or_assign(user, Known(**session));
                std::set<std::string> told;
                (void)store_.read([&](store::ReadTxn& t) -> Result<void> {
                    for (const auto& [group, index] : (*session)->indices)
                        for (const auto& m : CUG_TRY(t.members_of(group)))
                            if (m.user != user && told.insert(m.user).second)
                                push(m.user, protocol::encode_endpoint(user, observed));
                    return ok();
                });
            }
        }
        const Bytes reply = protocol::udp_reply((*session)->udp_key.view(), hello->session,
                                                hello->counter, observed);
        (void)::sendto(udp_fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from),
                       from_len);
    }
}

// Local administrators and scripts: one request, one answer, then close.
void DaemonImpl::serve_control() {
    for (;;) {
        int fd = ::accept4(control_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;
        if (!net::trusted_local_peer(fd)) {
            ::close(fd);
            continue;
        }
        // A blocking read (accept4 does not pass O_NONBLOCK on) with a
        // deadline: local peers are root or ourselves.
        auto request = net::read_local(fd, std::chrono::seconds(1), wire::Limits{});
        const std::string answer =
            request ? control_answer(*request) : std::string("errno=1\nmessage=bad request\n\n");
        (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        ::close(fd);
    }
}

Result<void> DaemonImpl::run() {
    epoll_event events[64];
    while (!stopping_) {
        const int n = epoll_wait(epoll_fd_, events, 64, 1000);
        if (n < 0 && errno != EINTR) return os_error("epoll_wait");
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == listen_fd_) {
                accept_terminals();
            } else if (fd == udp_fd_) {
                on_udp();
            } else if (fd == control_fd_) {
                serve_control();
            } else if (fd == done_fd_) {
                collect(done_fd_, *hashers_);
            } else if (fd == handshake_fd_) {
                adopt_handshakes();
            } else if (fd == work_fd_) {
                collect(work_fd_, *workers_);
            } else if (fd == wake_fd_) {
                std::uint64_t v;
                (void)!::read(wake_fd_, &v, sizeof v);
            } else if (fd == signal_fd_) {
                signalfd_siginfo info;
                (void)!::read(signal_fd_, &info, sizeof info);
                stopping_ = true;
            } else {
                on_channel(fd, events[i].events);
            }
        }
        if (unix_now() != last_tick_) tick();
    }
    return ok();
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::create(DaemonConfig config) {
    auto st = CUG_TRY(store::Store::open(config.store_dir, store::Actor::current("cugd")));
    crypto::PrivateKey key = CUG_TRY(st.read([](store::ReadTxn& t) { return t.server_key(); }));
    auto certificate = CUG_TRY(st.read([](store::ReadTxn& t) { return t.server_certificate(); }));
    auto tls = CUG_TRY(net::TlsContext::server(key, certificate));
    auto daemon = std::make_unique<DaemonImpl>(std::move(config), std::move(st), std::move(tls));
    CUG_CHECK(daemon->start());
    return std::unique_ptr<Daemon>(std::move(daemon));
}

}  // namespace cug::server
