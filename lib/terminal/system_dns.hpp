// Pointing the terminal's own resolver configuration at cug-tun's resolver
// for the zone, and undoing it (man/cug-tun.8, NAMES):
//
//   resolved    systemd-resolved: per-link DNS server and domains on the
//               device (`resolvectl dns`, `domain ZONE ~REVERSE...`,
//               `default-route false`, LLMNR, mDNS and DNSSEC off): only the
//               zone and the groups' reverse zones go to it; `resolvectl
//               revert` undoes it.
//   resolvconf  resolvconf(8) (Debian's or openresolv): a record
//               lo.<interface> with the nameserver and `search ZONE`, listed
//               first as a resolver on this host is (every other name it
//               refuses, and the C library asks the next server);
//               `resolvconf -d` undoes it.
//   auto        resolved when it runs, else resolvconf when installed, else
//               nothing (logged once, with the address to use by hand).
//   off         nothing.
//
// The commands run on a thread of their own, in order, the latest wish
// winning; the agent never waits for them but at its end, for the undo.
#pragma once

#include "core/result.hpp"
#include "net/address.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace cug::terminal {

enum class DnsConfig { automatic, resolved, resolvconf, off };
Result<DnsConfig> parse_dns_config(std::string_view text);  // auto, resolved, resolvconf, off
const char* dns_config_name(DnsConfig c);

struct DnsSettings {
    net::Address server;
    std::uint16_t port = 53;
    std::string zone;                        // "cug."
    std::vector<std::string> reverse_zones;  // "100.51.198.in-addr.arpa."
    bool operator==(const DnsSettings&) const = default;
};

class SystemDns {
  public:
    SystemDns(DnsConfig config, std::string interface);
    ~SystemDns();  // undoes what it set, and waits for that
    SystemDns(const SystemDns&) = delete;
    SystemDns& operator=(const SystemDns&) = delete;

    // What the system should use now (nullopt: nothing of ours).
    void set(std::optional<DnsSettings> wanted);
    // The method in use: resolved, resolvconf, or none.
    std::string method() const;

  private:
    void work();
    // One change, with the lock released; false when a command failed.
    void apply(const std::optional<DnsSettings>& from, const std::optional<DnsSettings>& to);

    const DnsConfig config_;
    const std::string interface_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::optional<DnsSettings> wanted_, applied_;
    std::string method_ = "none";
    bool stopping_ = false, told_none_ = false;
    std::thread thread_;
};

}  // namespace cug::terminal
