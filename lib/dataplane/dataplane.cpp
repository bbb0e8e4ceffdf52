#include "dataplane/dataplane.hpp"

#include "core/time.hpp"
#include "crypto/aead.hpp"
#include "dataplane/keys.hpp"
#include "dataplane/offload.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/replay.hpp"
#include "dataplane/tun.hpp"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace cug::dataplane {

const char* drop_name(Drop reason) {
    static constexpr const char* names[] = {
        "malformed", "not_data",    "unknown_index",  "auth_failed",
        "replay",    "key_expired", "wrong_source",   "wrong_destination",
        "not_ip",    "no_peer",     "not_our_source", "no_endpoint",
        "peer_away", "too_big",     "send_failed",    "tun_write_failed"};
    static_assert(std::size(names) == drop_reasons);
    return names[static_cast<unsigned>(reason)];
}

namespace {

constexpr unsigned batch = 64;

struct Counters {
    std::atomic<std::uint64_t> rx_bytes{0}, tx_bytes{0}, rx_packets{0}, tx_packets{0};
    std::atomic<std::int64_t> last_rx{0}, last_tx{0};
};

// One pair in the table. The table is rebuilt on every update; what must
// survive it (keys with their counters and windows, statistics) is shared.
struct Pair {
    std::string user, group;
    net::Address peer_address, our_address;
    std::uint32_t send_index = 0, recv_index = 0;
    bool has_endpoint = false, away = false;
    sockaddr_in6 endpoint{};
    std::shared_ptr<DirectionKey> send;
    std::vector<std::shared_ptr<DirectionKey>> recv;  // current first; next or previous after
    std::shared_ptr<Counters> counters;
};

struct AddressKey {
    std::array<std::uint8_t, 16> bytes;
    bool operator==(const AddressKey&) const = default;
};
struct AddressHash {
    std::size_t operator()(const AddressKey& k) const {
        std::uint64_t a, b;
        std::memcpy(&a, k.bytes.data(), 8);
        std::memcpy(&b, k.bytes.data() + 8, 8);
        return std::hash<std::uint64_t>()(a * 0x9e3779b97f4a7c15ull ^ b);
    }
};
AddressKey key_of(const net::Address& a) {
    return {a.to_v6_bytes()};
}

struct Table {
    std::vector<Pair> pairs;
    std::unordered_map<std::uint32_t, std::size_t> by_index;
    std::unordered_map<AddressKey, std::size_t, AddressHash> by_address;
};

struct Worker {
    int tun = -1, udp = -1, wake = -1;
    std::array<std::atomic<std::uint64_t>, drop_reasons> drops{};
    std::thread thread;
    void drop(Drop reason, std::size_t packets = 1) {
        drops[static_cast<unsigned>(reason)].fetch_add(packets, std::memory_order_relaxed);
    }
};

class Impl final : public DataPlane {
  public:
    Impl(Config config, TunDevice tun, Netlink netlink)
        : config_(std::move(config)), tun_(std::move(tun)), netlink_(std::move(netlink)) {}
    ~Impl() override;

    Result<void> open_sockets();
    Result<void> start_workers() override;
    Result<void> update(const View& view) override;
    void clear() override;
    Stats stats() const override;
    std::uint16_t port() const override { return port_; }
    int control_fd() const override { return control_[0]; }
    void send_control(ByteView datagram, const net::Endpoint& to) override;
    void count(Drop reason) override {
        agent_drops_[static_cast<unsigned>(reason)].fetch_add(1, std::memory_order_relaxed);
    }

  private:
    void run(unsigned id);
    void from_tun(unsigned id, Worker& w, const Table& table);
    void from_udp(unsigned id, Worker& w, const Table& table);
    std::shared_ptr<const Table> table() const {
        return std::atomic_load_explicit(&table_, std::memory_order_acquire);
    }

    Config config_;
    TunDevice tun_;
    Netlink netlink_;
    std::vector<std::unique_ptr<Worker>> workers_;
    int control_[2] = {-1, -1};
    std::uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::shared_ptr<const Table> table_ = std::make_shared<Table>();
    std::array<std::atomic<std::uint64_t>, drop_reasons> agent_drops_{};  // count()
    // What the pairs that ended had counted, per group; taken with the table
    // under one lock so that stats() (any thread) never sees a pair's
    // traffic twice or not at all.
    mutable std::mutex stats_mutex_;
    std::map<std::string, GroupStats> retired_;
    // Every key held, so that none starts from counter 0 twice (keys.hpp).
    std::shared_ptr<KeyLedger> ledger_ = KeyLedger::create();
    // The agent thread's own records.
    std::set<std::pair<net::Address, unsigned>> addresses_;  // on the device
};

Impl::~Impl() {
    stopping_ = true;
    for (auto& w : workers_) {
        std::uint64_t one = 1;
        if (w->wake >= 0) (void)!::write(w->wake, &one, sizeof one);
    }
    for (auto& w : workers_) {
        if (w->thread.joinable()) w->thread.join();
        for (int fd : {w->udp, w->wake})
            if (fd >= 0) ::close(fd);
    }
    for (int fd : control_)
        if (fd >= 0) ::close(fd);
}

Result<void> Impl::open_sockets() {
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, control_) != 0)
        return make_error(Errc::os, "socketpair: {}", std::strerror(errno));
    std::uint16_t port = config_.port;
    for (int queue : tun_.queues()) {
        auto w = std::make_unique<Worker>();
        w->tun = queue;
        workers_.push_back(std::move(w));
        Worker& worker = *workers_.back();
        worker.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        worker.udp = ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (worker.udp < 0 || worker.wake < 0)
            return make_error(Errc::os, "creating the UDP socket: {}", std::strerror(errno));
        int off = 0, on = 1, size = 4 << 20;
        setsockopt(worker.udp, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        setsockopt(worker.udp, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
        setsockopt(worker.udp, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        setsockopt(worker.udp, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        // Datagrams of one flow arrive joined (UDP GRO); from_udp cuts them.
        if (config_.offload) setsockopt(worker.udp, SOL_UDP, UDP_GRO, &on, sizeof on);
        sockaddr_in6 any{};
        any.sin6_family = AF_INET6;
        any.sin6_port = htons(port);
        if (::bind(worker.udp, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0)
            return make_error(Errc::unavailable, "cannot bind UDP port {}: {}", port,
                              std::strerror(errno));
        socklen_t len = sizeof any;
        getsockname(worker.udp, reinterpret_cast<sockaddr*>(&any), &len);
        port = ntohs(any.sin6_port);  // port 0: the others join the one the first got
    }
    port_ = port;
    return ok();
}

Result<void> Impl::start_workers() {
    for (unsigned i = 0; i < workers_.size(); ++i)
        workers_[i]->thread = std::thread([this, i] { run(i); });
    return ok();
}

void Impl::send_control(ByteView datagram, const net::Endpoint& to) {
    sockaddr_storage ss{};
    const auto len = static_cast<socklen_t>(net::to_sockaddr(to, &ss, true));
    (void)::sendto(workers_[0]->udp, datagram.data(), datagram.size(), 0,
                   reinterpret_cast<sockaddr*>(&ss), len);
}

Result<void> Impl::update(const View& view) {
    const std::int64_t now = unix_now();
    const unsigned workers = static_cast<unsigned>(workers_.size());
    auto old = table();
    std::map<std::pair<std::string, std::string>, const Pair*> before;
    for (const auto& p : old->pairs)
        before[{p.user, p.group}] = &p;

    auto next = std::make_shared<Table>();
    for (const auto& v : view.peers) {
        const GroupView* group = nullptr;
        for (const auto& g : view.groups)
            if (g.name == v.group) group = &g;
        if (!group) continue;
        Pair p;
        p.user = v.user;
        p.group = v.group;
        p.peer_address = v.address;
        p.our_address = group->address;
        p.send_index = v.send_index;
        p.recv_index = v.recv_index;
        p.away = v.away;
        if (v.endpoint) {
            sockaddr_storage ss{};
            net::to_sockaddr(*v.endpoint, &ss, true);
            std::memcpy(&p.endpoint, &ss, sizeof p.endpoint);
            p.has_endpoint = true;
        }
        // The same session of the same peer keeps its statistics and its
        // previous receive key; the keys themselves come from the ledger,
        // which never starts the same bytes from counter 0 twice.
        const Pair* was = nullptr;
        if (auto it = before.find({v.user, v.group}); it != before.end() &&
                                                      it->second->recv_index == v.recv_index &&
                                                      it->second->send_index == v.send_index)
            was = it->second;
        p.send = CUG_TRY(
            ledger_->key(KeyUse::send, v.current.key_id, v.current.send_key, v.not_after, workers));
        p.send->not_after = v.not_after;
        auto current = CUG_TRY(ledger_->key(KeyUse::receive, v.current.key_id, v.current.recv_key,
                                            v.not_after, workers));
        current->until = 0;
        current->not_after = v.not_after;
        p.recv.push_back(current);
        if (v.next) {
            auto installed = CUG_TRY(ledger_->key(KeyUse::receive, v.next->key_id, v.next->recv_key,
                                                  v.not_after, workers));
            installed->not_after = v.not_after;
            if (installed != current) p.recv.push_back(installed);
        }
        if (was) {
            // The key this pair received with until now, if a rotation just
            // replaced it, stays a little for packets already on their way.
            const auto& previous = was->recv.front();
            if (std::find(p.recv.begin(), p.recv.end(), previous) == p.recv.end()) {
                previous->until = now + config_.rotation_grace.count();
                p.recv.push_back(previous);
            }
            for (const auto& k : was->recv)
                if (k != previous && k->until.load() > now &&
                    std::find(p.recv.begin(), p.recv.end(), k) == p.recv.end())
                    p.recv.push_back(k);
        }
        // Statistics belong to the peer's session, like the keys.
        p.counters = was ? was->counters : std::make_shared<Counters>();
        next->pairs.push_back(std::move(p));
    }
    for (std::size_t i = 0; i < next->pairs.size(); ++i) {
        next->by_index.emplace(next->pairs[i].recv_index, i);
        next->by_address.emplace(key_of(next->pairs[i].peer_address), i);
    }
    {
        std::set<const Counters*> kept;
        for (const auto& p : next->pairs)
            kept.insert(p.counters.get());
        std::lock_guard lock(stats_mutex_);
        for (const auto& p : old->pairs) {
            if (kept.count(p.counters.get())) continue;
            GroupStats& g = retired_[p.group];
            g.group = p.group;
            g.rx_bytes += p.counters->rx_bytes.load(std::memory_order_relaxed);
            g.tx_bytes += p.counters->tx_bytes.load(std::memory_order_relaxed);
            g.rx_packets += p.counters->rx_packets.load(std::memory_order_relaxed);
            g.tx_packets += p.counters->tx_packets.load(std::memory_order_relaxed);
        }
        std::atomic_store_explicit(&table_, std::shared_ptr<const Table>(std::move(next)),
                                   std::memory_order_release);
    }
    ledger_->prune(now);

    // The device's addresses follow the groups.
    std::set<std::pair<net::Address, unsigned>> want;
    for (const auto& g : view.groups)
        want.insert({g.address, g.prefix.length});
    Result<void> outcome = ok();
    for (auto it = addresses_.begin(); it != addresses_.end();) {
        if (want.count(*it)) {
            ++it;
            continue;
        }
        if (auto r = netlink_.delete_address(tun_.index(), it->first, it->second); !r && outcome)
            outcome = std::move(r);
        it = addresses_.erase(it);
    }
    for (const auto& a : want) {
        if (addresses_.count(a)) continue;
        if (auto r = netlink_.add_address(tun_.index(), a.first, a.second); !r) {
            if (outcome) outcome = std::move(r);
            continue;
        }
        addresses_.insert(a);
    }
    return outcome;
}

void Impl::clear() {
    (void)update(View{});
}

Stats Impl::stats() const {
    Stats s;
    s.interface = tun_.name();
    s.mtu = config_.mtu;
    s.threads = static_cast<unsigned>(workers_.size());
    s.offload = config_.offload;
    s.port = port_;
    for (std::size_t i = 0; i < drop_reasons; ++i) {
        s.drops[i] = agent_drops_[i].load(std::memory_order_relaxed);
        for (const auto& w : workers_)
            s.drops[i] += w->drops[i].load(std::memory_order_relaxed);
    }
    std::map<std::string, GroupStats> groups;
    std::shared_ptr<const Table> now;
    {
        std::lock_guard lock(stats_mutex_);
        groups = retired_;
        now = table();
    }
    for (const auto& p : now->pairs) {
        PeerStats ps;
        ps.user = p.user;
        ps.group = p.group;
        ps.address = p.peer_address;
        ps.rx_bytes = p.counters->rx_bytes.load(std::memory_order_relaxed);
        ps.tx_bytes = p.counters->tx_bytes.load(std::memory_order_relaxed);
        ps.rx_packets = p.counters->rx_packets.load(std::memory_order_relaxed);
        ps.tx_packets = p.counters->tx_packets.load(std::memory_order_relaxed);
        ps.last_rx = p.counters->last_rx.load(std::memory_order_relaxed);
        ps.last_tx = p.counters->last_tx.load(std::memory_order_relaxed);
        GroupStats& g = groups[p.group];
        g.group = p.group;
        g.rx_bytes += ps.rx_bytes;
        g.tx_bytes += ps.tx_bytes;
        g.rx_packets += ps.rx_packets;
        g.tx_packets += ps.tx_packets;
        s.peers.push_back(std::move(ps));
    }
    for (auto& [name, g] : groups)
        s.groups.push_back(std::move(g));
    return s;
}

void Impl::run(unsigned id) {
    Worker& w = *workers_[id];
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);  // signals are the agent thread's
    while (!stopping_.load(std::memory_order_relaxed)) {
        pollfd fds[3] = {{w.udp, POLLIN, 0}, {w.tun, POLLIN, 0}, {w.wake, POLLIN, 0}};
        if (::poll(fds, 3, -1) < 0 && errno != EINTR) break;
        if (fds[2].revents) break;
        const auto t = table();  // one table per round
        if (fds[0].revents & POLLIN) from_udp(id, w, *t);
        if (fds[1].revents & POLLIN) from_tun(id, w, *t);
    }
}

// The sending side's buffers, allocated once per thread: a read buffer for
// one super-packet, and room for the datagrams of several.
struct TxSlots {
    static constexpr unsigned count = 256;
    static constexpr unsigned messages = 64;
    std::size_t stride = 0;
    std::vector<std::uint8_t> read = std::vector<std::uint8_t>(vnet_header_size + 65536);
    std::vector<std::uint8_t> data;
    std::array<std::size_t, count> lengths{};
    std::array<iovec, count> iovs{};
    std::array<mmsghdr, messages> msgs{};
    std::array<sockaddr_in6, messages> addrs{};
    // One UDP_SEGMENT control message per message.
    std::array<std::array<std::uint8_t, CMSG_SPACE(sizeof(std::uint16_t))>, messages> controls{};
    explicit TxSlots(unsigned mtu)
        : stride((header_size + mtu + tag_size + 63) / 64 * 64), data(count * stride) {}
    std::uint8_t* slot(unsigned i) { return data.data() + i * stride; }
};

void Impl::from_tun(unsigned id, Worker& w, const Table& table) {
    thread_local TxSlots s(config_.mtu);
    const std::int64_t now = unix_now();
    const bool offload = config_.offload;
    unsigned n = 0, m = 0;  // slots and messages used
    // A super-packet can make up to 64 KiB / MSS segments: read while there is
    // room for as many as the smallest MSS we accept (536) would make.
    constexpr unsigned worst = 123;
    for (unsigned reads = 0;
         reads < batch && n + worst <= TxSlots::count && m + 2 <= TxSlots::messages; ++reads) {
        const ssize_t r = ::read(w.tun, s.read.data(), s.read.size());
        if (r < 0) break;
        VnetHeader vnet;
        ByteView packet;
        if (offload) {
            if (static_cast<std::size_t>(r) <= vnet_header_size) {
                w.drop(Drop::not_ip);
                continue;
            }
            vnet = read_vnet_header(s.read.data());
            packet = ByteView(s.read.data() + vnet_header_size,
                              static_cast<std::size_t>(r) - vnet_header_size);
        } else {
            packet = ByteView(s.read.data(), static_cast<std::size_t>(r));
        }
        if (vnet.gso_type == 0 && packet.size() > config_.mtu) {
            w.drop(Drop::too_big);
            continue;
        }
        // The device's gso_max_segs keeps super-packets to max_tso_segments;
        // a kernel that does not take that setting may send more than fit.
        if (segment_count(vnet, packet) > TxSlots::count - n) {
            w.drop(Drop::too_big);
            continue;
        }
        const std::size_t segments = segment(vnet, packet, s.slot(n) + header_size, s.stride,
                                             std::span(s.lengths.data() + n, TxSlots::count - n));
        if (segments == 0) {
            w.drop(Drop::not_ip);
            continue;
        }
        // Every segment has the super-packet's addresses: route once.
        auto inner = parse_inner(ByteView(s.slot(n) + header_size, s.lengths[n]));
        if (!inner) {
            w.drop(Drop::not_ip);
            continue;
        }
        auto found = table.by_address.find(key_of(inner->destination));
        if (found == table.by_address.end()) {
            w.drop(Drop::no_peer, segments);
            continue;
        }
        const Pair& p = table.pairs[found->second];
        if (!(inner->source == p.our_address)) {  // never from one group into another
            w.drop(Drop::not_our_source, segments);
            continue;
        }
        if (p.away) {
            w.drop(Drop::peer_away, segments);
            continue;
        }
        if (!p.has_endpoint) {
            w.drop(Drop::no_endpoint, segments);
            continue;
        }
        DirectionKey& key = *p.send;
        if (key.expired(now)) {
            w.drop(Drop::key_expired, segments);
            continue;
        }
        // The counters for all segments at once.
        const std::uint64_t first = key.counter.fetch_add(segments, std::memory_order_relaxed);
        std::size_t bytes = 0;
        bool sealed = true;
        for (std::size_t i = 0; i < segments && sealed; ++i) {
            std::uint8_t* buf = s.slot(n + static_cast<unsigned>(i));
            const std::size_t len = s.lengths[n + i];
            bytes += len;
            write_header(buf,
                         Header{static_cast<std::uint8_t>(key.key_id), p.send_index, first + i});
            sealed = key.contexts[id].seal(nonce_for(first + i), ByteView(buf, header_size),
                                           ByteView(buf + header_size, len),
                                           std::span(buf + header_size, len + tag_size));
            s.iovs[n + i] = {buf, header_size + len + tag_size};
        }
        if (!sealed) {
            w.drop(Drop::send_failed, segments);
            continue;
        }
        key.bytes.fetch_add(bytes, std::memory_order_relaxed);
        p.counters->tx_bytes.fetch_add(bytes, std::memory_order_relaxed);
        p.counters->tx_packets.fetch_add(segments, std::memory_order_relaxed);
        if (p.counters->last_tx.load(std::memory_order_relaxed) != now)
            p.counters->last_tx.store(now, std::memory_order_relaxed);
        // One message per run of datagrams the kernel may cut (UDP GSO: all
        // the same size but the last, at most 64 KiB together).
        for (std::size_t i = 0; i < segments;) {
            const std::size_t size = s.iovs[n + i].iov_len;
            std::size_t k = 1, total = size;
            while (i + k < segments && k < 64 && total + s.iovs[n + i + k].iov_len <= 65000 &&
                   s.iovs[n + i + k].iov_len <= size && (s.iovs[n + i + k - 1].iov_len == size))
                total += s.iovs[n + i + k++].iov_len;
            if (m == TxSlots::messages) {  // cannot happen with the loop's bound; be safe
                w.drop(Drop::send_failed, segments - i);
                break;
            }
            mmsghdr& msg = s.msgs[m];
            msg.msg_hdr = {};
            msg.msg_hdr.msg_iov = &s.iovs[n + i];
            msg.msg_hdr.msg_iovlen = k;
            s.addrs[m] = p.endpoint;
            msg.msg_hdr.msg_name = &s.addrs[m];
            msg.msg_hdr.msg_namelen = sizeof(sockaddr_in6);
            if (k > 1) {
                msg.msg_hdr.msg_control = s.controls[m].data();
                msg.msg_hdr.msg_controllen = s.controls[m].size();
                cmsghdr* c = CMSG_FIRSTHDR(&msg.msg_hdr);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
                const auto gso = static_cast<std::uint16_t>(size);
                std::memcpy(CMSG_DATA(c), &gso, sizeof gso);
            }
            ++m;
            i += k;
        }
        n += static_cast<unsigned>(segments);
    }
    unsigned sent = 0;
    while (sent < m) {
        const int r = ::sendmmsg(w.udp, s.msgs.data() + sent, m - sent, 0);
        if (r > 0) {
            sent += static_cast<unsigned>(r);
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        w.drop(Drop::send_failed, s.msgs[sent].msg_hdr.msg_iovlen);  // refused; go on
        ++sent;
    }
}

// The receiving side's buffers, allocated once per thread. With UDP GRO one
// read may hold many datagrams of one size (the last shorter).
struct RxSlots {
    static constexpr unsigned messages = 16;
    static constexpr std::size_t size = 65536 + 64;
    std::vector<std::uint8_t> data = std::vector<std::uint8_t>(messages * size);
    // A sealed packet kept while a first key is tried in place (a failed
    // open wipes its output, which is the ciphertext itself).
    std::vector<std::uint8_t> spare = std::vector<std::uint8_t>(size);
    std::array<mmsghdr, messages> msgs{};
    std::array<iovec, messages> iovs{};
    std::array<sockaddr_in6, messages> addrs{};
    std::array<std::array<std::uint8_t, CMSG_SPACE(sizeof(int))>, messages> controls{};
    Coalescer train;
    std::uint8_t* slot(unsigned i) { return data.data() + i * size; }
};

void Impl::from_udp(unsigned id, Worker& w, const Table& table) {
    thread_local RxSlots s;
    for (unsigned i = 0; i < RxSlots::messages; ++i) {
        s.iovs[i] = {s.slot(i), RxSlots::size};
        s.msgs[i].msg_hdr = {};
        s.msgs[i].msg_hdr.msg_iov = &s.iovs[i];
        s.msgs[i].msg_hdr.msg_iovlen = 1;
        s.msgs[i].msg_hdr.msg_name = &s.addrs[i];
        s.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6);
        s.msgs[i].msg_hdr.msg_control = s.controls[i].data();
        s.msgs[i].msg_hdr.msg_controllen = s.controls[i].size();
    }
    const int n = ::recvmmsg(w.udp, s.msgs.data(), RxSlots::messages, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    const std::int64_t now = unix_now();
    auto write_tun = [&](ByteView packet) {
        if (::write(w.tun, packet.data(), packet.size()) < 0) w.drop(Drop::tun_write_failed);
    };
    for (int i = 0; i < n; ++i) {
        std::uint8_t* base = s.slot(static_cast<unsigned>(i));
        const std::size_t total = s.msgs[i].msg_len;
        if (s.msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
            w.drop(Drop::too_big);
            continue;
        }
        if (total == 0) {  // an empty datagram: the loop below would not see it
            w.drop(Drop::malformed);
            continue;
        }
        // The size of the datagrams the kernel joined (UDP GRO), if it did.
        std::size_t step = total;
        for (cmsghdr* c = CMSG_FIRSTHDR(&s.msgs[i].msg_hdr); c;
             c = CMSG_NXTHDR(&s.msgs[i].msg_hdr, c))
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                int size = 0;
                std::memcpy(&size, CMSG_DATA(c), sizeof size);
                if (size > 0) step = static_cast<std::size_t>(size);
            }
        // The MTU is the sender's setting: what the network delivers (up to
        // the 64 KiB a read holds) is taken, whatever our own MTU.
        for (std::size_t offset = 0; offset < total; offset += step) {
            std::uint8_t* buf = base + offset;
            const std::size_t len = std::min(step, total - offset);
            const ByteView datagram(buf, len);
            if (buf[0] != type_data) {
                if (!is_control_reply(datagram)) {
                    w.drop(Drop::not_data);
                    continue;
                }
                if (::send(control_[1], buf, len, MSG_DONTWAIT) < 0) w.drop(Drop::not_data);
                continue;
            }
            auto header = parse_header(datagram);
            if (!header) {
                w.drop(Drop::malformed);
                continue;
            }
            auto found = table.by_index.find(header->index);
            if (found == table.by_index.end()) {
                w.drop(Drop::unknown_index);
                continue;
            }
            const Pair& p = table.pairs[found->second];
            // The key the hint names first; during a rotation the other one too.
            const std::size_t plain = len - overhead;
            std::uint8_t* inner_bytes = buf + header_size;
            const auto nonce = nonce_for(header->counter);
            DirectionKey* key = nullptr;
            bool expired = false, replayed = false;
            unsigned attempts = 0;
            for (int pass = 0; pass < 2 && !key; ++pass) {
                for (const auto& k : p.recv) {
                    const bool hinted = static_cast<std::uint8_t>(k->key_id) == header->key_hint;
                    if (hinted != (pass == 0)) continue;
                    if (k->retired(now)) continue;
                    if (k->expired(now)) {
                        expired = true;
                        continue;
                    }
                    {
                        std::lock_guard guard(k->lock);
                        if (!k->window.check(header->counter)) {
                            replayed = true;
                            continue;
                        }
                    }
                    if (attempts > 0)
                        std::memcpy(inner_bytes, s.spare.data(), plain + tag_size);
                    else if (p.recv.size() > 1)
                        std::memcpy(s.spare.data(), inner_bytes, plain + tag_size);
                    ++attempts;
                    if (!k->contexts[id].open(nonce, ByteView(buf, header_size),
                                              ByteView(inner_bytes, plain + tag_size),
                                              std::span(inner_bytes, plain)))
                        continue;
                    std::lock_guard guard(k->lock);
                    if (!k->window.update(header->counter)) {
                        replayed = true;
                        continue;
                    }
                    key = k.get();
                    break;
                }
            }
            if (!key) {
                w.drop(replayed ? Drop::replay : expired ? Drop::key_expired : Drop::auth_failed);
                continue;
            }
            key->bytes.fetch_add(plain, std::memory_order_relaxed);
            auto inner = parse_inner(ByteView(inner_bytes, plain));
            if (!inner) {
                w.drop(Drop::not_ip);
                continue;
            }
            if (!(inner->source == p.peer_address)) {
                w.drop(Drop::wrong_source);
                continue;
            }
            if (!(inner->destination == p.our_address)) {
                w.drop(Drop::wrong_destination);
                continue;
            }
            p.counters->rx_bytes.fetch_add(inner->length, std::memory_order_relaxed);
            p.counters->rx_packets.fetch_add(1, std::memory_order_relaxed);
            if (p.counters->last_rx.load(std::memory_order_relaxed) != now)
                p.counters->last_rx.store(now, std::memory_order_relaxed);
            const ByteView packet(inner_bytes, inner->length);
            if (!config_.offload) {
                write_tun(packet);
                continue;
            }
            // Segments of one flow in a row become one write (GRO).
            if (!s.train.empty() && s.train.append(packet)) continue;
            if (!s.train.empty()) write_tun(s.train.finish());
            if (s.train.start(packet)) continue;
            // Alone: an empty virtio header in front (over our header's tail).
            std::memset(inner_bytes - vnet_header_size, 0, vnet_header_size);
            write_tun(ByteView(inner_bytes - vnet_header_size, vnet_header_size + inner->length));
        }
    }
    if (!s.train.empty()) write_tun(s.train.finish());
}

}  // namespace

namespace {

// Whether this kernel takes UDP_SEGMENT (Linux 4.18 and later).
bool udp_gso_works() {
    const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int size = 1400;
    const bool works = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, sizeof size) == 0;
    ::close(fd);
    return works;
}

}  // namespace

Result<std::unique_ptr<DataPlane>> DataPlane::open(Config config) {
    if (config.mtu < min_mtu || config.mtu > max_mtu)
        return make_error(Errc::usage, "the MTU must be {} to {}, not {}", min_mtu, max_mtu,
                          config.mtu);
    if (config.threads == 0)
        config.threads = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
    if (config.threads > 64) return make_error(Errc::usage, "at most 64 threads");
    // Offloads need UDP GSO on the sockets and TSO on the device; a kernel
    // without either gets plain packets rather than a dead tunnel.
    if (config.offload && !udp_gso_works()) config.offload = false;
    auto netlink = CUG_TRY(Netlink::open());
    auto tun = CUG_TRY([&]() -> Result<TunDevice> {
        if (config.offload) {
            auto opened = TunDevice::open(config.interface, config.threads, true);
            if (!opened && opened.error().code != Errc::os) return opened;
            // No more segments per super-packet than a batch has room for,
            // whatever MSS a peer announces.
            if (opened && netlink.set_gso_max_segs(opened->index(), max_tso_segments))
                return opened;
            config.offload = false;  // TUNSETOFFLOAD or the cap refused
        }  // a device opened with offloads is gone here, before its name is taken again
        return TunDevice::open(config.interface, config.threads, false);
    }());
    CUG_CHECK(netlink.set_link(tun.index(), config.mtu, true));
    auto impl = std::make_unique<Impl>(std::move(config), std::move(tun), std::move(netlink));
    CUG_CHECK(impl->open_sockets());
    return std::unique_ptr<DataPlane>(std::move(impl));
}

}  // namespace cug::dataplane
