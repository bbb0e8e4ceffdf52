// The data plane for real, with the test as the peer: in a network namespace
// of a child process, a DataPlane with its TUN device and workers; the test
// seals packets with the pair's keys and sends them to the data plane's UDP
// port, reads what the kernel delivers from the TUN on the overlay address,
// and opens what the data plane sends to the peer's endpoint. Skipped when
// not root.
#include "dataplane/dataplane.hpp"
#include "core/time.hpp"
#include "crypto/aead.hpp"
#include "dataplane/packet.hpp"
#include "dataplane/tun.hpp"

#include "support/netns_child.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

using namespace cug;
using namespace cug::dataplane;

namespace {

#define EXPECT(cond)                                                                \
    do {                                                                            \
        if (!(cond)) {                                                              \
            std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                               \
        }                                                                           \
    } while (0)

const Bytes k_send(32, 0x11), k_recv(32, 0x22), k_send2(32, 0x33), k_recv2(32, 0x44);
const net::Address ours = *net::Address::parse("198.51.100.1");
const net::Address peer = *net::Address::parse("198.51.100.2");
const net::Address stranger = *net::Address::parse("198.51.100.3");

std::uint16_t checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2)
        sum += std::uint32_t{p[i]} << 8 | p[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

// An IPv4/UDP packet (UDP checksum 0: none).
Bytes udp_packet(const net::Address& from, const net::Address& to, std::uint16_t port,
                 std::string_view payload) {
    Bytes p(28 + payload.size());
    p[0] = 0x45;
    p[2] = static_cast<std::uint8_t>(p.size() >> 8);
    p[3] = static_cast<std::uint8_t>(p.size());
    p[8] = 64;
    p[9] = 17;
    std::memcpy(&p[12], from.bytes().data(), 4);
    std::memcpy(&p[16], to.bytes().data(), 4);
    const std::uint16_t c = checksum(p.data(), 20);
    p[10] = static_cast<std::uint8_t>(c >> 8);
    p[11] = static_cast<std::uint8_t>(c);
    p[20] = 0x30;  // source port 12345
    p[21] = 0x39;
    p[22] = static_cast<std::uint8_t>(port >> 8);
    p[23] = static_cast<std::uint8_t>(port);
    p[24] = static_cast<std::uint8_t>((8 + payload.size()) >> 8);
    p[25] = static_cast<std::uint8_t>(8 + payload.size());
    std::memcpy(&p[28], payload.data(), payload.size());
    return p;
}

Bytes seal(ByteView key, std::uint8_t hint, std::uint32_t index, std::uint64_t counter,
           ByteView inner) {
    Bytes d(overhead + inner.size());
    write_header(d.data(), Header{hint, index, counter});
    auto aead = crypto::Aes256Gcm::create(key);
    (void)aead->seal(nonce_for(counter), ByteView(d.data(), header_size), inner,
                     std::span(d.data() + header_size, inner.size() + tag_size));
    return d;
}

int udp_socket(const char* address, std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, address, &a.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
    return fd;
}
std::uint16_t port_of(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}
void send_to(int fd, const char* address, std::uint16_t port, ByteView data) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, address, &a.sin_addr);
    (void)::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
}
// One datagram within a second, or empty.
Bytes receive(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) return {};
    Bytes buf(65536);
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return buf;
}
bool eventually(const std::function<bool()>& f) {
    for (int i = 0; i < 100; ++i) {
        if (f()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}
std::uint64_t drops(const DataPlane& d, Drop r) {
    return d.stats().drops[static_cast<unsigned>(r)];
}

View picture(std::uint16_t peer_port, std::int64_t not_after) {
    View v;
    v.groups.push_back({"VPN1", *net::Prefix::parse("198.51.100.0/24"), ours});
    PeerView p;
    p.user = "USER-B";
    p.group = "VPN1";
    p.address = peer;
    p.endpoint = net::Endpoint{*net::Address::parse("127.0.0.1"), peer_port};
    p.send_index = 7;  // ours: the peer finds us by it
    p.recv_index = 9;  // the peer's
    p.not_after = not_after;
    p.current = {5, k_send, k_recv};
    v.peers.push_back(p);
    return v;
}

int child() {
    auto nl = Netlink::open();
    EXPECT(nl && nl->set_link(static_cast<int>(if_nametoindex("lo")), 65536, true));
    Config config;
    config.interface = "cugt0";
    config.threads = 2;
    config.port = 0;
    auto opened = DataPlane::open(config);
    EXPECT(opened);
    DataPlane& dp = **opened;
    EXPECT(dp.start_workers());
    const int peer_fd = udp_socket("127.0.0.1", 0);  // the peer's UDP endpoint
    EXPECT(peer_fd >= 0);
    EXPECT(dp.update(picture(port_of(peer_fd), unix_now() + 3600)));
    const int app = udp_socket("198.51.100.1", 2000);  // an application on our overlay address
    EXPECT(app >= 0);

    // Peer -> us: delivered to the application; each check counted.
    auto from_peer = [&](ByteView key, std::uint8_t hint, std::uint32_t index,
                         std::uint64_t counter, const net::Address& from, const net::Address& to,
                         std::string_view text) {
        const Bytes d = seal(key, hint, index, counter, udp_packet(from, to, 2000, text));
        send_to(peer_fd, "127.0.0.1", dp.port(), d);
        return d;
    };
    const Bytes first = from_peer(k_recv, 5, 9, 0, peer, ours, "hello");
    Bytes got = receive(app);
    EXPECT(std::string(got.begin(), got.end()) == "hello");
    EXPECT(eventually(
        [&] { return dp.stats().peers.size() == 1 && dp.stats().peers[0].rx_packets == 1; }));
    send_to(peer_fd, "127.0.0.1", dp.port(), first);  // the same again
    EXPECT(eventually([&] { return drops(dp, Drop::replay) == 1; }));
    from_peer(k_recv, 5, 9, 1, stranger, ours, "spoofed");
    EXPECT(eventually([&] { return drops(dp, Drop::wrong_source) == 1; }));
    from_peer(k_recv, 5, 9, 2, peer, stranger, "elsewhere");
    EXPECT(eventually([&] { return drops(dp, Drop::wrong_destination) == 1; }));
    from_peer(k_recv, 5, 10, 3, peer, ours, "who");
    EXPECT(eventually([&] { return drops(dp, Drop::unknown_index) == 1; }));
    from_peer(k_send, 5, 9, 4, peer, ours, "forged");  // the wrong key
    EXPECT(eventually([&] { return drops(dp, Drop::auth_failed) == 1; }));
    const Bytes junk{0x01, 0x02};
    send_to(peer_fd, "127.0.0.1", dp.port(), junk);
    EXPECT(eventually([&] { return drops(dp, Drop::malformed) == 1; }));
    EXPECT(receive(app).empty());  // none of those reached the application

    // Us -> peer: sealed with the send key, our index, counters from 0.
    send_to(app, "198.51.100.2", 3000, as_bytes(std::string_view("ping")));
    got = receive(peer_fd);
    auto h = parse_header(got);
    EXPECT(h && h->index == 7 && h->counter == 0 && h->key_hint == 5);
    Bytes inner(got.size() - overhead);
    auto opener = crypto::Aes256Gcm::create(k_send);
    EXPECT(opener->open(nonce_for(0), ByteView(got.data(), header_size),
                        ByteView(got.data() + header_size, got.size() - header_size), inner));
    auto in = parse_inner(inner);
    EXPECT(in && in->source == ours && in->destination == peer);
    EXPECT(std::string(inner.end() - 4, inner.end()) == "ping");
    send_to(app, "198.51.100.4", 3000, as_bytes(std::string_view("nobody")));
    EXPECT(eventually([&] { return drops(dp, Drop::no_peer) == 1; }));

    // A rotation: the new receive key works once installed; after the switch
    // we send with the new key and still take the old one for a while.
    View v = picture(port_of(peer_fd), unix_now() + 3600);
    v.peers[0].next = KeyView{6, k_send2, k_recv2};
    EXPECT(dp.update(v));
    from_peer(k_recv2, 6, 9, 0, peer, ours, "new key");
    got = receive(app);
    EXPECT(std::string(got.begin(), got.end()) == "new key");
    v.peers[0].current = {6, k_send2, k_recv2};
    v.peers[0].next.reset();
    EXPECT(dp.update(v));
    from_peer(k_recv, 5, 9, 10, peer, ours, "old key");
    got = receive(app);
    EXPECT(std::string(got.begin(), got.end()) == "old key");
    // A hint that names the other key (low bytes of key ids can collide):
    // the first try fails in place, the second still has the ciphertext.
    from_peer(k_recv, 6, 9, 11, peer, ours, "misleading hint");
    got = receive(app);
    EXPECT(std::string(got.begin(), got.end()) == "misleading hint");
    send_to(app, "198.51.100.2", 3000, as_bytes(std::string_view("pong")));
    got = receive(peer_fd);
    h = parse_header(got);
    EXPECT(h && h->key_hint == 6 && h->counter == 0);  // a new key counts from 0

    // Keys past their not-after time are refused both ways.
    EXPECT(dp.update(picture(port_of(peer_fd), unix_now() - 1)));
    send_to(app, "198.51.100.2", 3000, as_bytes(std::string_view("late")));
    EXPECT(eventually([&] { return drops(dp, Drop::key_expired) == 1; }));
    from_peer(k_recv, 5, 9, 20, peer, ours, "late");
    EXPECT(eventually([&] { return drops(dp, Drop::key_expired) == 2; }));
    EXPECT(receive(peer_fd).empty());

    // The session ends: the keys and the address go.
    dp.clear();
    EXPECT(dp.stats().peers.empty());
    from_peer(k_recv, 5, 9, 30, peer, ours, "gone");
    EXPECT(eventually([&] { return drops(dp, Drop::unknown_index) == 2; }));
    EXPECT(udp_socket("198.51.100.1", 2001) < 0);  // the overlay address is no longer ours
    ::close(app);
    ::close(peer_fd);
    return 0;
}

// A pair that leaves the table and comes back with the same keys (whatever
// the pushes did) goes on with its counters: no nonce is used twice, and
// nothing the peer sent before is taken again.
int child_same_keys_again() {
    auto nl = Netlink::open();
    EXPECT(nl && nl->set_link(static_cast<int>(if_nametoindex("lo")), 65536, true));
    Config config;
    config.interface = "cugt0";
    config.threads = 2;
    config.port = 0;
    auto opened = DataPlane::open(config);
    EXPECT(opened);
    DataPlane& dp = **opened;
    EXPECT(dp.start_workers());
    const int peer_fd = udp_socket("127.0.0.1", 0);
    EXPECT(peer_fd >= 0);
    const View with_peer = picture(port_of(peer_fd), unix_now() + 3600);
    View without_peer = with_peer;
    without_peer.peers.clear();
    EXPECT(dp.update(with_peer));
    const int app = udp_socket("198.51.100.1", 2000);
    EXPECT(app >= 0);

    auto counter_of_next_packet = [&]() -> std::int64_t {
        send_to(app, "198.51.100.2", 3000, as_bytes(std::string_view("out")));
        const Bytes got = receive(peer_fd);
        auto h = parse_header(got);
        return h ? static_cast<std::int64_t>(h->counter) : -1;
    };
    std::vector<Bytes> sent_by_peer;
    for (std::uint64_t c = 0; c < 3; ++c) {
        EXPECT(counter_of_next_packet() == static_cast<std::int64_t>(c));
        sent_by_peer.push_back(seal(k_recv, 5, 9, c, udp_packet(peer, ours, 2000, "in")));
        send_to(peer_fd, "127.0.0.1", dp.port(), sent_by_peer.back());
        EXPECT(!receive(app).empty());
    }
    for (int round = 0; round < 3; ++round) {
        EXPECT(dp.update(without_peer));  // peer down ...
        EXPECT(dp.update(with_peer));     // ... and up again with the same keys
    }
    EXPECT(counter_of_next_packet() == 3);  // not 0
    const std::uint64_t replays = drops(dp, Drop::replay);
    for (const auto& old : sent_by_peer)
        send_to(peer_fd, "127.0.0.1", dp.port(), old);
    EXPECT(eventually([&] { return drops(dp, Drop::replay) == replays + 3; }));
    EXPECT(receive(app).empty());
    send_to(peer_fd, "127.0.0.1", dp.port(),
            seal(k_recv, 5, 9, 3, udp_packet(peer, ours, 2000, "new")));
    const Bytes fresh = receive(app);
    EXPECT(std::string(fresh.begin(), fresh.end()) == "new");
    ::close(app);
    ::close(peer_fd);
    return 0;
}

}  // namespace

TEST_CASE("the data plane seals, opens, checks and counts, with the test as the peer") {
    test::in_new_netns(child);
}

TEST_CASE("a pair back with the same keys goes on with its counters and its window") {
    test::in_new_netns(child_same_keys_again);
}
