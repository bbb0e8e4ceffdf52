// The names a terminal's resolver knows (man/cug.7, NAMES): for each group
// of the session, <user>.<group>.<zone> of every member it knows (itself
// included), the short form <user>.<zone> of a user who shares exactly one
// of those groups, and the reverse names (PTR) of their addresses. Nothing
// of a group the session is not in: such names are not there at all.
//
// No wire format here: the lookups work on lowercase labels, and
// dns/answer.hpp turns queries and answers into DNS messages.
#pragma once

#include "core/result.hpp"
#include "net/address.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace cug::dns {

inline constexpr std::string_view default_zone = "cug.";
inline constexpr std::size_t max_zone = 128;
// Every answer's TTL, and the negative answers' (the SOA minimum): names
// follow pushes at once, so a resolver's cache must not hold them long.
inline constexpr std::uint32_t ttl = 1;

// The zone as the administrator gives it ("cug", "Corp.Example."): 1 to 4
// labels of letters, digits and '-' (not first or last), each at most 63,
// at most max_zone characters; not under arpa. Canonical: lowercase, one
// final dot.
Result<std::string> check_zone(std::string_view text);

// A user or group name as a DNS label: lowercase, with '.' and '_' read as
// '-' ("John.Doe" is john-doe). Names longer than 63 have none.
std::optional<std::string> label_of(std::string_view name);

struct ZoneGroup {
    std::string name;
    net::Prefix prefix;
    net::Address address;  // the session's own
    bool operator==(const ZoneGroup&) const = default;
};
struct ZoneMember {
    std::string user, group;
    net::Address address;
    bool operator==(const ZoneMember&) const = default;
};
struct ZoneData {
    std::string zone{default_zone};  // canonical (check_zone)
    std::string self;                // the session's user
    std::vector<ZoneGroup> groups;
    std::vector<ZoneMember> members;  // the others the session knows
    bool operator==(const ZoneData&) const = default;
};

// What a name is in the zone.
struct Node {
    enum class Kind {
        not_ours,  // outside the zone and the groups' reverse zones: refused
        absent,    // inside, but no such name (NXDOMAIN)
        empty,     // a name that exists with no records of its own (NODATA)
        host,      // <user>.<group>.<zone> (or the short form): A or AAAA
        reverse,   // an address's PTR
    };
    Kind kind = Kind::not_ours;
    bool apex = false;      // the zone's or a reverse zone's top: has the SOA
    std::string apex_name;  // the zone (or reverse zone) the name is in
    net::Address address;   // host
    std::string target;     // reverse: the member's full name
};

class Zone {
  public:
    Zone() = default;  // serves nothing: every name is not ours
    Zone(const ZoneData& data, std::uint32_t serial);

    bool empty() const { return zone_.empty(); }
    const std::string& name() const { return zone_; }
    std::uint32_t serial() const { return serial_; }

    // `labels`: the query name's labels, leftmost first, lowercase.
    Node find(const std::vector<std::string>& labels) const;

    // Every full name the zone answers for, in order, with its address.
    std::vector<std::pair<std::string, net::Address>> names() const;
    // The reverse zones of the groups ("2.0.192.in-addr.arpa."), for a
    // resolver's routing domains.
    std::vector<std::string> reverse_zones() const;

  private:
    struct Group {
        std::string label;
        net::Prefix prefix;
        unsigned cut = 0;  // the reverse zone's prefix length (octet or nibble bound)
        std::map<std::string, net::Address> hosts;  // by user label
    };
    Node find_forward(const std::vector<std::string>& rel) const;
    Node find_reverse(const std::vector<std::string>& labels) const;
    std::string reverse_apex(const Group& g) const;

    std::string zone_;  // "cug."
    std::vector<std::string> zone_labels_;
    std::uint32_t serial_ = 0;
    std::vector<Group> groups_;
    // Short forms: user label -> the one address (users in several groups,
    // or colliding with a group's label, have none).
    std::map<std::string, net::Address> short_;
    std::map<net::Address, std::string> reverse_;  // address -> full name
};

}  // namespace cug::dns
