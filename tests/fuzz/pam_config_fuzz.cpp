// pam_cug's inputs from outside: its arguments in a PAM file (here the bytes
// split at NUL into arguments) and the map file, for any bytes.
#include "terminal/pam_config.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto map = terminal::parse_user_map(text); !map) {
        // Every refusal names its line.
        if (map.error().message.rfind("line ", 0) != 0 &&
            text.size() <= terminal::max_user_map_bytes)
            __builtin_trap();
    } else if (map->allows("", "") || map->allows("USER-A", "")) {
        __builtin_trap();  // an empty name never maps
    }
    std::vector<std::string_view> args;
    for (std::size_t start = 0; start <= text.size();) {
        const auto nul = text.find('\0', start);
        const auto end = nul == std::string_view::npos ? text.size() : nul;
        args.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    if (auto o = terminal::parse_pam_options(args); !o) {
        if (o.error().message.empty()) __builtin_trap();
    } else if (o->timeout.count() < 1 || o->timeout.count() > 300 ||
               (o->use_first_pass && o->try_first_pass)) {
        __builtin_trap();
    }
    return 0;
}
