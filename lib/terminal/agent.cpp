#include "terminal/agent.hpp"

#include "card/card.hpp"
#include "cli/program.hpp"
#include "core/log.hpp"
#include "core/time.hpp"
#include "dataplane/packet.hpp"
#include "metrics/http.hpp"
#include "net/local.hpp"
#include "protocol/session.hpp"
#include "terminal/held_session.hpp"
#include "terminal/link.hpp"
#include "terminal/metrics.hpp"
#include "terminal/resolver.hpp"
#include "wire/text.hpp"

#include <linux/capability.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <thread>

namespace cug::terminal {

// agent_socket, session_request and ask_agent: agent_client.cpp.

namespace {

constexpr std::chrono::seconds link_timeout{10};  // name, TCP and TLS
constexpr std::int64_t answer_seconds = 10;       // for cugd to answer a resume or an ack
constexpr std::int64_t bye_seconds = 3;           // for cugd to confirm a logout

wire::Message answer(bool ok, std::string_view message = {}) {
    wire::Message m;
    (void)m.add("errno", ok ? "0" : "1");
    if (!message.empty()) (void)m.add("message", wire::one_line(message));
    return m;
}

// The card's presence signature, made on a thread of its own: the card
// takes a few hundred milliseconds through pcscd, and the loop goes on.
struct PresenceJob {
    int event = -1;
    std::mutex mutex;
    bool done = false;
    Result<Bytes> signature = make_error(Errc::internal, "not done");
    ~PresenceJob() {
        if (event >= 0) ::close(event);
    }
};

class AgentImpl final : public Agent {
  public:
    explicit AgentImpl(AgentConfig config) : config_(std::move(config)) {}
    ~AgentImpl() override {
        for (int fd : {wake_fd_, signal_fd_})
            if (fd >= 0) ::close(fd);
    }

    Result<void> start();
    Result<void> run() override;
    void stop() override {
        stopping_ = true;
        std::uint64_t one = 1;
        (void)!::write(wake_fd_, &one, sizeof one);
    }

  private:
    // The channel to cugd, as far as it has got.
    enum class Phase {
        idle,          // no session
        connecting,    // name, TCP, TLS (link_)
        resuming,      // resume sent, waiting for resumed
        acking,        // ack sent, waiting for acked (a fresh session)
        connected,     // pushes, presence, keepalives
        reconnecting,  // waiting to try again
        leaving,       // logout sent, waiting for bye
    };
    static const char* phase_name(Phase p);

    void serve_local();
    void handle(net::LocalServer::Request& request);
    void take_session(HeldSession held, std::uint64_t id);
    void log_out(std::string_view reason, std::optional<std::uint64_t> id);
    void finish_logout(bool told);
    wire::Message show() const;

    void begin_link();
    void on_link();
    void on_message(const wire::Message& m);
    // A message from cugd that is not an answer: push, presence, or an end.
    void unsolicited(const wire::Message& m);
    void connected();
    void link_failed(const Error& e);
    void drop_channel(std::string_view why);
    void forget(std::string_view why);
    // `reason` (unreachable, server-mismatch, refused) lets cug-login tell why.
    void answer_handoff(bool ok, std::string_view message, std::string_view reason = {});
    void send(const std::string& encoded);

    void answer_presence(const wire::Message& m);
    void presence_done();
    void keepalive(std::int64_t now);
    void send_hello(std::int64_t now);
    void udp_readable();
    // The data plane follows the session: its pairs, keys and addresses;
    // and the resolver its names. clear_plane() when the session is gone.
    void sync_dataplane();
    void clear_plane();
    void sync_names();

    AgentConfig config_;
    std::unique_ptr<net::LocalServer> local_;
    int wake_fd_ = -1, signal_fd_ = -1;
    std::unique_ptr<dataplane::DataPlane> dataplane_;
    std::unique_ptr<Resolver> resolver_;
    std::unique_ptr<SystemDns> system_dns_;
    std::string names_error_;  // the resolver's last complaint, said once
    std::atomic<bool> stopping_{false};
    bool leaving_for_good_ = false;  // SIGTERM: out once the logout is done

    std::optional<HeldSession> held_;
    std::unique_ptr<ServerLink> link_;
    std::uint64_t link_serial_ = 0;            // a new one for every link
    std::optional<net::Endpoint> server_udp_;  // cugd's address and port, over UDP
    Phase phase_ = Phase::idle;
    std::int64_t phase_deadline_ = 0;
    std::int64_t next_attempt_ = 0, backoff_ = 1, last_ping_ = 0, last_heard_ = 0;
    // Local requests answered later: cug-login's hand-off (once the session
    // is resumed, or it failed) and a logout (once cugd confirmed it).
    std::optional<std::uint64_t> handoff_;
    std::optional<std::uint64_t> logout_;
    std::string leaving_user_, leaving_reason_;
    // A presence signature being made, for the link it was asked on.
    std::shared_ptr<PresenceJob> presence_;
    std::uint64_t presence_link_ = 0;
    // Last: it stops before the data plane it reads goes.
    std::unique_ptr<metrics::Server> metrics_server_;
};

const char* AgentImpl::phase_name(Phase p) {
    switch (p) {
        case Phase::idle:
            return "idle";
        case Phase::connecting:
        case Phase::resuming:
        case Phase::acking:
            return "connecting";
        case Phase::connected:
            return "connected";
        case Phase::reconnecting:
            return "reconnecting";
        case Phase::leaving:
            return "leaving";
    }
    return "idle";
}

Result<void> AgentImpl::start() {
    net::LocalServer::Options options;
    options.limits = protocol::channel_limits();  // a hand-off carries a whole bundle
    options.max_clients = 32;
    local_ = CUG_TRY(net::LocalServer::listen(agent_socket(config_.socket_dir, config_.interface),
                                              "cug-tun", options));
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    // The data plane: the TUN device and its UDP sockets (both families);
    // the hello goes out of them, so the endpoint cugd observes is the one
    // peers must send to.
    config_.dataplane.interface = config_.interface;
    dataplane_ = CUG_TRY(dataplane::DataPlane::open(config_.dataplane));
    if (config_.metrics) metrics_server_ = CUG_TRY(metrics::Server::bind(*config_.metrics));
    resolver_ = std::make_unique<Resolver>(config_.dns_port);
    if (!config_.user.empty()) {
        // Port 53 is bound when a session brings its addresses, after this.
        std::vector<int> keep{CAP_NET_ADMIN};
        if (config_.dns_port && config_.dns_port < 1024) keep.push_back(CAP_NET_BIND_SERVICE);
        CUG_CHECK(cli::drop_privileges(config_.user, keep));
    }
    // Its thread starts after the drop: capabilities are per thread.
    system_dns_ = std::make_unique<SystemDns>(
        config_.dns_port ? config_.dns_config : DnsConfig::off, config_.interface);
    CUG_CHECK(dataplane_->start_workers());
    // Its thread starts with SIGTERM blocked, as the workers' do.
    if (metrics_server_)
        CUG_CHECK(metrics_server_->start(
            [plane = dataplane_.get()] { return render_metrics(plane->stats(), unix_now()); }));
    return ok();
}

// --- local requests -------------------------------------------------------------

void AgentImpl::serve_local() {
    for (auto& request : local_->serve()) {
        handle(request);
        request.message.wipe();
    }
}

// Every request is checked whole before anything changes; a bad one is
// refused with errno=1 and changes nothing.
void AgentImpl::handle(net::LocalServer::Request& request) {
    const wire::Message& r = request.message;
    const std::string cmd(r.get("cmd").value_or(""));
    auto refuse = [&](std::string_view why) {
        local_->reply(request.id, answer(false, why).encode());
    };
    if (cmd == "show") {
        if (auto keys = r.allow_only({"cmd"}); !keys) return refuse(keys.error().message);
        return local_->reply(request.id, show().encode());
    }
    if (cmd == "logout") {
        if (auto keys = r.allow_only({"cmd", "reason", "session"}); !keys)
            return refuse(keys.error().message);
        std::string reason = "cug-logout";
        if (auto given = r.find("reason")) {
            if (given->empty() || given->size() > 64)
                return refuse("a logout reason is 1 to 64 characters");
            reason = *given;
        }
        // session=: only that session (pam_cug's close_session, which must
        // not end a newer login's).
        if (r.find("session")) {
            auto id = r.get_bytes("session", protocol::session_id_size);
            if (!id || id->size() != protocol::session_id_size)
                return refuse("session= is a session ID");
            if (!held_ || held_->bundle.session != *id) {
                wire::Message m = answer(true, "that session is not held here");
                (void)m.add("held", "no");
                return local_->reply(request.id, m.encode());
            }
        }
        return log_out(reason, request.id);
    }
    if (cmd == "session") {
        auto held = parse_handoff(r, unix_now());
        if (!held) return refuse(fmt::format("a bad hand-off: {}", held.error().message));
        return take_session(std::move(*held), request.id);
    }
    refuse(cmd.empty() ? "no cmd=" : "unknown command");
}

void AgentImpl::take_session(HeldSession held, std::uint64_t id) {
    if (handoff_) answer_handoff(false, "a newer hand-off replaced this one");
    if (phase_ == Phase::leaving) finish_logout(false);
    if (held_) {
        // cugd replaced that session with this login already: nothing to tell it.
        log::event(log::Priority::notice, "session_ended",
                   {{"user", held_->user}, {"reason", "replaced"}});
        held_.reset();
        clear_plane();
        link_.reset();
    }
    held_ = std::move(held);
    handoff_ = id;
    backoff_ = 1;
    begin_link();
}

void AgentImpl::log_out(std::string_view reason, std::optional<std::uint64_t> id) {
    if (!held_) {
        if (id) local_->reply(*id, answer(true, "no session").encode());
        return;
    }
    if (handoff_) answer_handoff(false, "logged out before cugd took the session");
    // The keys go first; telling cugd needs only the open channel.
    leaving_user_ = held_->user;
    leaving_reason_ = std::string(reason);
    held_.reset();
    clear_plane();
    presence_.reset();
    logout_ = id;
    if (phase_ == Phase::connected && link_) {
        wire::Message m;
        (void)m.add("type", "logout");
        (void)m.add("reason", reason);
        send(m.encode());
        phase_ = Phase::leaving;
        phase_deadline_ = unix_now() + bye_seconds;
        return;
    }
    finish_logout(false);
}

void AgentImpl::finish_logout(bool told) {
    log::event(log::Priority::notice, "logout",
               {{"user", leaving_user_}, {"reason", leaving_reason_}, {"cugd_told", told}});
    if (logout_)
        local_->reply(*logout_,
                      answer(true, told ? "logged out" : "logged out; cugd not reached").encode());
    logout_.reset();
    link_.reset();
    phase_ = Phase::idle;
}

wire::Message AgentImpl::show() const {
    wire::Message m;
    (void)m.add("interface", config_.interface);
    (void)m.add("state", phase_name(phase_));
    const auto stats = dataplane_->stats();
    (void)m.add_u64("listen_port", stats.port);
    (void)m.add_u64("mtu", stats.mtu);
    (void)m.add_u64("threads", stats.threads);
    (void)m.add("offload", stats.offload ? "on" : "off");
    for (std::size_t i = 0; i < dataplane::drop_reasons; ++i)
        (void)m.add_u64(
            fmt::format("drop.{}", dataplane::drop_name(static_cast<dataplane::Drop>(i))),
            stats.drops[i]);
    if (held_) {
        (void)m.add("user", held_->user);
        (void)m.add("server", held_->server);
        (void)m.add("server_key", held_->server_key.fingerprint_text());
        (void)m.add("reader", held_->reader);
        (void)m.add_u64("since", static_cast<std::uint64_t>(held_->since));
        (void)m.add_u64("expires", static_cast<std::uint64_t>(held_->bundle.expires));
        if (held_->observed) (void)m.add("endpoint", held_->observed->to_string());
        (void)m.add_u64("groups", held_->bundle.groups.size());
        for (std::size_t i = 0; i < held_->bundle.groups.size(); ++i) {
            const auto& g = held_->bundle.groups[i];
            (void)m.add(fmt::format("group.{}.name", i), g.name);
            (void)m.add(fmt::format("group.{}.prefix", i), g.prefix.to_string());
            (void)m.add(fmt::format("group.{}.address", i), g.address.to_string());
            (void)m.add_u64(fmt::format("group.{}.key_id", i), g.key_id);
        }
        (void)m.add_u64("peers", held_->bundle.peers.size());
        for (std::size_t i = 0; i < held_->bundle.peers.size(); ++i) {
            const auto& p = held_->bundle.peers[i];
            (void)m.add(fmt::format("peer.{}.user", i), p.user);
            (void)m.add(fmt::format("peer.{}.group", i), p.group);
            (void)m.add(fmt::format("peer.{}.address", i), p.address.to_string());
            if (p.endpoint)
                (void)m.add(fmt::format("peer.{}.endpoint", i), p.endpoint->to_string());
            if (held_->away.count(p.user)) (void)m.add(fmt::format("peer.{}.away", i), "yes");
            for (const auto& ps : stats.peers) {
                if (ps.user != p.user || ps.group != p.group) continue;
                (void)m.add_u64(fmt::format("peer.{}.rx_bytes", i), ps.rx_bytes);
                (void)m.add_u64(fmt::format("peer.{}.tx_bytes", i), ps.tx_bytes);
                (void)m.add_u64(fmt::format("peer.{}.rx_packets", i), ps.rx_packets);
                (void)m.add_u64(fmt::format("peer.{}.tx_packets", i), ps.tx_packets);
                (void)m.add_u64(fmt::format("peer.{}.last_rx", i),
                                static_cast<std::uint64_t>(ps.last_rx));
                (void)m.add_u64(fmt::format("peer.{}.last_tx", i),
                                static_cast<std::uint64_t>(ps.last_tx));
            }
        }
    }
    // The resolver: its counters always, its names while there is a session.
    const auto& dns_stats = resolver_->stats();
    (void)m.add_u64("dns.port", config_.dns_port);
    (void)m.add("dns.system", system_dns_->method());
    for (std::size_t i = 0; i < dns::outcomes; ++i)
        (void)m.add_u64(fmt::format("dns.{}", dns::outcome_name(static_cast<dns::Outcome>(i))),
                        dns_stats.outcomes[i]);
    (void)m.add_u64("dns.not_local", dns_stats.not_local);
    if (held_) {
        (void)m.add("dns.zone", resolver_->zone().name());
        const auto addresses = resolver_->addresses();
        (void)m.add_u64("dns.servers", addresses.size());
        for (std::size_t i = 0; i < addresses.size(); ++i)
            (void)m.add(fmt::format("dns.server.{}", i), addresses[i].to_string());
        const auto names = resolver_->zone().names();
        (void)m.add_u64("names", names.size());
        for (std::size_t i = 0; i < names.size(); ++i) {
            (void)m.add(fmt::format("name.{}", i), names[i].first);
            (void)m.add(fmt::format("name.{}.address", i), names[i].second.to_string());
        }
    }
    (void)m.add("errno", "0");
    return m;
}

// --- the channel to cugd --------------------------------------------------------

void AgentImpl::begin_link() {
    link_ = ServerLink::open(held_->server, held_->server_key, link_timeout);
    ++link_serial_;
    presence_.reset();
    server_udp_.reset();
    phase_ = Phase::connecting;
}

void AgentImpl::send(const std::string& encoded) {
    if (link_) link_->send(encoded);
}

void AgentImpl::answer_handoff(bool ok, std::string_view message, std::string_view reason) {
    if (!handoff_) return;
    wire::Message m = answer(ok, message);
    if (!reason.empty()) (void)m.add("reason", reason);
    local_->reply(*handoff_, m.encode());
    handoff_.reset();
}

void AgentImpl::on_link() {
    if (!link_) return;
    link_->advance();
    if (link_->failed() && phase_ == Phase::connecting) {
        const Error e = link_->error();  // a copy: the link goes with what follows
        return link_failed(e);
    }
    if (link_->up() && phase_ == Phase::connecting) {
        // The resume proves K_resume bound to this very channel.
        auto exporter = link_->exporter(protocol::exporter_resume, protocol::exporter_size);
        if (!exporter) return drop_channel(exporter.error().message);
        held_->channel_push_key = protocol::channel_push_key(held_->push_key.view(), *exporter);
        held_->push_seq = 0;
        server_udp_ = link_->peer();
        wire::Message resume;
        (void)resume.add("type", "resume");
        (void)resume.add_bytes("session", held_->bundle.session);
        (void)resume.add_bytes("proof",
                               protocol::resume_proof(held_->resume_key.view(), *exporter));
        send(resume.encode());
        phase_ = Phase::resuming;
        phase_deadline_ = unix_now() + answer_seconds;
    }
    // What cugd said before the channel went (its last words may say why).
    while (link_) {
        auto m = link_->next();
        if (!m) break;
        on_message(*m);
        m->wipe();
    }
    if (link_ && link_->failed()) {
        const Error e = link_->error();
        link_failed(e);
    }
}

void AgentImpl::on_message(const wire::Message& m) {
    last_heard_ = unix_now();
    const std::string type(m.get("type").value_or(""));
    if (type == "pong") return;
    switch (phase_) {
        case Phase::resuming:
            if (type == "resumed") {
                if (held_->acknowledged) return connected();
                // The patent's step 12: the terminal has its keys.
                wire::Message ack;
                (void)ack.add("type", "ack");
                send(ack.encode());
                phase_ = Phase::acking;
                phase_deadline_ = unix_now() + answer_seconds;
                return;
            }
            break;
        case Phase::acking:
            if (type == "acked") {
                held_->acknowledged = true;
                return connected();
            }
            break;
        case Phase::connected:
            return unsolicited(m);
        case Phase::leaving:
            if (type == "bye") finish_logout(true);
            return;  // the keys are gone: nothing else matters now
        default:
            return;
    }
    // Before the session is up only its answers, pushes and presence make sense.
    if (type == "push" || type == "presence") return unsolicited(m);
    if (type == "refused") {
        answer_handoff(false, "cugd refused the resume: the session is gone", "refused");
        return forget("cugd refused the resume: the session is gone");
    }
    if (type == "replaced" || type == "expired" || type == "revoked" || type == "kicked" ||
        type == "absent")
        return unsolicited(m);
    drop_channel(fmt::format("cugd answered '{}'", wire::quote_for_message(type, 32)));
}

void AgentImpl::connected() {
    const bool fresh = handoff_.has_value();
    phase_ = Phase::connected;
    backoff_ = 1;
    last_ping_ = last_heard_ = unix_now();
    held_->hello_answered = false;
    send_hello(last_heard_);
    sync_dataplane();
    std::string groups;
    for (const auto& g : held_->bundle.groups)
        groups += (groups.empty() ? "" : ",") + g.name;
    log::event(fresh ? log::Priority::notice : log::Priority::info, fresh ? "session" : "resume",
               {{"user", held_->user}, {"groups", groups}});
    answer_handoff(true, {});
}

void AgentImpl::unsolicited(const wire::Message& m) {
    const std::string type(m.get("type").value_or(""));
    if (type == "push") {
        auto outcome = apply_push(*held_, m);
        if (!outcome) return drop_channel(outcome.error().message);
        if (outcome->left)
            log::event(log::Priority::notice, "group_left",
                       {{"user", held_->user}, {"group", *outcome->left}});
        sync_dataplane();  // a rekey's keys are in before cugd hears "rekeyed"
        if (outcome->answer) send(*outcome->answer);
        return;
    }
    if (type == "presence") return answer_presence(m);
    if (type == "replaced") return forget("the user logged in at another terminal");
    if (type == "absent") return forget("the card did not answer cugd's presence check");
    if (type == "expired" || type == "revoked" || type == "kicked")
        return forget(fmt::format("cugd says: {}", type));
    // pong, or something newer this agent does not know
}

void AgentImpl::link_failed(const Error& e) {
    if (phase_ == Phase::leaving) return finish_logout(false);
    if (!held_) {
        link_.reset();
        phase_ = Phase::idle;
        return;
    }
    // A hand-off that cannot reach cugd (or finds another key) is refused,
    // as the login would have been; a held session tries again later.
    if (handoff_) {
        const std::string why = e.message;
        answer_handoff(false, why,
                       e.reason == Reason::server_mismatch ? "server-mismatch" : "unreachable");
        held_.reset();
        clear_plane();
        link_.reset();
        phase_ = Phase::idle;
        log::event(log::Priority::warning, "takeover_failed", {{"reason", why}});
        return;
    }
    if (e.code == Errc::permission) return forget(e.message);  // not the card's server key
    drop_channel(e.message);
}

void AgentImpl::drop_channel(std::string_view reason) {
    const std::string why(reason);  // it may live in the link
    link_.reset();
    presence_.reset();
    if (!held_) {
        phase_ = Phase::idle;
        return;
    }
    if (handoff_) {
        answer_handoff(false, why, "unreachable");  // cugd went away before it took the session
        held_.reset();
        clear_plane();
        phase_ = Phase::idle;
        return;
    }
    log::event(log::Priority::warning, "channel_down",
               {{"user", held_ ? held_->user : ""}, {"reason", why}, {"retry_seconds", backoff_}});
    phase_ = Phase::reconnecting;
    next_attempt_ = unix_now() + backoff_;
    backoff_ = std::min<std::int64_t>(backoff_ * 2, config_.max_backoff.count());
}

void AgentImpl::forget(std::string_view reason) {
    const std::string why(reason);
    if (held_)
        log::event(log::Priority::notice, "session_ended",
                   {{"user", held_->user}, {"reason", why}});
    answer_handoff(false, why);
    held_.reset();  // the keys are wiped first
    clear_plane();
    link_.reset();
    presence_.reset();
    phase_ = Phase::idle;
}

// cugd asks the card to show it is still in the reader: the 9E key (no PIN)
// signs a challenge bound to this channel. A card that is gone cannot.
void AgentImpl::answer_presence(const wire::Message& m) {
    auto challenge = m.get_bytes("challenge", 64);
    auto exporter = link_->exporter(protocol::exporter_presence, protocol::exporter_size);
    if (!challenge || !exporter) {
        wire::Message reply;
        (void)reply.add("type", "presence");
        (void)reply.add("error", "a malformed presence challenge");
        return send(reply.encode());
    }
    auto job = std::make_shared<PresenceJob>();
    job->event = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    presence_ = job;
    presence_link_ = link_serial_;
    const crypto::Digest digest = protocol::presence_digest(*challenge, *exporter);
    std::thread([job, digest, reader = held_->reader] {
        auto signature = [&]() -> Result<Bytes> {
            auto card = CUG_TRY(card::Card::open(reader));
            return card.sign_presence(digest);
        }();
        std::lock_guard lock(job->mutex);
        job->signature = std::move(signature);
        job->done = true;
        const std::uint64_t one = 1;
        (void)!::write(job->event, &one, sizeof one);
    }).detach();
}

void AgentImpl::presence_done() {
    auto job = std::move(presence_);
    std::lock_guard lock(job->mutex);
    if (!job->done || presence_link_ != link_serial_ || !link_) return;  // asked on another channel
    wire::Message reply;
    (void)reply.add("type", "presence");
    if (job->signature) {
        (void)reply.add_bytes("signature", *job->signature);
    } else {
        log::event(log::Priority::warning, "presence_failed",
                   {{"error", job->signature.error().message}});
        (void)reply.add("error", wire::one_line(job->signature.error().message, 120));
    }
    send(reply.encode());
}

void AgentImpl::sync_dataplane() {
    if (!held_) return clear_plane();
    if (auto updated = dataplane_->update(dataplane_view(*held_)); !updated)
        log::event(log::Priority::err, "dataplane_failed", {{"error", updated.error().message}});
    sync_names();
}

void AgentImpl::clear_plane() {
    dataplane_->clear();
    (void)resolver_->update(std::nullopt);
    system_dns_->set(std::nullopt);
    names_error_.clear();
}

void AgentImpl::sync_names() {
    if (!held_) return clear_plane();
    dns::ZoneData d;
    d.zone = held_->bundle.zone;
    d.self = held_->user;
    for (const auto& g : held_->bundle.groups)
        d.groups.push_back({g.name, g.prefix, g.address});
    for (const auto& n : held_->bundle.names)
        d.members.push_back({n.user, n.group, n.address});
    auto updated = resolver_->update(d);
    const std::string error = updated ? "" : updated.error().message;
    if (!error.empty() && error != names_error_)
        log::event(log::Priority::warning, "resolver_failed", {{"error", error}});
    names_error_ = error;
    const auto addresses = resolver_->addresses();
    if (addresses.empty()) return system_dns_->set(std::nullopt);
    system_dns_->set(DnsSettings{addresses.front(), config_.dns_port, resolver_->zone().name(),
                                 resolver_->zone().reverse_zones()});
}

void AgentImpl::send_hello(std::int64_t now) {
    if (!held_ || !server_udp_) return;
    held_->hello_counter = std::max<std::uint64_t>(held_->hello_counter + 1,
                                                   static_cast<std::uint64_t>(unix_now_micros()));
    const Bytes hello =
        protocol::udp_hello(held_->udp_key.view(), held_->bundle.session, held_->hello_counter);
    dataplane_->send_control(hello, *server_udp_);
    // Until cugd answers, again soon; then with the keepalives (this also
    // keeps a NAT's mapping open).
    held_->next_hello = now + (held_->hello_answered ? config_.keepalive.count() : 2);
}

static_assert(protocol::udp_reply_size == dataplane::control_reply_size,
              "the data plane hands the agent exactly the hello's replies");

void AgentImpl::udp_readable() {
    for (;;) {
        std::uint8_t buf[2048];
        const ssize_t n = ::recv(dataplane_->control_fd(), buf, sizeof buf, 0);
        if (n < 0) return;
        auto observed = held_
                            ? protocol::open_udp_reply(held_->udp_key.view(), held_->bundle.session,
                                                       held_->hello_counter,
                                                       ByteView(buf, static_cast<std::size_t>(n)))
                            : Result<net::Endpoint>(make_error(Errc::protocol, "no session"));
        if (!observed) {  // forged, stale, or another session's: counted, not taken
            dataplane_->count(dataplane::Drop::not_data);
            continue;
        }
        held_->hello_answered = true;
        held_->next_hello = unix_now() + config_.keepalive.count();
        held_->observed = *observed;
    }
}

void AgentImpl::keepalive(std::int64_t now) {
    // The session's end holds even when cugd cannot say so: the keys go.
    if (held_ && held_->bundle.expires > 0 && now >= held_->bundle.expires)
        return forget("the session reached its end");
    switch (phase_) {
        case Phase::reconnecting:
            if (held_ && now >= next_attempt_) begin_link();
            return;
        case Phase::resuming:
        case Phase::acking:
            if (now > phase_deadline_) drop_channel("cugd did not answer the resume");
            return;
        case Phase::leaving:
            if (now > phase_deadline_) finish_logout(false);
            return;
        case Phase::connected:
            break;
        default:
            return;
    }
    if (now - last_heard_ > 3 * config_.keepalive.count()) return drop_channel("cugd went silent");
    if (held_ && now >= held_->next_hello) send_hello(now);
    if (now - last_ping_ >= config_.keepalive.count()) {
        last_ping_ = now;
        wire::Message ping;
        (void)ping.add("type", "ping");
        send(ping.encode());
    }
}

Result<void> AgentImpl::run() {
    std::int64_t last_tick = 0;
    for (;;) {
        if (stopping_ && !leaving_for_good_) {
            // Stopping the agent takes the terminal out of its groups.
            leaving_for_good_ = true;
            log_out("cug-tun stopped", std::nullopt);
        }
        if (leaving_for_good_ && phase_ != Phase::leaving) break;
        std::vector<pollfd> fds = {
            {local_->fd(), POLLIN, 0},
            {wake_fd_, POLLIN, 0},
            {signal_fd_, POLLIN, 0},
            {link_ ? link_->fd() : -1, link_ ? link_->events() : short{0}, 0},
            {dataplane_->control_fd(), POLLIN, 0},
            {presence_ ? presence_->event : -1, POLLIN, 0}};
        constexpr std::size_t own = 6;
        resolver_->add_fds(fds);
        const int wait = resolver_->timeout_ms();
        const int n = ::poll(fds.data(), fds.size(), wait < 0 ? 1000 : std::min(wait, 1000));
        if (n < 0 && errno != EINTR) return make_error(Errc::os, "poll: {}", std::strerror(errno));
        if (fds[2].revents & POLLIN) {
            signalfd_siginfo info;
            (void)!::read(signal_fd_, &info, sizeof info);
            stopping_ = true;
        }
        if (fds[1].revents & POLLIN) {
            std::uint64_t v;
            (void)!::read(wake_fd_, &v, sizeof v);
        }
        if (fds[0].revents & POLLIN) serve_local();
        if (fds[3].revents) on_link();
        if (fds[4].revents & POLLIN) udp_readable();
        if (fds[5].revents & POLLIN && presence_) presence_done();
        if (n > 0) resolver_->handle(fds.data() + own, fds.size() - own);
        const std::int64_t now = unix_now();
        if (now != last_tick) {  // deadlines, at least once a second
            last_tick = now;
            resolver_->tick();
            serve_local();
            on_link();
            keepalive(now);
        }
    }
    return ok();
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::create(AgentConfig config) {
    auto agent = std::make_unique<AgentImpl>(std::move(config));
    CUG_CHECK(agent->start());
    return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace cug::terminal
