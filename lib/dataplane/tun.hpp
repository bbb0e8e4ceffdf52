// The TUN device and its configuration over rtnetlink: no `ip` commands, no
// shell. The device is not persistent: it goes when the last queue closes.
#pragma once

#include "core/result.hpp"
#include "net/address.hpp"

#include <string>
#include <vector>

namespace cug::dataplane {

// Errc::usage unless `name` can name a network interface as Linux allows
// (1 to 15 characters, none of them '/', ':' or white space, not "." or "..").
Result<void> check_interface_name(const std::string& name);

// A multi-queue TUN device (IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE), one file
// descriptor per queue, all non-blocking.
class TunDevice {
  public:
    // Errc::exists when a device of that name exists already. With
    // `offload`, every read and write starts with a 10-byte virtio-net header
    // and the kernel may hand over TCP super-packets (TSO4/TSO6) and packets
    // with unfinished checksums (dataplane/offload.hpp).
    static Result<TunDevice> open(const std::string& name, unsigned queues, bool offload = false);
    TunDevice(TunDevice&&) noexcept;
    TunDevice& operator=(TunDevice&&) = delete;
    ~TunDevice();

    const std::string& name() const { return name_; }
    int index() const { return index_; }
    const std::vector<int>& queues() const { return fds_; }

  private:
    TunDevice() = default;
    std::string name_;
    int index_ = 0;
    std::vector<int> fds_;
};

// One NETLINK_ROUTE socket, used for requests that want an acknowledgement.
class Netlink {
  public:
    static Result<Netlink> open();
    Netlink(Netlink&&) noexcept;
    Netlink& operator=(Netlink&&) = delete;
    ~Netlink();

    Result<void> set_link(int index, unsigned mtu, bool up);
    // The most segments the kernel puts in one TSO super-packet for the device.
    Result<void> set_gso_max_segs(int index, unsigned segments);
    // The address with its prefix length; the kernel adds the prefix's route
    // through the device. IPv6 addresses skip duplicate address detection.
    Result<void> add_address(int index, const net::Address& address, unsigned prefix_length);
    Result<void> delete_address(int index, const net::Address& address, unsigned prefix_length);

  private:
    Netlink() = default;
    Result<void> request(void* message, std::size_t size, std::string_view what);
    int fd_ = -1;
    std::uint32_t seq_ = 0;
};

}  // namespace cug::dataplane
