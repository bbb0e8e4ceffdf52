#include "terminal/system_dns.hpp"

#include "core/log.hpp"
#include "wire/text.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

extern char** environ;

namespace cug::terminal {

namespace {

// The helpers come from the system's directories, never from a PATH the
// caller set.
constexpr const char* search_path[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                       "/usr/bin",        "/sbin",          "/bin"};
constexpr auto command_timeout = std::chrono::seconds(10);

std::optional<std::string> find_program(const std::string& name) {
    for (const char* dir : search_path) {
        const std::string path = std::string(dir) + "/" + name;
        if (::access(path.c_str(), X_OK) == 0) return path;
    }
    return std::nullopt;
}

bool resolved_runs() {
    struct stat st {};
    return ::stat("/run/systemd/resolve/io.systemd.Resolve", &st) == 0 && S_ISSOCK(st.st_mode);
}

// Runs `args` (args[0] found in search_path) with `input` on its stdin;
// its first line of stderr is the error.
Result<void> run(const std::vector<std::string>& args, const std::string& input = {}) {
    const auto program = find_program(args[0]);
    if (!program) return make_error(Errc::no_input, "{} is not installed", args[0]);
    int in[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return make_error(Errc::os, "pipe: {}", std::strerror(errno));
    if (::pipe2(err, O_CLOEXEC) != 0) {
        ::close(in[0]);
        ::close(in[1]);
        return make_error(Errc::os, "pipe: {}", std::strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);  // the agent blocks SIGTERM; the helper must not
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    std::vector<char*> argv;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::string path_env = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char* envp[] = {path_env.data(), const_cast<char*>("LC_ALL=C"), nullptr};
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, program->c_str(), &actions, &attr, argv.data(), envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(err[0]);
        return make_error(Errc::os, "starting {}: {}", args[0], std::strerror(rc));
    }
    // SIGPIPE is ignored (cli::harden_process): a helper that does not read
    // its stdin makes this write fail, nothing more.
    (void)!::write(in[1], input.data(), input.size());
    ::close(in[1]);
    std::string error;
    char buf[512];
    ssize_t n;
    while ((n = ::read(err[0], buf, sizeof buf)) > 0 && error.size() < 4096)
        error.append(buf, static_cast<std::size_t>(n));
    ::close(err[0]);
    // stderr closed: the helper is done or about to be; a stuck one is killed.
    const auto deadline = std::chrono::steady_clock::now() + command_timeout;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return make_error(Errc::unavailable, "{} did not finish in time", args[0]);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return ok();
    if (const auto nl = error.find('\n'); nl != std::string::npos) error.resize(nl);
    std::string command;
    for (const auto& a : args)
        command += (command.empty() ? "" : " ") + a;
    return make_error(Errc::unavailable, "{} failed{}{}", command, error.empty() ? "" : ": ",
                      wire::one_line(error, 200));
}

std::string without_dot(std::string zone) {
    if (!zone.empty() && zone.back() == '.') zone.pop_back();
    return zone;
}

}  // namespace

Result<DnsConfig> parse_dns_config(std::string_view text) {
    if (text == "auto") return DnsConfig::automatic;
    if (text == "resolved") return DnsConfig::resolved;
    if (text == "resolvconf") return DnsConfig::resolvconf;
    if (text == "off") return DnsConfig::off;
    return make_error(Errc::usage,
                      "unknown DNS configuration {}: use auto, resolved, resolvconf or off",
                      wire::quote_for_message(text));
}

const char* dns_config_name(DnsConfig c) {
    switch (c) {
        case DnsConfig::automatic:
            return "auto";
        case DnsConfig::resolved:
            return "resolved";
        case DnsConfig::resolvconf:
            return "resolvconf";
        case DnsConfig::off:
            return "off";
    }
    return "off";
}

SystemDns::SystemDns(DnsConfig config, std::string interface)
    : config_(config), interface_(std::move(interface)) {
    if (config_ != DnsConfig::off) thread_ = std::thread([this] { work(); });
}

SystemDns::~SystemDns() {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        wanted_.reset();
        stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
}

void SystemDns::set(std::optional<DnsSettings> wanted) {
    if (config_ == DnsConfig::off) return;
    {
        std::lock_guard lock(mutex_);
        wanted_ = std::move(wanted);
    }
    changed_.notify_all();
}

std::string SystemDns::method() const {
    std::lock_guard lock(mutex_);
    return method_;
}

void SystemDns::work() {
    std::unique_lock lock(mutex_);
    for (;;) {
        changed_.wait(lock, [&] { return stopping_ || wanted_ != applied_; });
        if (wanted_ == applied_) {
            if (stopping_) return;
            continue;
        }
        const auto from = applied_, to = wanted_;
        lock.unlock();
        apply(from, to);
        lock.lock();
        applied_ = to;  // a failure is logged, not retried: the next change tries again
        changed_.notify_all();
    }
}

void SystemDns::apply(const std::optional<DnsSettings>& from,
                      const std::optional<DnsSettings>& to) {
    std::string method;
    {
        std::lock_guard lock(mutex_);
        method = method_;
    }
    // Undo with the method that set it; choose afresh for a new setting.
    if (!from || to) {
        method = "none";
        if (config_ == DnsConfig::resolved || (config_ == DnsConfig::automatic && resolved_runs()))
            method = "resolved";
        else if (config_ == DnsConfig::resolvconf ||
                 (config_ == DnsConfig::automatic && find_program("resolvconf")))
            method = "resolvconf";
    }
    Result<void> done = ok();
    // A resolver on this host, as dnsmasq's lo.dnsmasq: both resolvconfs
    // list lo records first (Debian's by interface-order, openresolv's by
    // interface_order), so that it is asked before the network's.
    const std::string record = "lo." + interface_;
    if (method == "resolved") {
        if (to) {
            std::vector<std::string> domain{"resolvectl", "domain", interface_,
                                            without_dot(to->zone)};
            for (const auto& r : to->reverse_zones)
                domain.push_back("~" + without_dot(r));
            const std::string server = to->port == 53
                                           ? to->server.to_string()
                                           : net::Endpoint{to->server, to->port}.to_string();
            // Nothing but the zones goes to it, and nothing of resolved's own
            // (LLMNR, mDNS) goes into the tunnel; the zone is not signed.
            done = run({"resolvectl", "dns", interface_, server});
            if (done) done = run(domain);
            for (const char* setting : {"default-route", "llmnr", "mdns", "dnssec"})
                if (done)
                    done = run({"resolvectl", setting, interface_,
                                std::string_view(setting) == "default-route" ? "false" : "no"});
        } else {
            done = run({"resolvectl", "revert", interface_});
        }
    } else if (method == "resolvconf") {
        if (to && to->port != 53)
            done = make_error(Errc::usage, "resolv.conf cannot name port {}", to->port);
        else if (to)
            done = run({"resolvconf", "-a", record},
                       fmt::format("nameserver {}\nsearch {}\n", to->server.to_string(),
                                   without_dot(to->zone)));
        else
            done = run({"resolvconf", "-d", record, "-f"});
    } else if (to) {
        std::lock_guard lock(mutex_);
        if (!told_none_)
            log::event(log::Priority::notice, "dns_unconfigured",
                       {{"server", to->server.to_string()},
                        {"zone", to->zone},
                        {"reason", "no systemd-resolved running and no resolvconf installed"}});
        told_none_ = true;
    }
    {
        std::lock_guard lock(mutex_);
        method_ = to ? method : "none";
    }
    if (!done)
        log::event(log::Priority::warning, "dns_setup_failed",
                   {{"method", method}, {"error", done.error().message}});
    else if (method != "none")
        log::event(log::Priority::info, to ? "dns_set" : "dns_reverted",
                   {{"method", method},
                    {"server", to ? to->server.to_string() : ""},
                    {"zone", to ? to->zone : ""}});
}

}  // namespace cug::terminal
