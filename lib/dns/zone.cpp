#include "dns/zone.hpp"

#include "wire/text.hpp"

#include <algorithm>
#include <array>

namespace cug::dns {

namespace {

bool ldh(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

std::vector<std::string> split(std::string_view name) {
    std::vector<std::string> out;
    while (!name.empty()) {
        const auto dot = name.find('.');
        out.emplace_back(name.substr(0, dot));
        if (dot == std::string_view::npos) break;
        name.remove_prefix(dot + 1);
    }
    return out;
}

bool ends_with(const std::vector<std::string>& labels, const std::vector<std::string>& suffix) {
    return labels.size() >= suffix.size() &&
           std::equal(suffix.rbegin(), suffix.rend(), labels.rbegin());
}

std::optional<unsigned> decimal_octet(const std::string& label) {
    if (label.empty() || label.size() > 3 || (label.size() > 1 && label[0] == '0'))
        return std::nullopt;
    unsigned v = 0;
    for (char c : label) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > 255) return std::nullopt;
    return v;
}

std::optional<unsigned> nibble(const std::string& label) {
    if (label.size() != 1) return std::nullopt;
    const char c = label[0];
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    return std::nullopt;
}

}  // namespace

Result<std::string> check_zone(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return make_error(Errc::invalid, "invalid DNS zone {}: {}", wire::quote_for_message(text),
                          why);
    };
    std::string zone(text);
    if (!zone.empty() && zone.back() == '.') zone.pop_back();
    if (zone.empty()) return bad("it is empty (the root is not a zone cug can have)");
    if (zone.size() + 1 > max_zone) return bad(fmt::format("it is longer than {}", max_zone));
    std::transform(zone.begin(), zone.end(), zone.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    const auto labels = split(zone);
    if (labels.size() > 4) return bad("it has more than 4 labels");
    for (const auto& l : labels) {
        if (l.empty() || l.size() > 63) return bad("a label is empty or longer than 63 characters");
        if (!std::all_of(l.begin(), l.end(), ldh) || l.front() == '-' || l.back() == '-')
            return bad("use letters, digits and '-' (not first or last in a label)");
    }
    if (labels.back() == "arpa") return bad("names under arpa are the reverse zones'");
    return zone + ".";
}

std::optional<std::string> label_of(std::string_view name) {
    if (name.empty() || name.size() > 63) return std::nullopt;
    std::string out(name);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
        else if (c == '.' || c == '_')
            c = '-';
    }
    return out;
}

Zone::Zone(const ZoneData& data, std::uint32_t serial)
    : zone_(data.zone), zone_labels_(split(data.zone)), serial_(serial) {
    const auto self = label_of(data.self);
    for (const auto& g : data.groups) {
        auto label = label_of(g.name);
        if (!label) continue;
        Group group;
        group.label = *label;
        group.prefix = g.prefix;
        const unsigned step = g.prefix.network.is_v4() ? 8 : 4;
        group.cut = g.prefix.length / step * step;
        // Two members whose names read as one label: neither has the name.
        std::set<std::string> clashes;
        auto add = [&](const std::string& user, const net::Address& address) {
            auto l = label_of(user);
            if (!l || clashes.count(*l)) return;
            if (!group.hosts.emplace(*l, address).second) {
                group.hosts.erase(*l);
                clashes.insert(*l);
            }
        };
        if (self) add(data.self, g.address);
        for (const auto& m : data.members)
            if (m.group == g.name && m.user != data.self) add(m.user, m.address);
        groups_.push_back(std::move(group));
    }
    // A group label read twice (VPN_1 and VPN-1) names neither.
    std::map<std::string, int> seen;
    for (const auto& g : groups_)
        ++seen[g.label];
    std::erase_if(groups_, [&](const Group& g) { return seen[g.label] > 1; });
    std::map<std::string, std::vector<net::Address>> by_user;
    for (const auto& g : groups_) {
        for (const auto& [user, address] : g.hosts) {
            by_user[user].push_back(address);
            reverse_[address] = user + "." + g.label + "." + zone_;
        }
    }
    for (const auto& [user, addresses] : by_user)
        if (addresses.size() == 1 && !seen.count(user)) short_.emplace(user, addresses.front());
}

Node Zone::find(const std::vector<std::string>& labels) const {
    if (empty()) return {};
    if (ends_with(labels, zone_labels_))
        return find_forward(std::vector<std::string>(
            labels.begin(), labels.end() - static_cast<std::ptrdiff_t>(zone_labels_.size())));
    if (ends_with(labels, {"in-addr", "arpa"}) || ends_with(labels, {"ip6", "arpa"}))
        return find_reverse(labels);
    return {};
}

Node Zone::find_forward(const std::vector<std::string>& rel) const {
    Node n;
    n.apex_name = zone_;
    n.kind = Node::Kind::absent;
    auto group = [&](const std::string& label) -> const Group* {
        for (const auto& g : groups_)
            if (g.label == label) return &g;
        return nullptr;
    };
    if (rel.empty()) {
        n.kind = Node::Kind::empty;
        n.apex = true;
    } else if (rel.size() == 1) {
        if (group(rel[0])) {
            n.kind = Node::Kind::empty;  // it has names below it: NODATA, not NXDOMAIN
        } else if (auto s = short_.find(rel[0]); s != short_.end()) {
            n.kind = Node::Kind::host;
            n.address = s->second;
        }
    } else if (rel.size() == 2) {
        if (const Group* g = group(rel[1])) {
            if (auto h = g->hosts.find(rel[0]); h != g->hosts.end()) {
                n.kind = Node::Kind::host;
                n.address = h->second;
            }
        }
    }
    return n;
}

Node Zone::find_reverse(const std::vector<std::string>& labels) const {
    const bool v4 = labels[labels.size() - 2] == "in-addr";
    const std::size_t max_parts = v4 ? 4 : 32;
    std::array<std::uint8_t, 16> bytes{};
    std::size_t parts = 0;
    bool junk = false;
    for (std::size_t i = labels.size() - 2; i-- > 0;) {
        const auto v = v4 ? decimal_octet(labels[i]) : nibble(labels[i]);
        if (!v || parts == max_parts) {
            junk = true;
            break;
        }
        if (v4)
            bytes[parts] = static_cast<std::uint8_t>(*v);
        else
            bytes[parts / 2] |= static_cast<std::uint8_t>(parts % 2 ? *v : *v << 4);
        ++parts;
    }
    const unsigned bits = static_cast<unsigned>(parts) * (v4 ? 8 : 4);
    const net::Prefix asked{*net::Address::from_bytes(ByteView(bytes.data(), v4 ? 4 : 16)), bits};
    for (const auto& g : groups_) {
        if (g.prefix.network.is_v4() != v4 || bits < g.cut || !g.prefix.overlaps(asked)) continue;
        Node n;
        n.apex_name = reverse_apex(g);
        if (junk) {
            n.kind = Node::Kind::absent;
        } else if (parts == max_parts) {
            auto r = reverse_.find(asked.network);
            n.kind = r == reverse_.end() ? Node::Kind::absent : Node::Kind::reverse;
            if (r != reverse_.end()) n.target = r->second;
        } else {
            n.kind = Node::Kind::empty;
            n.apex = bits == g.cut;
        }
        return n;
    }
    return {};
}

std::string Zone::reverse_apex(const Group& g) const {
    const ByteView b = g.prefix.network.bytes();
    std::string out;
    if (g.prefix.network.is_v4()) {
        for (unsigned i = g.cut / 8; i-- > 0;)
            out += fmt::format("{}.", b[i]);
        return out + "in-addr.arpa.";
    }
    for (unsigned i = g.cut / 4; i-- > 0;)
        out += fmt::format("{:x}.", i % 2 ? b[i / 2] & 0xf : b[i / 2] >> 4);
    return out + "ip6.arpa.";
}

std::vector<std::pair<std::string, net::Address>> Zone::names() const {
    std::vector<std::pair<std::string, net::Address>> out;
    for (const auto& g : groups_)
        for (const auto& [user, address] : g.hosts)
            out.emplace_back(user + "." + g.label + "." + zone_, address);
    for (const auto& [user, address] : short_)
        out.emplace_back(user + "." + zone_, address);
    return out;
}

std::vector<std::string> Zone::reverse_zones() const {
    std::vector<std::string> out;
    for (const auto& g : groups_)
        out.push_back(reverse_apex(g));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace cug::dns
