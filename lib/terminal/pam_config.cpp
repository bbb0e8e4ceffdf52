#include "terminal/pam_config.hpp"

#include "core/guarded_file.hpp"
#include "dataplane/tun.hpp"
#include "store/names.hpp"
#include "wire/text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

namespace cug::terminal {

namespace {

// What a local user name may be: what shadow's useradd and systemd accept
// in the widest sense (no whitespace, ':', '/' or control bytes, not '.' or
// '..', not all digits), up to 256 bytes.
bool local_user_name(std::string_view name) {
    if (name.empty() || name.size() > 256 || name == "." || name == "..") return false;
    bool digits = true;
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == ':' || c == '/' || c == ',') return false;
        digits = digits && c >= '0' && c <= '9';
    }
    return !digits;
}

bool blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

}  // namespace

bool UserMap::allows(const std::string& card_user, const std::string& local_user) const {
    const auto it = locals_.find(card_user);
    return it != locals_.end() && it->second.count(local_user) > 0;
}

Result<UserMap> parse_user_map(std::string_view text) {
    if (text.size() > max_user_map_bytes)
        return make_error(Errc::invalid, "more than {} bytes", max_user_map_bytes);
    UserMap map;
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (const auto hash = line.find('#'); hash != std::string_view::npos)
            line = line.substr(0, hash);
        std::vector<std::string_view> words;
        std::size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && blank(line[i]))
                ++i;
            std::size_t j = i;
            while (j < line.size() && !blank(line[j]))
                ++j;
            if (j > i) words.push_back(line.substr(i, j - i));
            i = j;
        }
        if (words.empty()) continue;
        if (words.size() == 1)
            return make_error(Errc::invalid, "line {}: {} maps to no local user", line_no,
                              wire::quote_for_message(words[0]));
        if (auto valid = store::check_user_name(words[0]); !valid)
            return make_error(Errc::invalid, "line {}: {} is not a cug user ID", line_no,
                              wire::quote_for_message(words[0]));
        auto& locals = map.locals_[std::string(words[0])];
        for (std::size_t w = 1; w < words.size(); ++w) {
            if (!local_user_name(words[w]))
                return make_error(Errc::invalid, "line {}: {} is not a user name", line_no,
                                  wire::quote_for_message(words[w]));
            if (locals.insert(std::string(words[w])).second) ++map.pairs_;
        }
    }
    return map;
}

Result<UserMap> load_user_map(const std::filesystem::path& file) {
    const std::string text =
        CUG_TRY(read_guarded_file(file, {false, S_IWGRP | S_IWOTH, max_user_map_bytes,
                                         "be owned by root and writable by nobody else"}));
    auto map = parse_user_map(text);
    if (!map) return make_error(map.error().code, "{}: {}", file.string(), map.error().message);
    return map;
}

Result<PamOptions> parse_pam_options(std::span<const std::string_view> args) {
    PamOptions o;
    for (const std::string_view arg : args) {
        const auto eq = arg.find('=');
        const std::string_view key = arg.substr(0, eq);
        const bool has_value = eq != std::string_view::npos;
        const std::string value(has_value ? arg.substr(eq + 1) : std::string_view());
        auto flag = [&](bool& out) -> Result<void> {
            if (has_value) return make_error(Errc::usage, "'{}' takes no value", key);
            out = true;
            return ok();
        };
        auto needs_value = [&]() -> Result<void> {
            if (!has_value || value.empty())
                return make_error(Errc::usage, "'{}' needs a value ({}=...)", key, key);
            if (value.find_first_of(std::string_view("\0\n", 2)) != std::string::npos)
                return make_error(Errc::usage, "'{}' has a control character in its value", key);
            return ok();
        };
        if (key == "debug") {
            CUG_CHECK(flag(o.debug));
        } else if (key == "use_first_pass") {
            CUG_CHECK(flag(o.use_first_pass));
        } else if (key == "try_first_pass") {
            CUG_CHECK(flag(o.try_first_pass));
        } else if (key == "server") {
            CUG_CHECK(needs_value());
            o.server = value;
        } else if (key == "reader") {
            CUG_CHECK(needs_value());
            o.reader = value;
        } else if (key == "interface") {
            CUG_CHECK(needs_value());
            CUG_CHECK(dataplane::check_interface_name(value));
            o.interface = value;
        } else if (key == "socket_dir") {
            CUG_CHECK(needs_value());
            if (value[0] != '/')
                return make_error(Errc::usage, "socket_dir= must be an absolute path");
            o.socket_dir = value;
        } else if (key == "map") {
            CUG_CHECK(needs_value());
            if (value[0] != '/') return make_error(Errc::usage, "map= must be an absolute path");
            o.map = value;
        } else if (key == "no_card") {
            CUG_CHECK(needs_value());
            if (value != "fail" && value != "ignore")
                return make_error(Errc::usage, "no_card= is 'fail' or 'ignore', not {}",
                                  wire::quote_for_message(value));
            o.ignore_no_card = value == "ignore";
        } else if (key == "timeout") {
            CUG_CHECK(needs_value());
            unsigned seconds = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
            if (ec != std::errc() || end != value.data() + value.size() || seconds < 1 ||
                seconds > 300)
                return make_error(Errc::usage, "timeout= is 1 to 300 seconds, not {}",
                                  wire::quote_for_message(value));
            o.timeout = std::chrono::seconds(seconds);
        } else {
            return make_error(Errc::usage, "unknown argument {}", wire::quote_for_message(arg));
        }
    }
    if (o.use_first_pass && o.try_first_pass)
        return make_error(Errc::usage, "use_first_pass and try_first_pass exclude each other");
    return o;
}

bool card_user_may_log_in(const std::optional<UserMap>& map, const std::string& card_user,
                          const std::string& local_user) {
    return map ? map->allows(card_user, local_user) : card_user == local_user;
}

}  // namespace cug::terminal
