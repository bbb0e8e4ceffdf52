// cug-load-bench: drives simulated terminals against a real cugd and prints
// what the control plane sustains (docs/BENCHMARKS.md):
//
//   logins/s   the whole login (TLS 1.3, card proof by ECDH, Argon2id at the
//              store's cost, bundle) from --threads terminals at once
//   resumes/s  sessions taking their channel back (resume proof, sync push)
//   holding    --sessions channels open at once: a keepalive round over all
//              of them, cugd's memory, then kill -9 of cugd and every terminal
//              resuming, then every terminal logging out
//
// The terminals use software P-256 keys in place of cards (kept here, apart
// from the product code); everything else is the product: cugd as a separate
// process, the store, TLS, lib/terminal's login and lib/protocol's proofs.
// Sessions beyond --logins are registered in the store before cugd starts
// (logging 10,000 users in at the default Argon2id cost would measure
// Argon2id for ten minutes); they are otherwise ordinary sessions.
#include "core/time.hpp"
#include "crypto/password.hpp"
#include "crypto/random.hpp"
#include "net/local.hpp"
#include "protocol/session.hpp"
#include "store/store.hpp"
#include "terminal/login.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

using namespace cug;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
    std::uint64_t sessions = 10'000;
    std::uint64_t logins = 200;
    unsigned threads = 8;
    unsigned hash_workers = 2;
    std::uint64_t group_size = 50;
    std::string cost;  // Argon2id parameters; default: the product's default
    std::string cugd = "cugd";
    std::string dir;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "cug-load-bench: %s\nusage: cug-load-bench --cugd PATH [--sessions N] "
                 "[--logins L] [--threads T] [--hash-workers W] [--group-size G] "
                 "[--cost m=..,t=..,p=..] [--dir DIR]\n",
                 why);
    std::exit(64);
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string opt = argv[i];
        if (i + 1 >= argc) usage("missing value");
        const std::string value = argv[++i];
        auto number = [&] {
            char* end = nullptr;
            const unsigned long long v = std::strtoull(value.c_str(), &end, 10);
            if (!end || *end || v == 0) usage("bad number");
            return static_cast<std::uint64_t>(v);
        };
        if (opt == "--sessions")
            a.sessions = number();
        else if (opt == "--logins")
            a.logins = number();
        else if (opt == "--threads")
            a.threads = static_cast<unsigned>(number());
        else if (opt == "--hash-workers")
            a.hash_workers = static_cast<unsigned>(number());
        else if (opt == "--group-size")
            a.group_size = number();
        else if (opt == "--cost")
            a.cost = value;
        else if (opt == "--cugd")
            a.cugd = value;
        else if (opt == "--dir")
            a.dir = value;
        else
            usage("unknown option");
    }
    if (a.logins > a.sessions) usage("--logins must not exceed --sessions");
    if (a.sessions / a.group_size > 65000) usage("too many groups (one /24 each)");
    return a;
}

template <typename T>
T must(Result<T> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "cug-load-bench: %s: %s\n", what, r.error().message.c_str());
        std::exit(70);
    }
    return std::move(*r);
}
void must(Result<void> r, const char* what) {
    if (!r) {
        std::fprintf(stderr, "cug-load-bench: %s: %s\n", what, r.error().message.c_str());
        std::exit(70);
    }
}

// A TCP port nothing listens on now (cugd takes an explicit one).
std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0)
        usage("cannot find a free port");
    ::close(fd);
    return ntohs(sin.sin_port);
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// One simulated terminal.
struct Terminal {
    std::string user;
    std::optional<crypto::PrivateKey> card;  // software stand-in for the 9D key
    Bytes session;
    crypto::SecretBuffer resume_key;
    bool acknowledged = false;
    std::optional<net::TlsStream> channel;
    std::optional<wire::Decoder> decoder;
    std::uint64_t pushes = 0;  // on this channel; each push's seq must be the next
};

// utime + stime of a process (fields 14 and 15 of /proc/PID/stat), or of one
// of its threads (/proc/PID/task/TID/stat), in seconds.
double process_cpu_seconds(pid_t pid, pid_t thread = 0) {
    std::ifstream in(pid <= 0     ? std::string("/proc/self/stat")
                     : thread > 0 ? fmt::format("/proc/{}/task/{}/stat", pid, thread)
                                  : fmt::format("/proc/{}/stat", pid));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto paren = text.rfind(')');  // the command name may hold spaces
    if (paren == std::string::npos) return 0;
    std::istringstream rest(text.substr(paren + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The cugd child process.
struct Cugd {
    pid_t pid = -1;
    std::uint16_t port = 0;
    std::filesystem::path control;

    void start(const Args& args, const std::filesystem::path& store, std::uint16_t want_port) {
        control = store.parent_path() / "cugd.sock";
        const std::string listen = fmt::format("127.0.0.1:{}", want_port);
        const std::string workers = std::to_string(args.hash_workers);
        const std::string store_arg = store.string(), control_arg = control.string();
        pid = fork();
        if (pid == 0) {
            const char* argv[] = {
                args.cugd.c_str(), "--store", store_arg.c_str(), "--listen", listen.c_str(),
                "--control-socket", control_arg.c_str(), "--hash-workers", workers.c_str(),
                // Every simulated terminal is 127.0.0.1, and
                // they all come at once: no startup caps.
                "--max-startups", "1000000", "--per-source-startups", "0", nullptr};
            execvp(argv[0], const_cast<char* const*>(argv));
            std::fprintf(stderr, "cug-load-bench: cannot run %s\n", argv[0]);
            _exit(127);
        }
        for (int i = 0; i < 500; ++i) {
            wire::Message status;
            (void)status.add("cmd", "status");
            if (auto m = net::ask_local(control, status, std::chrono::seconds(1), {})) {
                port = static_cast<std::uint16_t>(m->get_u64("port").value_or(0));
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::fprintf(stderr, "cug-load-bench: cugd did not start\n");
        std::exit(70);
    }
    wire::Message status() const {
        wire::Message request;
        (void)request.add("cmd", "status");
        return must(net::ask_local(control, request, std::chrono::seconds(30), {}), "cugd status");
    }
    // User and system CPU seconds cugd has used so far: all its threads, and
    // its event loop's alone (the main thread, whose id is the process id).
    double cpu_seconds() const { return process_cpu_seconds(pid); }
    double loop_cpu_seconds() const { return process_cpu_seconds(pid, pid); }
    // VmRSS and VmHWM in KiB.
    std::pair<long, long> memory() const {
        std::ifstream in(fmt::format("/proc/{}/status", pid));
        std::string line;
        long rss = 0, hwm = 0;
        while (std::getline(in, line)) {
            if (line.rfind("VmRSS:", 0) == 0) rss = std::atol(line.c_str() + 6);
            if (line.rfind("VmHWM:", 0) == 0) hwm = std::atol(line.c_str() + 6);
        }
        return {rss, hwm};
    }
    void kill_hard() {
        ::kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        pid = -1;
    }
    void stop() {
        if (pid < 0) return;
        ::kill(pid, SIGTERM);
        waitpid(pid, nullptr, 0);
        pid = -1;
    }
};

// Runs `work(i)` for i in [begin, end) on `threads` threads; returns seconds.
template <typename F>
double parallel(std::uint64_t begin, std::uint64_t end, unsigned threads, F work) {
    std::atomic<std::uint64_t> next{begin};
    const auto start = Clock::now();
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (std::uint64_t i = next++; i < end; i = next++)
                work(i);
        });
    for (auto& t : pool)
        t.join();
    return seconds_since(start);
}

// Reads messages until one of type `want`; pushes and pongs are skipped, but
// pushes must come in sequence (1, 2, ... on each channel: the sync of a
// resume first, though cugd seals it on another thread while other pushes
// for the channel arise).
Result<wire::Message> await(Terminal& t, std::string_view want) {
    for (;;) {
        auto m = CUG_TRY(terminal::read_message(*t.channel, *t.decoder));
        const std::string type(m.get("type").value_or(""));
        if (type == want) return m;
        if (type == "push") {
            const std::uint64_t seq = CUG_TRY(m.get_u64("seq"));
            if (seq != ++t.pushes)
                return make_error(Errc::protocol, "push {} where {} was due", seq, t.pushes);
            continue;
        }
        if (type == "pong") continue;
        return make_error(Errc::protocol, "cugd sent '{}' where '{}' was due", type, want);
    }
}

Result<void> resume(Terminal& t, const std::string& server, const crypto::PublicKey& server_key) {
    t.channel.reset();
    const int fd = CUG_TRY(terminal::connect_tcp(server, std::chrono::seconds(30)));
    static const auto context = must(net::TlsContext::client(), "a TLS client context");
    t.channel.emplace(
        CUG_TRY(net::TlsStream::connect(context, fd, server_key, std::chrono::seconds(30))));
    t.decoder.emplace(protocol::channel_limits());
    t.pushes = 0;
    const Bytes exporter =
        CUG_TRY(t.channel->exporter(protocol::exporter_resume, protocol::exporter_size));
    wire::Message m;
    CUG_CHECK(m.add("type", "resume"));
    CUG_CHECK(m.add_bytes("session", t.session));
    CUG_CHECK(m.add_bytes("proof", protocol::resume_proof(t.resume_key.view(), exporter)));
    CUG_CHECK(terminal::write_message(*t.channel, m.encode()));
    CUG_TRY(await(t, "resumed"));
    if (!t.acknowledged) {
        wire::Message ack;
        CUG_CHECK(ack.add("type", "ack"));
        CUG_CHECK(terminal::write_message(*t.channel, ack.encode()));
        CUG_TRY(await(t, "acked"));
        t.acknowledged = true;
    }
    return ok();
}

Result<void> ping(Terminal& t) {
    wire::Message m;
    CUG_CHECK(m.add("type", "ping"));
    return terminal::write_message(*t.channel, m.encode());
}

Result<void> log_out(Terminal& t) {
    wire::Message m;
    CUG_CHECK(m.add("type", "logout"));
    CUG_CHECK(m.add("reason", "load test"));
    CUG_CHECK(terminal::write_message(*t.channel, m.encode()));
    CUG_TRY(await(t, "bye"));
    t.channel.reset();
    return ok();
}

struct Latencies {
    std::vector<double> ms;
    std::mutex mutex;
    void add(double v) {
        std::lock_guard lock(mutex);
        ms.push_back(v);
    }
    double at(double q) {
        if (ms.empty()) return 0;
        std::sort(ms.begin(), ms.end());
        return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))];
    }
};

}  // namespace

int main(int argc, char** argv) {
    const Args args = parse(argc, argv);
    // Every terminal's channel is a descriptor here and in cugd (which
    // inherits the limit).
    rlimit files{};
    getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
    if (files.rlim_cur < args.sessions + 100) usage("RLIMIT_NOFILE is too low for --sessions");
    signal(SIGPIPE, SIG_IGN);

    std::filesystem::path base = args.dir;
    const bool temporary = base.empty();
    if (temporary) {
        std::string pattern = (std::filesystem::temp_directory_path() / "cug-load.XXXXXX").string();
        if (!mkdtemp(pattern.data())) usage("cannot make a temporary directory");
        base = pattern;
    }
    const auto dir = base / "store";
    store::InitParams init;
    init.server_name = "load";
    if (!args.cost.empty())
        init.password_params = must(crypto::Argon2Params::parse(args.cost), "--cost");
    store::Actor actor{static_cast<std::uint32_t>(getuid()), "bench", "cug-load-bench"};

    // --- the store: users with software cards, groups, pre-registered sessions
    std::printf(
        "cug-load-bench: %llu terminals (%llu log in, the rest resume), %u at once, "
        "Argon2id %s, %u hash workers, groups of %llu\n",
        static_cast<unsigned long long>(args.sessions),
        static_cast<unsigned long long>(args.logins), args.threads,
        init.password_params.to_string().c_str(), args.hash_workers,
        static_cast<unsigned long long>(args.group_size));
    auto setup_start = Clock::now();
    std::vector<Terminal> terminals(args.sessions);
    crypto::PublicKey server_key{nullptr};
    {
        auto st = must(store::Store::create(dir, init, actor), "creating the store");
        server_key = must(st.read([](store::ReadTxn& t) -> Result<crypto::PublicKey> {
            return CUG_TRY(t.server_key()).public_key();
        }),
                          "reading the server key");
        const std::string hash =
            must(crypto::hash_password(as_bytes("load-password"), init.password_params), "hashing");
        const std::int64_t now = unix_now();
        const std::uint64_t groups = (args.sessions + args.group_size - 1) / args.group_size;
        for (std::uint64_t begin = 0; begin < args.sessions; begin += 500) {
            const std::uint64_t end = std::min(args.sessions, begin + 500);
            for (std::uint64_t i = begin; i < end; ++i) {
                terminals[i].user = fmt::format("load-{:06}", i);
                terminals[i].card = must(crypto::PrivateKey::generate(), "a card key");
            }
            must(st.write([&](store::WriteTxn& t) -> Result<void> {
                for (std::uint64_t g = begin / args.group_size;
                     g < groups && g * args.group_size < end; ++g) {
                    if (g * args.group_size < begin) continue;
                    const auto prefix =
                        CUG_TRY(net::Prefix::parse(fmt::format("10.{}.{}.0/24", g / 256, g % 256)));
                    CUG_TRY(t.add_group(fmt::format("load-{:05}", g), prefix));
                }
                for (std::uint64_t i = begin; i < end; ++i) {
                    Terminal& term = terminals[i];
                    CUG_CHECK(t.add_user(term.user, hash));
                    store::User u = *CUG_TRY(t.find_user(term.user));
                    store::CardKeys card;
                    card.key_agreement = term.card->public_key().to_point();
                    card.authentication = card.key_agreement;
                    card.certificate_serial = Bytes(16, 0);
                    crypto::random_bytes(card.certificate_serial);
                    card.enrolled = now;
                    card.device = "software key (cug-load-bench)";
                    u.card = card;
                    CUG_CHECK(t.put_user(u));
                    CUG_TRY(
                        t.add_member(fmt::format("load-{:05}", i / args.group_size), term.user));
                    if (i < args.logins) continue;
                    store::Session s;
                    s.user = term.user;
                    s.id = Bytes(protocol::session_id_size);
                    crypto::random_bytes(s.id);
                    s.login_time = s.last_seen = now;
                    s.expires = now + 12 * 3600;
                    s.card_serial = card.certificate_serial;
                    s.resume_key = crypto::random_secret(32);
                    s.push_key = crypto::random_secret(32);
                    s.udp_key = crypto::random_secret(32);
                    term.session = s.id;
                    term.resume_key = crypto::SecretBuffer::copy_of(s.resume_key.view());
                    term.acknowledged = true;
                    CUG_TRY(t.register_session(std::move(s)));
                    CUG_CHECK(t.acknowledge_session(term.user));
                }
                return ok();
            }),
                 "writing users");
        }
    }
    std::printf("  setup: %llu users, cards, memberships and %llu sessions in %.1f s\n",
                static_cast<unsigned long long>(args.sessions),
                static_cast<unsigned long long>(args.sessions - args.logins),
                seconds_since(setup_start));

    Cugd cugd;
    cugd.start(args, dir, free_port());
    const std::string server = fmt::format("127.0.0.1:{}", cugd.port);
    std::atomic<std::uint64_t> failures{0};
    auto report_failure = [&](const char* what, const Error& e) {
        if (failures++ < 5)
            std::fprintf(stderr, "cug-load-bench: %s: %s\n", what, e.message.c_str());
    };

    // --- logins at the store's Argon2id cost
    Latencies login_ms;
    const double login_s = parallel(0, args.logins, args.threads, [&](std::uint64_t i) {
        Terminal& t = terminals[i];
        terminal::LoginCredentials c{
            t.user, t.card->public_key(), server_key, "software",
            [&](const crypto::PublicKey& e) { return crypto::ecdh(*t.card, e); }};
        terminal::LoginOptions o;
        o.server = server;
        o.password = crypto::SecretBuffer::copy_of(as_bytes("load-password"));
        o.timeout = std::chrono::seconds(120);
        const auto start = Clock::now();
        auto r = terminal::log_in(c, o);
        if (!r) return report_failure("login", r.error());
        login_ms.add(seconds_since(start) * 1000);
        t.session = r->bundle.session;
        t.resume_key = std::move(r->resume_key);
    });
    std::printf("  logins:  %llu in %.2f s = %.1f logins/s (latency median %.0f ms, p99 %.0f ms)\n",
                static_cast<unsigned long long>(args.logins), login_s, args.logins / login_s,
                login_ms.at(0.5), login_ms.at(0.99));

    // --- every terminal takes its channel (the logged-in ones acknowledge)
    // What one resume costs each side in CPU time tells cugd's capacity apart
    // from this machine's: here the simulated terminals share its cores.
    auto resume_all = [&](const char* what) {
        const double cugd_before = cugd.cpu_seconds(), loop_before = cugd.loop_cpu_seconds(),
                     self_before = process_cpu_seconds(0);
        const double s = parallel(0, args.sessions, args.threads, [&](std::uint64_t i) {
            if (auto r = resume(terminals[i], server, server_key); !r)
                report_failure(what, r.error());
        });
        const double n = static_cast<double>(args.sessions);
        std::printf(
            "  %s: %llu in %.2f s = %.0f resumes/s (CPU per resume: cugd %.0f us, of which its "
            "event loop %.0f us; the terminals %.0f us)\n",
            what, static_cast<unsigned long long>(args.sessions), s, n / s,
            (cugd.cpu_seconds() - cugd_before) / n * 1e6,
            (cugd.loop_cpu_seconds() - loop_before) / n * 1e6,
            (process_cpu_seconds(0) - self_before) / n * 1e6);
    };
    resume_all("resumes");
    auto status = cugd.status();
    auto [rss, hwm] = cugd.memory();
    std::printf("  holding: %llu channels, %llu sessions; cugd RSS %.1f MiB (peak %.1f MiB)\n",
                static_cast<unsigned long long>(status.get_u64("channels").value_or(0)),
                static_cast<unsigned long long>(status.get_u64("sessions").value_or(0)),
                rss / 1024.0, hwm / 1024.0);

    // --- a keepalive round over every channel
    const double ping_s = parallel(0, args.threads, args.threads, [&](std::uint64_t part) {
        for (std::uint64_t i = part; i < args.sessions; i += args.threads)
            if (auto r = ping(terminals[i]); !r) report_failure("ping", r.error());
        for (std::uint64_t i = part; i < args.sessions; i += args.threads)
            if (auto r = await(terminals[i], "pong"); !r) report_failure("pong", r.error());
    });
    std::printf("  keepalive round: %llu pings answered in %.3f s\n",
                static_cast<unsigned long long>(args.sessions), ping_s);

    // --- cugd killed and restarted: every terminal resumes
    const std::uint16_t port = cugd.port;
    cugd.kill_hard();
    for (auto& t : terminals)
        t.channel.reset();
    const auto restart = Clock::now();
    cugd.start(args, dir, port);
    const double up_s = seconds_since(restart);
    resume_all("resumes after kill -9 and restart");
    std::printf(
        "  (cugd was up again %.2f s after the restart began; all %llu resumed %.2f s "
        "after it)\n",
        up_s, static_cast<unsigned long long>(args.sessions), seconds_since(restart));

    // --- everyone logs out
    const double out_s = parallel(0, args.sessions, args.threads, [&](std::uint64_t i) {
        if (auto r = log_out(terminals[i]); !r) report_failure("logout", r.error());
    });
    status = cugd.status();
    std::printf("  logouts: %llu in %.2f s = %.0f logouts/s; sessions left: %llu\n",
                static_cast<unsigned long long>(args.sessions), out_s, args.sessions / out_s,
                static_cast<unsigned long long>(status.get_u64("sessions").value_or(0)));
    cugd.stop();
    if (temporary) std::filesystem::remove_all(base);
    if (failures) {
        std::printf("  FAILURES: %llu\n", static_cast<unsigned long long>(failures.load()));
        return 1;
    }
    return 0;
}
