#include "store/names.hpp"

#include "wire/text.hpp"

namespace cug::store {

namespace {

bool name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool alnum(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

Result<void> check_name(std::string_view kind, std::string_view name, std::size_t max) {
    bool good = !name.empty() && name.size() <= max && alnum(name[0]);
    for (char c : name)
        good = good && name_char(c);
    if (!good)
        return make_error(Errc::invalid,
                          "invalid {} name {}: use 1-{} letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit",
                          kind, wire::quote_for_message(name), max);
    return ok();
}

}  // namespace

Result<void> check_user_name(std::string_view name) {
    return check_name("user", name, max_user_name);
}

Result<void> check_group_name(std::string_view name) {
    return check_name("group", name, max_group_name);
}

Result<void> check_group_prefix(const net::Prefix& prefix) {
    const std::string text = prefix.to_string();
    if (prefix.network.is_v4()) {
        if (prefix.length < 8 || prefix.length > 30)
            return make_error(Errc::invalid,
                              "group prefix {} has the wrong size: IPv4 group prefixes are /8 "
                              "to /30",
                              text);
        const ByteView a = prefix.network.bytes();
        if (a[0] == 0 || a[0] == 127 || a[0] >= 224 || (a[0] == 169 && a[1] == 254))
            return make_error(Errc::invalid,
                              "group prefix {} is in reserved space (unspecified, loopback, "
                              "link-local, multicast or class E)",
                              text);
        return ok();
    }
    if (prefix.length < 16 || prefix.length > 126)
        return make_error(Errc::invalid,
                          "group prefix {} has the wrong size: IPv6 group prefixes are /16 to "
                          "/126",
                          text);
    const ByteView a = prefix.network.bytes();
    static const auto mapped = *net::Prefix::parse("::ffff:0.0.0.0/96");
    static const auto unspecified = *net::Prefix::parse("::/96");
    if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || mapped.overlaps(prefix) ||
        unspecified.overlaps(prefix))
        return make_error(Errc::invalid,
                          "group prefix {} is in reserved space (unspecified, loopback, "
                          "IPv4-mapped, link-local or multicast)",
                          text);
    return ok();
}

unsigned __int128 last_offset(const net::Prefix& prefix) {
    const unsigned bits = prefix.host_bits();
    const unsigned __int128 size = bits >= 128 ? ~static_cast<unsigned __int128>(0)
                                               : static_cast<unsigned __int128>(1) << bits;
    // IPv4 keeps the broadcast address out; IPv6 has none, but offset 0 is the
    // subnet-router anycast address there, kept out like IPv4's network address.
    return prefix.network.is_v4() ? size - 2 : size - 1;
}

}  // namespace cug::store
