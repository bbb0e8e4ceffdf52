// cug-vcard: a virtual PIV card that plugs into the real pcscd through the
// vsmartcard vpcd driver (tests and the demo only).
//
//   cug-vcard init STATE [--serial N] [--no-aes] [--no-ecc-key-agreement] [--plain-piv]
//                        [--attestation-ca KEY.pem CERT.pem]
//   cug-vcard insert STATE --port PORT [--host 127.0.0.1] [--wait SECONDS]
//                          [--pull-after N]
//
// `insert` connects to vpcd (which listens on PORT) and serves the card until
// it is stopped (SIGTERM, SIGINT) or vpcd goes away: stopping it is pulling the
// card out. With --pull-after N the card leaves by itself in the middle of
// the Nth command APDU (read, never answered). The card's state is saved to
// STATE after every change.
//
// vpcd's protocol, both ways: a 2-byte big-endian length, then that many bytes.
// From vpcd, one byte: 0x00 power off, 0x01 power on, 0x02 reset (no answer),
// 0x04 "send the ATR"; anything longer is a command APDU to answer.
#include "card/piv.hpp"
#include "core/time.hpp"
#include "crypto/random.hpp"
#include "vcard/virtual_piv.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

using namespace cug;

namespace {

// A PIV-ish ATR with historical bytes reading "cug-vcard".
const Bytes atr = {0x3b, 0x89, 0x80, 0x01, 'c', 'u', 'g', '-', 'v', 'c', 'a', 'r', 'd', 0x45};

volatile sig_atomic_t stop = 0;
void on_signal(int) {
    stop = 1;
}

[[noreturn]] void die(int status, const std::string& message) {
    std::fprintf(stderr, "cug-vcard: %s\n", message.c_str());
    std::exit(status);
}

bool read_exact(int fd, std::uint8_t* out, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
        // Delayed ACKs would cost ~40 ms per APDU: vpcd sends length and body
        // in two writes.
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        ssize_t r = ::recv(fd, out + got, n - got, 0);
        if (r < 0 && errno == EINTR) {
            if (stop) return false;
            continue;
        }
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
    }
    return true;
}

bool send_frame(int fd, ByteView body) {
    Bytes frame{static_cast<std::uint8_t>(body.size() >> 8),
                static_cast<std::uint8_t>(body.size())};
    frame.insert(frame.end(), body.begin(), body.end());
    return ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(frame.size());
}

int connect_vpcd(const std::string& host, int port, double wait_seconds) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) die(64, "bad --host " + host);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<long>(wait_seconds * 1000));
    for (;;) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) die(71, std::string("socket: ") + std::strerror(errno));
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        const int err = errno;
        ::close(fd);
        if (stop || std::chrono::steady_clock::now() >= deadline)
            die(69, fmt::format("cannot reach vpcd at {}:{}: {}", host, port, std::strerror(err)));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

// `pull_after` > 0: the card leaves the reader in the middle of that APDU
// (read, never answered), as a card pulled out during an operation.
int run_insert(const std::string& state_file, const std::string& host, int port, double wait,
               long pull_after) {
    auto state = vcard::load_state(state_file);
    if (!state) die(66, state.error().message);
    vcard::VirtualPiv card(std::move(*state), [&](const vcard::CardState& s) {
        if (auto saved = vcard::save_state(state_file, s); !saved) die(74, saved.error().message);
    });
    struct sigaction sa {};
    sa.sa_handler = on_signal;  // no SA_RESTART: a blocking recv returns EINTR
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    const int fd = connect_vpcd(host, port, wait);
    card.reset();
    while (!stop) {
        std::uint8_t header[2];
        if (!read_exact(fd, header, 2)) break;
        const std::size_t n = std::size_t{header[0]} << 8 | header[1];
        Bytes body(n);
        if (n > 0 && !read_exact(fd, body.data(), n)) break;
        if (n == 1) {
            switch (body[0]) {
                case 0x00:  // power off
                case 0x01:  // power on
                case 0x02:  // reset
                    card.reset();
                    continue;
                case 0x04:
                    if (!send_frame(fd, atr)) stop = 1;
                    continue;
                default:
                    continue;
            }
        }
        if (pull_after > 0 && --pull_after == 0) break;  // pulled mid-APDU
        if (!send_frame(fd, card.process(body))) break;
    }
    ::close(fd);  // the card leaves the reader
    return 0;
}

Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) die(66, "cannot read " + path);
    std::stringstream s;
    s << in.rdbuf();
    const std::string text = s.str();
    return Bytes(text.begin(), text.end());
}

int run_init(const std::string& state_file, int argc, char** argv, int first) {
    vcard::CardState state = vcard::factory_card(0);
    crypto::random_bytes(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(&state.serial),
                                                 sizeof state.serial));
    state.serial = state.serial % 90'000'000 + 10'000'000;
    for (int i = first; i < argc; ++i) {
        const std::string opt = argv[i];
        if (opt == "--serial" && i + 1 < argc) {
            state.serial = static_cast<std::uint32_t>(std::strtoul(argv[++i], nullptr, 10));
        } else if (opt == "--no-aes") {
            state.knows_aes = false;
        } else if (opt == "--no-ecc-key-agreement") {
            state.ecc_key_agreement = false;
        } else if (opt == "--plain-piv") {
            state.yubikey = false;
        } else if (opt == "--attestation-ca" && i + 2 < argc) {
            // A per-card attestation key (slot F9) certified by the given CA,
            // as a manufacturer certifies each YubiKey's.
            const Bytes ca_key_pem = read_file(argv[++i]);
            const Bytes ca_cert_pem = read_file(argv[++i]);
            auto ca_key = crypto::PrivateKey::from_pem(as_chars(ca_key_pem));
            auto ca_cert = crypto::Certificate::from_pem(as_chars(ca_cert_pem));
            if (!ca_key || !ca_cert)
                die(65, "--attestation-ca needs a P-256 key and its certificate");
            auto f9 = crypto::PrivateKey::generate();
            const std::int64_t now = unix_now();
            crypto::CertificateRequest request{
                fmt::format("Virtual PIV Attestation {}", state.serial), now - 60,
                now + 3650 * 86400, crypto::CertificateRequest::Role::server_ca};
            auto f9_cert = crypto::issue_certificate(*ca_key, *ca_cert, f9->public_key(), request);
            if (!f9_cert) die(70, f9_cert.error().message);
            state.attestation_key = f9->to_der();
            Bytes contents = card::tlv(0x70, f9_cert->to_der());
            card::append_tlv(contents, 0x71, Bytes{0});
            state.objects[card::piv::certificate_object(0xf9)] = contents;
        } else {
            die(64, "unknown option for init: " + opt);
        }
    }
    if (auto saved = vcard::save_state(state_file, state); !saved) die(74, saved.error().message);
    std::printf("%u\n", state.serial);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) die(64, "usage: cug-vcard init STATE [options] | insert STATE --port PORT");
    const std::string command = argv[1], state_file = argv[2];
    if (command == "init") return run_init(state_file, argc, argv, 3);
    if (command != "insert") die(64, "unknown command " + command);
    std::string host = "127.0.0.1";
    int port = 0;
    double wait = 10;
    long pull_after = 0;
    for (int i = 3; i + 1 < argc; i += 2) {
        const std::string opt = argv[i];
        if (opt == "--port")
            port = std::atoi(argv[i + 1]);
        else if (opt == "--host")
            host = argv[i + 1];
        else if (opt == "--wait")
            wait = std::atof(argv[i + 1]);
        else if (opt == "--pull-after")
            pull_after = std::atol(argv[i + 1]);
        else
            die(64, "unknown option " + opt);
    }
    if (port <= 0 || port > 65535) die(64, "insert needs --port PORT");
    return run_insert(state_file, host, port, wait, pull_after);
}
