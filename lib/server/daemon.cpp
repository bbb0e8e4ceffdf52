// cugd's event loop: listeners, accepted connections and their TLS
// handshakes, channels (reading, dispatching, writing), the tick.
#include "server/daemon_impl.hpp"

namespace cug::server {

namespace {

// "TERM" for SIGTERM.
std::string signal_name(int signo) {
    const char* name = sigabbrev_np(signo);
    return name ? name : std::to_string(signo);
}

}  // namespace

DaemonImpl::~DaemonImpl() {
    stopping_ = true;
    // The pools join their threads, which write to handshake_fd_, work_fd_
    // and done_fd_.
    handshakes_.reset();
    workers_.reset();
    hashers_.reset();
    channels_.clear();
    control_.reset();  // closes and removes the control socket
    for (int fd :
         {epoll_fd_, listen_fd_, udp_fd_, wake_fd_, done_fd_, signal_fd_, handshake_fd_, work_fd_})
        if (fd >= 0) ::close(fd);
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
    net::LocalServer::Options options;
    options.max_clients = 64;
    control_ = CUG_TRY(net::LocalServer::listen(config_.control_socket, "cugd", options));
    watch(control_->fd(), EPOLLIN);
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
    metrics_.start_time = started_;
    if (config_.metrics) {
        metrics_server_ = CUG_TRY(metrics::Server::bind(*config_.metrics));
        CUG_CHECK(metrics_server_->start([this] { return metrics_.render(); }));
    }
    handshakes_ = CUG_TRY(HandshakePool::start(config_.tls_workers, handshake_fd_, tls_));
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
    zone_ =
        CUG_TRY(store_.read([](store::ReadTxn& t) -> Result<std::string> { return t.dns_zone(); }));
    generation_ = CUG_TRY(
        store_.read([](store::ReadTxn& t) -> Result<std::uint64_t> { return t.generation(); }));
    update_gauges();
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
        if (!admit_startup(peer.address)) {  // counted there, by which cap
            ::close(fd);  // before any TLS: a refused connection costs next to nothing
            noise_.note(peer.address, NoiseLog::Kind::connection_refused, unix_now());
            continue;
        }
        handshakes_->add(fd, peer, unix_now() + config_.handshake_seconds);
    }
}

bool DaemonImpl::admit_startup(const net::Address& source) {
    const auto& caps = config_.startups;
    auto refuse = [this, &source](ServerMetrics::Refused why) {
        ServerMetrics::add(metrics_.refused, why);
        if (log::verbose())  // a flood's path: nothing is formatted for a dropped event
            log::event(log::Priority::debug, "connection_refused",
                       {{"source", source.to_string()}, {"reason", ServerMetrics::name(why)}});
        return false;
    };
    if (startups_ >= caps.full) return refuse(ServerMetrics::Refused::full);
    if (startups_ >= caps.start) {
        // From `rate` percent at `start` to 100 at `full`, as OpenSSH does.
        const unsigned span = caps.full - caps.start;
        const unsigned chance = caps.rate + (100 - caps.rate) *
                                                static_cast<unsigned>(startups_ - caps.start) /
                                                std::max(span, 1u);
        if (crypto::random_u64() % 100 < chance) return refuse(ServerMetrics::Refused::startups);
    }
    unsigned& mine = startups_by_source_[source];
    if (caps.per_source != 0 && mine >= caps.per_source) {
        if (mine == 0) startups_by_source_.erase(source);
        return refuse(ServerMetrics::Refused::per_source);
    }
    ++mine;
    ++startups_;
    return true;
}

void DaemonImpl::release_startup(const net::Address& source) {
    auto it = startups_by_source_.find(source);
    if (it == startups_by_source_.end()) return;
    if (--it->second == 0) startups_by_source_.erase(it);
    --startups_;
}

// Connections whose TLS handshake finished on the pool become channels; the
// deadline for the login (or resume) still counts from the accept.
void DaemonImpl::adopt_handshakes() {
    std::uint64_t count;
    (void)!::read(handshake_fd_, &count, sizeof count);
    for (const auto& peer : handshakes_->take_dropped()) {
        release_startup(peer.address);
        noise_.note(peer.address, NoiseLog::Kind::handshake_failed, unix_now());
        ++metrics_.handshakes_failed;
        if (log::verbose())
            log::event(log::Priority::debug, "handshake_failed", {{"terminal", peer.to_string()}});
    }
    for (auto& e : handshakes_->take()) {
        const int fd = e.tls.fd();
        auto c = std::make_unique<Channel>(next_serial_++, std::move(e.tls), e.peer);
        c->deadline = e.deadline;
        channels_[fd] = std::move(c);
        ++metrics_.handshakes;
        ++metrics_.channels_opened;
        metrics_.handshake_seconds.observe(e.seconds);
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
        // Too much, or broken: the channel ends (a stranger's counts as noise).
        auto broken = [&] {
            if (c.startup) noise_.note(c.peer.address, NoiseLog::Kind::login_refused, unix_now());
            close_channel(fd);
        };
        if (!c.decoder.feed(ByteView(buf, *n))) return broken();
        for (;;) {
            auto m = c.decoder.next();
            if (!m) return broken();
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
            c.login.emplace(store_, config_.login, std::move(*exporter), c.peer, &sources_,
                            &noise_);
        } else if (type != "resume") {
            noise_.note(c.peer.address, NoiseLog::Kind::login_refused, unix_now());
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
    if (!step.refused.empty()) {
        metrics_.login_refused(step.refused);
        log::event(log::Priority::warning, "login_refused",
                   {{"user", c.login ? c.login->user() : ""},
                    {"terminal", c.peer.to_string()},
                    {"reason", step.refused}});
    }
    if (step.close) c.close_after = true;
    if (step.verify) {
        c.hashing = true;
        auto check = std::make_shared<PasswordCheck>(std::move(*step.verify));
        const int fd = c.tls.fd();
        const std::uint64_t serial = c.serial;
        hashers_->submit([this, check, fd, serial]() -> Workers::Continuation {
            // On a hash thread: nothing of the loop's is touched here.
            const auto began = std::chrono::steady_clock::now();
            auto match = std::make_shared<Result<bool>>(
                crypto::verify_password(check->phc, check->password.view()));
            metrics_.password_seconds.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
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
        ServerMetrics::add(metrics_.ended, ServerMetrics::Ended::replaced);
        log::event(log::Priority::notice, "session_ended",
                   {{"user", step.replaced->user}, {"reason", "replaced"}});
        announce_down(step.replaced->user, Known(*step.replaced), {});
        known_.erase(step.replaced->user);
        away_.erase(step.replaced->user);
        hello_counters_.erase(step.replaced->id);
        close_user_channels(step.replaced->user, "replaced", c.tls.fd());
    }
    if (step.registered) {
        // The login channel ends with the bundle; the terminal's agent
        // resumes the session on its own channel and acknowledges it.
        heard_[step.registered->user] = unix_now();
        c.close_after = true;
        ServerMetrics::add(metrics_.logins, ServerMetrics::Login::ok);
        std::string groups;
        for (const auto& [group, index] : step.registered->indices)
            groups += (groups.empty() ? "" : ",") + group;
        log::event(log::Priority::notice, "login",
                   {{"user", step.registered->user},
                    {"terminal", c.peer.to_string()},
                    {"groups", groups}});
    }
}

// What a pool's jobs left for the loop, run on the loop.
void DaemonImpl::collect(int notify, Workers& pool) {
    std::uint64_t count;
    (void)!::read(notify, &count, sizeof count);
    for (auto& then : pool.take())
        then();
}

void DaemonImpl::flush(Channel& c) {
    const int fd = c.tls.fd();
    // A terminal that does not read: cugd does not buffer for it without end.
    if (c.out.size() + c.held.size() > config_.max_output) return close_channel(fd);
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
    if (found->second->startup) release_startup(found->second->peer.address);
    if (auto live = live_.find(found->second->user); live != live_.end() && live->second == fd) {
        live_.erase(live);
        went_away_.push_back(found->second->user);  // not a logout, nor an end: those clear user
    }
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

// What strangers did goes to the store's noise ring once a minute, in one
// transaction (NoiseLog).
void DaemonImpl::write_noise() {
    if (noise_.empty()) return;
    auto entries = noise_.take();
    if (auto written = store_.write([&](store::WriteTxn& t) { return t.record_noise(entries); });
        !written)
        log::event(log::Priority::err, "store_failed",
                   {{"action", "noise_ring"}, {"error", written.error().message}});
}

void DaemonImpl::tick() {
    const std::int64_t now = unix_now();
    serve_control();  // the control socket's deadlines
    if (now / 60 != last_tick_ / 60) write_noise();
    std::vector<int> late;
    for (auto& [fd, c] : channels_) {
        const auto heard = c->user.empty() ? heard_.end() : heard_.find(c->user);
        const bool idle = heard != heard_.end() && now - heard->second > config_.idle_seconds;
        if ((c->deadline && now > c->deadline) || idle) {
            late.push_back(fd);
            if (c->login && !c->login->finished()) {
                ServerMetrics::add(metrics_.logins, ServerMetrics::Login::timed_out);
                log::event(log::Priority::warning, "login_refused",
                           {{"user", c->login->user()},
                            {"terminal", c->peer.to_string()},
                            {"reason", "timed_out"}});
            }
        }
    }
    for (int fd : late)
        close_channel(fd);
    auto generation =
        store_.read([](store::ReadTxn& t) -> Result<std::uint64_t> { return t.generation(); });
    if (generation && *generation != generation_) {
        generation_ = *generation;
        log::event(log::Priority::debug, "store_changed", {{"generation", generation_}});
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
    update_gauges();
    last_tick_ = now;
}

void DaemonImpl::update_gauges() {
    auto set = [](std::atomic<std::uint64_t>& gauge, std::size_t value) {
        gauge.store(value, std::memory_order_relaxed);
    };
    set(metrics_.sessions, known_.size());
    set(metrics_.sessions_connected, live_.size());
    set(metrics_.sessions_away, away_.size());
    set(metrics_.channels, channels_.size());
    set(metrics_.startups, startups_);
    set(metrics_.handshakes_pending, handshakes_->pending());
    set(metrics_.backoff_sources, sources_.size());
    set(metrics_.rotations_pending, rotations_.size());
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
            } else if (fd == control_->fd()) {
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
                log::event(log::Priority::notice, "stopping",
                           {{"signal", signal_name(static_cast<int>(info.ssi_signo))}});
            } else {
                on_channel(fd, events[i].events);
            }
        }
        note_departures();
        if (unix_now() != last_tick_) tick();
    }
    write_noise();
    return ok();
}

Result<DaemonConfig::Startups> parse_startups(std::string_view text, unsigned per_source) {
    auto bad = [&] {
        return make_error(Errc::usage,
                          "--max-startups: '{}' is not START:RATE:FULL (START <= FULL, RATE 1 "
                          "to 100) or FULL",
                          text);
    };
    std::vector<unsigned> parts;
    for (std::size_t at = 0; at <= text.size();) {
        const std::size_t colon = std::min(text.find(':', at), text.size());
        const std::string_view part = text.substr(at, colon - at);
        unsigned v = 0;
        auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
        if (part.empty() || ec != std::errc() || end != part.data() + part.size()) return bad();
        parts.push_back(v);
        at = colon + 1;
    }
    DaemonConfig::Startups s;
    s.per_source = per_source;
    if (parts.size() == 1) {
        s.start = s.full = parts[0];
        s.rate = 100;
    } else if (parts.size() == 3) {
        s.start = parts[0];
        s.rate = parts[1];
        s.full = parts[2];
    } else {
        return bad();
    }
    if (s.full == 0 || s.start > s.full || s.rate == 0 || s.rate > 100) return bad();
    return s;
}

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
