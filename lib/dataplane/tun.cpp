#include "dataplane/tun.hpp"

#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace cug::dataplane {

Result<void> check_interface_name(const std::string& name) {
    bool fits = !name.empty() && name.size() < IFNAMSIZ && name != "." && name != "..";
    for (const char c : name)
        fits = fits && c != '/' && c != ':' && !std::isspace(static_cast<unsigned char>(c)) &&
               std::isprint(static_cast<unsigned char>(c));
    if (!fits)
        return make_error(Errc::usage,
                          "'{}' is not an interface name (1 to {} characters, no '/', ':' or "
                          "spaces)",
                          name, IFNAMSIZ - 1);
    return ok();
}

Result<TunDevice> TunDevice::open(const std::string& name, unsigned queues, bool offload) {
    CUG_CHECK(check_interface_name(name));
    if (queues == 0) queues = 1;
    if (if_nametoindex(name.c_str()) != 0)
        return make_error(Errc::exists, "an interface named {} exists already", name);
    TunDevice dev;
    dev.name_ = name;
    for (unsigned i = 0; i < queues; ++i) {
        const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return make_error(errno == EACCES || errno == EPERM ? Errc::permission : Errc::os,
                              "opening /dev/net/tun: {}", std::strerror(errno));
        dev.fds_.push_back(fd);
        ifreq ifr{};
        std::memcpy(ifr.ifr_name, name.data(), name.size());
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | (offload ? IFF_VNET_HDR : 0);
        if (::ioctl(fd, TUNSETIFF, &ifr) != 0)
            return make_error(errno == EPERM ? Errc::permission : Errc::os,
                              "creating TUN device {}: {}", name, std::strerror(errno));
        if (offload) {
            // Always both: offloads without the header would hand over
            // unfinished checksums with nothing to say so.
            int size = 10;
            const unsigned features = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
            if (::ioctl(fd, TUNSETVNETHDRSZ, &size) != 0 ||
                ::ioctl(fd, TUNSETOFFLOAD, features) != 0)
                return make_error(Errc::os, "turning on offloads on {}: {}", name,
                                  std::strerror(errno));
        }
    }
    dev.index_ = static_cast<int>(if_nametoindex(name.c_str()));
    if (dev.index_ == 0)
        return make_error(Errc::os, "TUN device {} vanished: {}", name, std::strerror(errno));
    return dev;
}

TunDevice::TunDevice(TunDevice&& o) noexcept
    : name_(std::move(o.name_)), index_(o.index_), fds_(std::move(o.fds_)) {
    o.fds_.clear();
}

TunDevice::~TunDevice() {
    for (int fd : fds_)
        ::close(fd);
}

Result<Netlink> Netlink::open() {
    Netlink n;
    n.fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (n.fd_ < 0) return make_error(Errc::os, "opening rtnetlink: {}", std::strerror(errno));
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (::bind(n.fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
        return make_error(Errc::os, "binding rtnetlink: {}", std::strerror(errno));
    timeval tv{2, 0};
    setsockopt(n.fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return n;
}

Netlink::Netlink(Netlink&& o) noexcept : fd_(o.fd_), seq_(o.seq_) {
    o.fd_ = -1;
}
Netlink::~Netlink() {
    if (fd_ >= 0) ::close(fd_);
}

namespace {

struct Request {
    nlmsghdr header;
    union {
        ifinfomsg link;
        ifaddrmsg addr;
    };
    alignas(NLMSG_ALIGNTO) std::uint8_t attributes[128];
};

rtattr* add_attribute(Request& r, std::uint16_t type, const void* data, std::size_t size) {
    auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<std::uint8_t*>(&r) +
                                        NLMSG_ALIGN(r.header.nlmsg_len));
    a->rta_type = type;
    a->rta_len = static_cast<std::uint16_t>(RTA_LENGTH(size));
    if (size) std::memcpy(RTA_DATA(a), data, size);
    r.header.nlmsg_len =
        static_cast<std::uint32_t>(NLMSG_ALIGN(r.header.nlmsg_len) + RTA_ALIGN(a->rta_len));
    return a;
}
// A nested attribute ends where the message ends now.
void end_nest(Request& r, rtattr* nest) {
    nest->rta_len =
        static_cast<std::uint16_t>(reinterpret_cast<std::uint8_t*>(&r) + r.header.nlmsg_len -
                                   reinterpret_cast<std::uint8_t*>(nest));
}

}  // namespace

Result<void> Netlink::request(void* message, std::size_t size, std::string_view what) {
    auto* h = static_cast<nlmsghdr*>(message);
    h->nlmsg_seq = ++seq_;
    h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_, message, size, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
        return make_error(Errc::os, "{}: {}", what, std::strerror(errno));
    alignas(nlmsghdr) std::uint8_t buf[8192];
    for (;;) {
        ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
        if (got < 0)
            return make_error(Errc::os, "{}: no answer from the kernel: {}", what,
                              std::strerror(errno));
        unsigned n = static_cast<unsigned>(got);
        for (auto* r = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(r, n); r = NLMSG_NEXT(r, n)) {
            if (r->nlmsg_seq != seq_ || r->nlmsg_type != NLMSG_ERROR) continue;
            const int error = -static_cast<const nlmsgerr*>(NLMSG_DATA(r))->error;
            if (error == 0) return ok();
            return make_error(error == EPERM ? Errc::permission : Errc::os, "{}: {}", what,
                              std::strerror(error));
        }
    }
}

Result<void> Netlink::set_link(int index, unsigned mtu, bool up) {
    {
        // No IPv6 link-local address: the device carries only the groups'
        // addresses, and sends nothing of its own (router solicitations).
        Request g{};
        g.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
        g.header.nlmsg_type = RTM_NEWLINK;
        g.link.ifi_family = AF_UNSPEC;
        g.link.ifi_index = index;
        rtattr* spec = add_attribute(g, IFLA_AF_SPEC, nullptr, 0);
        rtattr* inet6 = add_attribute(g, AF_INET6, nullptr, 0);
        const std::uint8_t none = IN6_ADDR_GEN_MODE_NONE;
        add_attribute(g, IFLA_INET6_ADDR_GEN_MODE, &none, sizeof none);
        end_nest(g, inet6);
        end_nest(g, spec);
        // A kernel without IPv6 refuses this; the device works without it.
        (void)request(&g, g.header.nlmsg_len, "turning off IPv6 link-local addresses");
    }
    Request r{};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    r.header.nlmsg_type = RTM_NEWLINK;
    r.link.ifi_family = AF_UNSPEC;
    r.link.ifi_index = index;
    r.link.ifi_change = IFF_UP;
    r.link.ifi_flags = up ? IFF_UP : 0;
    const std::uint32_t m = mtu;
    add_attribute(r, IFLA_MTU, &m, sizeof m);
    return request(&r, r.header.nlmsg_len, "configuring the interface");
}

Result<void> Netlink::set_gso_max_segs(int index, unsigned segments) {
    Request r{};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    r.header.nlmsg_type = RTM_NEWLINK;
    r.link.ifi_family = AF_UNSPEC;
    r.link.ifi_index = index;
    const std::uint32_t n = segments;
    add_attribute(r, IFLA_GSO_MAX_SEGS, &n, sizeof n);
    return request(&r, r.header.nlmsg_len, "limiting the segments per super-packet");
}

namespace {

Request address_request(std::uint16_t type, int index, const net::Address& address,
                        unsigned prefix_length) {
    Request r{};
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
    r.header.nlmsg_type = type;
    r.addr.ifa_family = static_cast<std::uint8_t>(address.family());
    r.addr.ifa_prefixlen = static_cast<std::uint8_t>(prefix_length);
    r.addr.ifa_scope = RT_SCOPE_UNIVERSE;
    r.addr.ifa_index = static_cast<std::uint32_t>(index);
    const auto bytes = address.bytes();
    add_attribute(r, IFA_LOCAL, bytes.data(), bytes.size());
    add_attribute(r, IFA_ADDRESS, bytes.data(), bytes.size());
    if (!address.is_v4()) {
        const std::uint32_t flags = IFA_F_NODAD;
        r.addr.ifa_flags = IFA_F_NODAD;
        add_attribute(r, IFA_FLAGS, &flags, sizeof flags);
    }
    return r;
}

}  // namespace

Result<void> Netlink::add_address(int index, const net::Address& address, unsigned prefix_length) {
    Request r = address_request(RTM_NEWADDR, index, address, prefix_length);
    r.header.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    return request(&r, r.header.nlmsg_len,
                   fmt::format("adding {}/{}", address.to_string(), prefix_length));
}

Result<void> Netlink::delete_address(int index, const net::Address& address,
                                     unsigned prefix_length) {
    Request r = address_request(RTM_DELADDR, index, address, prefix_length);
    return request(&r, r.header.nlmsg_len,
                   fmt::format("removing {}/{}", address.to_string(), prefix_length));
}

}  // namespace cug::dataplane
