// Configuration files (man/cug.conf.5): CLI11's reader under cug's strict
// checks, on the options of cugd and cug-tun, for any bytes.
#include "cli/config.hpp"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cug;
    CLI::App app{"fuzz"};
    cli::add_config(app, "/nonexistent/cug-fuzz.conf");
    std::string text_option;
    unsigned number = 0;
    double hours = 0;
    bool flag = false;
    std::vector<std::string> list;
    app.add_option("--listen", text_option);
    app.add_option("--mtu", number)->check(CLI::Range(1280, 9000));
    app.add_option("--session-hours", hours)->check(CLI::Range(0.01, 168.0));
    app.add_flag("--no-offload", flag);
    app.add_option("--peer", list);
    app.add_option("--hidden", text_option)->group("");
    std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
    try {
        app.parse_from_stream(in);
    } catch (const CLI::Error& e) {
        // Every refusal is a message a person can read.
        if (std::string(e.what()).empty()) __builtin_trap();
    }
    (void)cli::config_origin(app, "--mtu");
    return 0;
}
