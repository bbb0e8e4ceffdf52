#include "terminal/agent.hpp"

#include "card/card.hpp"
#include "cli/program.hpp"
#include "core/time.hpp"
#include "net/local.hpp"
#include "protocol/session.hpp"
#include "wire/base64.hpp"
#include "wire/text.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>

namespace cug::terminal {

std::filesystem::path agent_socket(const std::filesystem::path& dir, const std::string& interface) {
    return dir / (interface + ".sock");
}

wire::Message session_request(const LoginResult& r) {
    wire::Message m;
    (void)m.add("cmd", "session");
    (void)m.add("user", r.user);
    (void)m.add("server", r.server);
    (void)m.add_bytes("server_key", r.server_key.to_der());
    (void)m.add("reader", r.reader);
    (void)m.add_bytes("resume_key", r.resume_key.view());
    (void)m.add_bytes("push_key", r.push_key.view());
    (void)m.add_bytes("udp_key", r.udp_key.view());
    wire::Message bundle = protocol::encode_bundle(r.bundle);
    std::string text = bundle.encode();
    bundle.wipe();
    (void)m.add_bytes("bundle", as_bytes(text));
    explicit_bzero(text.data(), text.size());
    return m;
}

Result<wire::Message> ask_agent(const std::filesystem::path& socket, const wire::Message& request,
                                std::chrono::milliseconds timeout) {
    auto answer = net::ask_local(socket, request, timeout, protocol::channel_limits());
    if (!answer && answer.error().code == Errc::unavailable)
        return with_reason(
            make_error(Errc::unavailable, "cug-tun is not running ({})", answer.error().message),
            Reason::agent_missing);
    return answer;
}

namespace {

// The session the agent holds. Its keys live in the secure heap and are
// wiped when it is dropped.
struct Held {
    std::string user, server, reader;
    crypto::PublicKey server_key{nullptr};
    protocol::Bundle bundle;
    crypto::SecretBuffer resume_key, push_key, udp_key;
    std::int64_t since = 0;
    bool acknowledged = false;
    // The current channel's push key and the last push sequence taken.
    crypto::SecretBuffer channel_push_key;
    std::uint64_t push_seq = 0;
    // The UDP hello: last counter sent, whether cugd answered it, and the
    // endpoint cugd saw.
    std::uint64_t hello_counter = 0;
    bool hello_answered = false;
    std::int64_t next_hello = 0;
    std::optional<net::Endpoint> observed;
    // New epochs installed (for receiving) but not yet active, by group.
    std::map<std::string, std::pair<std::uint64_t, std::vector<protocol::BundlePeer>>> pending;
};

class AgentImpl final : public Agent {
  public:
    explicit AgentImpl(AgentConfig config) : config_(std::move(config)) {}
    ~AgentImpl() override {
        for (int fd : {listen_fd_, wake_fd_, signal_fd_})
            if (fd >= 0) ::close(fd);
        if (listen_fd_ >= 0) ::unlink(socket_path_.c_str());
    }

    Result<void> start();
    Result<void> run() override;
    void stop() override {
        stopping_ = true;
        std::uint64_t one = 1;
        (void)!::write(wake_fd_, &one, sizeof one);
    }

  private:
    void serve_local();
    wire::Message handle(const wire::Message& request);
    wire::Message take_session(const wire::Message& request);
    wire::Message show() const;
    wire::Message log_out(std::string_view reason);
    Result<void> connect_and_resume();
    void channel_readable();
    void drop_channel(std::string_view why);
    void forget(std::string_view why);
    void keepalive(std::int64_t now);
    Result<wire::Message> exchange(const std::string& message, std::string_view expect);
    // A message from cugd that is not an answer: push, presence, or an end.
    // False when the channel or the session is gone.
    bool unsolicited(const wire::Message& m);
    Result<void> apply_push(const wire::Message& outer);
    void answer_presence(const wire::Message& m);
    void drain();
    void send_hello(std::int64_t now);
    void udp_readable();
    // The data plane follows the session: its pairs, keys and addresses.
    void sync_dataplane();

    AgentConfig config_;
    std::filesystem::path socket_path_;
    int listen_fd_ = -1, wake_fd_ = -1, signal_fd_ = -1;
    std::unique_ptr<dataplane::DataPlane> dataplane_;
    std::optional<net::Endpoint> server_udp_;  // cugd's address and port, over UDP
    std::atomic<bool> stopping_{false};
    std::optional<Held> held_;
    std::optional<net::TlsStream> channel_;
    wire::Decoder decoder_{protocol::channel_limits()};
    std::string state_ = "idle";  // idle, connected, reconnecting
    std::int64_t next_attempt_ = 0, backoff_ = 1, last_ping_ = 0, last_heard_ = 0;
};

Result<void> AgentImpl::start() {
    socket_path_ = agent_socket(config_.socket_dir, config_.interface);
    listen_fd_ = CUG_TRY(net::listen_local(socket_path_, "cug-tun"));
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
    if (!config_.user.empty()) CUG_CHECK(cli::drop_privileges(config_.user, true));
    CUG_CHECK(dataplane_->start_workers());
    return ok();
}

// One request and reply on the control channel, with a deadline.
Result<wire::Message> AgentImpl::exchange(const std::string& message, std::string_view expect) {
    timeval tv{5, 0};
    setsockopt(channel_->fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CUG_CHECK(write_message(*channel_, message));
    for (;;) {
        auto reply = CUG_TRY(read_message(*channel_, decoder_));
        const std::string type(reply.get("type").value_or(""));
        if (type == "pong") continue;
        if (type == "push" || type == "presence") {
            if (!unsolicited(reply)) return make_error(Errc::protocol, "the session ended");
            continue;
        }
        if (type != expect)
            return make_error(Errc::protocol, "cugd answered '{}'",
                              type.empty() ? std::string("nothing") : type);
        timeval none{0, 0};
        setsockopt(channel_->fd(), SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
        return reply;
    }
}

Result<void> AgentImpl::connect_and_resume() {
    channel_.reset();
    decoder_ = wire::Decoder(protocol::channel_limits());
    const int fd = CUG_TRY(connect_tcp(held_->server, std::chrono::seconds(5)));
    auto context = CUG_TRY(net::TlsContext::client());
    channel_.emplace(
        CUG_TRY(net::TlsStream::connect(context, fd, held_->server_key, std::chrono::seconds(5))));
    const Bytes exporter =
        CUG_TRY(channel_->exporter(protocol::exporter_resume, protocol::exporter_size));
    wire::Message resume;
    CUG_CHECK(resume.add("type", "resume"));
    CUG_CHECK(resume.add_bytes("session", held_->bundle.session));
    CUG_CHECK(
        resume.add_bytes("proof", protocol::resume_proof(held_->resume_key.view(), exporter)));
    held_->channel_push_key = protocol::channel_push_key(held_->push_key.view(), exporter);
    held_->push_seq = 0;
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    server_udp_.reset();
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0)
        server_udp_ = net::endpoint_from_sockaddr(&peer);
    auto resumed = exchange(resume.encode(), "resumed");
    if (!resumed) {
        channel_.reset();
        return std::move(resumed).error();
    }
    if (!held_->acknowledged) {
        // The patent's step 12: the terminal has its keys.
        wire::Message ack;
        CUG_CHECK(ack.add("type", "ack"));
        CUG_TRY(exchange(ack.encode(), "acked"));
        held_->acknowledged = true;
    }
    state_ = "connected";
    backoff_ = 1;
    last_ping_ = last_heard_ = unix_now();
    held_->hello_answered = false;
    send_hello(last_heard_);
    return ok();
}

// Pushes from cugd, applied to the session's picture (the data plane takes
// its peers and keys from it).
Result<void> AgentImpl::apply_push(const wire::Message& outer) {
    auto inner =
        CUG_TRY(protocol::open_push(held_->channel_push_key.view(), held_->push_seq + 1, outer));
    auto decoded = protocol::decode_push(inner, held_->bundle.groups);
    inner.wipe();
    auto push = CUG_TRY(std::move(decoded));
    ++held_->push_seq;
    auto& b = held_->bundle;
    using Kind = protocol::Push::Kind;
    switch (push.kind) {
        case Kind::sync:
            if (push.sync.session != b.session)
                return make_error(Errc::protocol, "cugd sent another session's picture");
            b = std::move(push.sync);
            held_->pending.clear();  // the picture holds the current epochs
            break;
        case Kind::peer_up:
            for (auto& peer : push.peers) {
                auto same = std::find_if(b.peers.begin(), b.peers.end(), [&](const auto& p) {
                    return p.user == peer.user && p.group == peer.group;
                });
                if (auto installed = held_->pending.find(peer.group);
                    installed != held_->pending.end())
                    std::erase_if(installed->second.second,
                                  [&](const auto& p) { return p.user == peer.user; });
                if (same != b.peers.end())
                    *same = std::move(peer);
                else
                    b.peers.push_back(std::move(peer));
            }
            break;
        case Kind::peer_down:
            std::erase_if(b.peers, [&](const auto& p) {
                return p.user == push.user && (push.group.empty() || p.group == push.group);
            });
            break;
        case Kind::group_down:
            held_->pending.erase(push.group);
            std::erase_if(b.peers, [&](const auto& p) { return p.group == push.group; });
            std::erase_if(b.groups, [&](const auto& g) { return g.name == push.group; });
            fmt::print(stderr, "cug-tun: {} left {}\n", held_->user, push.group);
            break;
        case Kind::endpoint:
            for (auto& p : b.peers)
                if (p.user == push.user) p.endpoint = push.endpoint;
            break;
        case Kind::rekey: {
            // Installed for receiving (in the data plane before cugd hears
            // so); sending switches on "activate".
            held_->pending[push.group] = {push.key_id, std::move(push.peers)};
            sync_dataplane();
            wire::Message done;
            CUG_CHECK(done.add("type", "rekeyed"));
            CUG_CHECK(done.add("group", push.group));
            CUG_CHECK(done.add_u64("key_id", push.key_id));
            CUG_CHECK(write_message(*channel_, done.encode()));
            break;
        }
        case Kind::activate: {
            auto installed = held_->pending.find(push.group);
            if (installed == held_->pending.end() || installed->second.first != push.key_id) {
                // A sync since the install (a resume during the rotation)
                // brought these keys as the current ones already.
                auto group = std::find_if(b.groups.begin(), b.groups.end(),
                                          [&](const auto& g) { return g.name == push.group; });
                if (group != b.groups.end() && group->key_id >= push.key_id) break;
                return make_error(Errc::protocol, "cugd activated keys this terminal lacks");
            }
            // Peers that came or went since the install are already right.
            for (auto& p : installed->second.second) {
                auto same = std::find_if(b.peers.begin(), b.peers.end(), [&](const auto& q) {
                    return q.user == p.user && q.group == p.group;
                });
                if (same != b.peers.end()) *same = std::move(p);
            }
            for (auto& g : b.groups)
                if (g.name == push.group) g.key_id = push.key_id;
            held_->pending.erase(installed);
            break;
        }
    }
    return ok();
}

void AgentImpl::sync_dataplane() {
    if (!held_) return dataplane_->clear();
    const auto& b = held_->bundle;
    dataplane::View v;
    for (const auto& g : b.groups)
        v.groups.push_back({g.name, g.prefix, g.address});
    for (const auto& p : b.peers) {
        auto group = std::find_if(b.groups.begin(), b.groups.end(),
                                  [&](const auto& g) { return g.name == p.group; });
        if (group == b.groups.end()) continue;
        dataplane::PeerView pv;
        pv.user = p.user;
        pv.group = p.group;
        pv.address = p.address;
        pv.endpoint = p.endpoint;
        pv.send_index = p.send_index;
        pv.recv_index = p.recv_index;
        pv.not_after = p.not_after;
        pv.current = {p.key_id, p.send_key.view(), p.recv_key.view()};
        if (auto installed = held_->pending.find(p.group); installed != held_->pending.end())
            for (const auto& q : installed->second.second)
                if (q.user == p.user && q.recv_index == p.recv_index)
                    pv.next = dataplane::KeyView{installed->second.first, q.send_key.view(),
                                                 q.recv_key.view()};
        v.peers.push_back(std::move(pv));
    }
    if (auto updated = dataplane_->update(v); !updated)
        fmt::print(stderr, "cug-tun: {}\n", updated.error().message);
}

// cugd asks the card to show it is still in the reader: the 9E key (no PIN)
// signs a challenge bound to this channel. A card that is gone cannot.
void AgentImpl::answer_presence(const wire::Message& m) {
    wire::Message reply;
    (void)reply.add("type", "presence");
    auto signature = [&]() -> Result<Bytes> {
        const Bytes challenge = CUG_TRY(m.get_bytes("challenge", 64));
        const Bytes exporter =
            CUG_TRY(channel_->exporter(protocol::exporter_presence, protocol::exporter_size));
        auto card = CUG_TRY(card::Card::open(held_->reader));
        return card.sign_presence(protocol::presence_digest(challenge, exporter));
    }();
    if (signature) {
        (void)reply.add_bytes("signature", *signature);
    } else {
        fmt::print(stderr, "cug-tun: cannot answer cugd's presence check: {}\n",
                   signature.error().message);
        (void)reply.add("error", wire::quote_for_message(signature.error().message, 120));
    }
    if (!write_message(*channel_, reply.encode())) drop_channel("cannot write");
}

bool AgentImpl::unsolicited(const wire::Message& m) {
    last_heard_ = unix_now();
    const std::string type(m.get("type").value_or(""));
    if (type == "push") {
        if (auto applied = apply_push(m); !applied) {
            drop_channel(applied.error().message);
            return false;
        }
        sync_dataplane();
        return true;
    }
    if (type == "presence") {
        answer_presence(m);
        return channel_.has_value();
    }
    if (type == "replaced") {
        forget("the user logged in at another terminal");
        return false;
    }
    if (type == "absent") {
        forget("the card did not answer cugd's presence check");
        return false;
    }
    if (type == "expired" || type == "revoked" || type == "kicked") {
        forget(fmt::format("cugd says: {}", type));
        return false;
    }
    return true;  // pong, or something newer this agent does not know
}

// Messages already decoded but not yet handled (they came with an answer).
void AgentImpl::drain() {
    while (channel_) {
        auto m = decoder_.next();
        if (!m) return drop_channel("a malformed message");
        if (!*m || !unsolicited(**m)) return;
    }
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

void AgentImpl::udp_readable() {
    for (;;) {
        std::uint8_t buf[2048];
        const ssize_t n = ::recv(dataplane_->control_fd(), buf, sizeof buf, 0);
        if (n < 0) return;
        if (!held_) continue;
        auto observed = protocol::open_udp_reply(held_->udp_key.view(), held_->bundle.session,
                                                 held_->hello_counter,
                                                 ByteView(buf, static_cast<std::size_t>(n)));
        if (!observed) continue;  // the data plane's packets will go elsewhere
        held_->hello_answered = true;
        held_->next_hello = unix_now() + config_.keepalive.count();
        held_->observed = *observed;
    }
}

void AgentImpl::forget(std::string_view why) {
    if (held_) fmt::print(stderr, "cug-tun: {}'s session ended: {}\n", held_->user, why);
    held_.reset();  // the keys are wiped first
    dataplane_->clear();
    channel_.reset();
    state_ = "idle";
}

void AgentImpl::drop_channel(std::string_view why) {
    channel_.reset();
    if (!held_) return;
    fmt::print(stderr, "cug-tun: the channel to cugd is down ({}); resuming\n", why);
    state_ = "reconnecting";
    next_attempt_ = unix_now() + backoff_;
    backoff_ = std::min<std::int64_t>(backoff_ * 2, config_.max_backoff.count());
}

void AgentImpl::channel_readable() {
    std::uint8_t buf[16384];
    net::TlsWait wait;
    auto n = channel_->read(buf, wait);
    if (!n) return drop_channel(n.error().message);
    if (*n == 0) return;
    if (!decoder_.feed(ByteView(buf, *n))) return drop_channel("a malformed message");
    for (;;) {
        auto m = decoder_.next();
        if (!m) return drop_channel("a malformed message");
        if (!*m) return;
        if (!unsolicited(**m)) return;
    }
}

void AgentImpl::keepalive(std::int64_t now) {
    // The session's end holds even when cugd cannot say so: the keys go.
    if (held_ && held_->bundle.expires > 0 && now >= held_->bundle.expires)
        return forget("the session reached its end");
    if (state_ == "reconnecting" && held_ && now >= next_attempt_) {
        auto resumed = connect_and_resume();
        if (!resumed) {
            if (resumed.error().code == Errc::protocol || resumed.error().code == Errc::permission)
                return forget(resumed.error().message);  // cugd refused: the session is gone
            return drop_channel(resumed.error().message);
        }
        fmt::print(stderr, "cug-tun: resumed {}'s session\n", held_->user);
        return;
    }
    if (!channel_) return;
    if (now - last_heard_ > 3 * config_.keepalive.count()) return drop_channel("cugd went silent");
    if (held_ && now >= held_->next_hello) send_hello(now);
    if (now - last_ping_ >= config_.keepalive.count()) {
        last_ping_ = now;
        wire::Message ping;
        (void)ping.add("type", "ping");
        if (!write_message(*channel_, ping.encode())) drop_channel("cannot write");
    }
}

wire::Message AgentImpl::take_session(const wire::Message& r) {
    wire::Message reply;
    auto fail = [&](const Error& e) {
        held_.reset();
        dataplane_->clear();
        channel_.reset();
        state_ = "idle";
        (void)reply.add("errno", "1");
        (void)reply.add("message", e.message);
        return reply;
    };
    if (held_) log_out("replaced by a new login on this terminal");
    auto parsed = [&]() -> Result<Held> {
        Held h;
        h.user = std::string(CUG_TRY(r.get("user")));
        h.server = std::string(CUG_TRY(r.get("server")));
        h.reader = std::string(CUG_TRY(r.get("reader")));
        h.server_key =
            CUG_TRY(crypto::PublicKey::from_der(CUG_TRY(r.get_bytes("server_key", 512))));
        auto secret = [&](std::string_view key) -> Result<crypto::SecretBuffer> {
            Bytes b = CUG_TRY(r.get_bytes(key, 32));
            auto s = crypto::SecretBuffer::copy_of(b);
            explicit_bzero(b.data(), b.size());
            return s;
        };
        h.resume_key = CUG_TRY(secret("resume_key"));
        h.push_key = CUG_TRY(secret("push_key"));
        h.udp_key = CUG_TRY(secret("udp_key"));
        Bytes text = CUG_TRY(r.get_bytes("bundle", protocol::max_sealed));
        auto message = wire::parse_message(as_chars(text), protocol::channel_limits());
        explicit_bzero(text.data(), text.size());
        if (!message) return std::move(message).error();
        auto bundle = protocol::decode_bundle(*message);
        message->wipe();
        h.bundle = CUG_TRY(std::move(bundle));
        h.since = unix_now();
        return h;
    }();
    if (!parsed) return fail(parsed.error());
    held_ = std::move(*parsed);
    if (auto resumed = connect_and_resume(); !resumed) return fail(resumed.error());
    sync_dataplane();
    fmt::print(stderr, "cug-tun: took over {}'s session\n", held_->user);
    (void)reply.add("errno", "0");
    return reply;
}

wire::Message AgentImpl::show() const {
    wire::Message m;
    (void)m.add("interface", config_.interface);
    (void)m.add("state", state_);
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
    (void)m.add("errno", "0");
    return m;
}

wire::Message AgentImpl::log_out(std::string_view reason) {
    wire::Message reply;
    if (!held_) {
        (void)reply.add("errno", "0");
        (void)reply.add("message", "no session");
        return reply;
    }
    const std::string user = held_->user;
    // The keys go first; telling cugd needs only the open channel.
    held_.reset();
    dataplane_->clear();
    bool told = false;
    if (channel_) {
        wire::Message m;
        (void)m.add("type", "logout");
        (void)m.add("reason", reason);
        told = exchange(m.encode(), "bye").ok();
    }
    channel_.reset();
    state_ = "idle";
    fmt::print(stderr, "cug-tun: logged {} out ({}){}\n", user, reason,
               told ? "" : "; cugd was not told and will expire the session");
    (void)reply.add("errno", "0");
    (void)reply.add("message", told ? "logged out" : "logged out; cugd not reached");
    return reply;
}

wire::Message AgentImpl::handle(const wire::Message& request) {
    const std::string cmd(request.get("cmd").value_or(""));
    if (cmd == "session") return take_session(request);
    if (cmd == "show") return show();
    if (cmd == "logout") return log_out(request.get("reason").value_or("cug-logout"));
    wire::Message reply;
    (void)reply.add("errno", "1");
    (void)reply.add("message", "unknown command");
    return reply;
}

void AgentImpl::serve_local() {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    if (net::trusted_local_peer(fd)) {
        auto request = net::read_local(fd, std::chrono::seconds(2), protocol::channel_limits());
        wire::Message reply;
        if (request) {
            reply = handle(*request);
            request->wipe();
        } else {
            (void)reply.add("errno", "1");
            (void)reply.add("message", request.error().message);
        }
        (void)net::write_local(fd, reply.encode());
    }
    ::close(fd);
}

Result<void> AgentImpl::run() {
    while (!stopping_) {
        if (channel_) drain();
        pollfd fds[5] = {{listen_fd_, POLLIN, 0},
                         {wake_fd_, POLLIN, 0},
                         {signal_fd_, POLLIN, 0},
                         {channel_ ? channel_->fd() : -1, POLLIN, 0},
                         {dataplane_->control_fd(), POLLIN, 0}};
        const int n = ::poll(fds, 5, 1000);
        if (n < 0 && errno != EINTR) return make_error(Errc::os, "poll: {}", std::strerror(errno));
        if (fds[2].revents & POLLIN) {
            signalfd_siginfo info;
            (void)!::read(signal_fd_, &info, sizeof info);
            stopping_ = true;
        }
        if (fds[0].revents & POLLIN) serve_local();
        if (channel_ && (fds[3].revents & (POLLIN | POLLHUP | POLLERR))) channel_readable();
        if (fds[4].revents & POLLIN) udp_readable();
        keepalive(unix_now());
    }
    // Stopping the agent takes the terminal out of its groups.
    if (held_) log_out("cug-tun stopped");
    return ok();
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::create(AgentConfig config) {
    auto agent = std::make_unique<AgentImpl>(std::move(config));
    CUG_CHECK(agent->start());
    return std::unique_ptr<Agent>(std::move(agent));
}

}  // namespace cug::terminal
