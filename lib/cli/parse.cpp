#include "cli/parse.hpp"
#include "cli/completion.hpp"
#include "cli/config.hpp"

#include <regex>
#include <string>

namespace cug::cli {

namespace {

std::string one_line(std::string message) {
    while (!message.empty() && message.back() == '\n')
        message.pop_back();
    for (auto& c : message)
        if (c == '\n') c = ' ';
    return message;
}

// The first long option a CLI11 message names ("--mtu: Value 9 not in range").
std::string option_named(const std::string& message) {
    static const std::regex long_option("--[A-Za-z0-9][A-Za-z0-9-]*");
    std::smatch m;
    return std::regex_search(message, m, long_option) ? m.str() : "";
}

}  // namespace

std::optional<int> parse(CLI::App& app, int argc, char** argv) {
    const std::string name = app.get_name();
    // `PROGRAM completion SHELL`, before any configuration file is read.
    if (argc >= 2 && std::string_view(argv[1]) == "completion") {
        Result<std::string> script =
            argc == 3 ? completion_script(app, argv[2])
                      : Result<std::string>(
                            make_error(Errc::usage, "completion needs one shell: bash or zsh"));
        if (!script) {
            fmt::print(stderr, "{}: {}\n", name, script.error().message);
            return exit_status(Errc::usage);
        }
        fmt::print("{}", *script);
        return 0;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::FileError& e) {
        fmt::print(stderr, "{}: {}\n", name, one_line(e.what()));
        return exit_status(Errc::no_input);
    } catch (const CLI::ConfigError& e) {
        fmt::print(stderr, "{}: {}\n", name, one_line(e.what()));
        return exit_status(Errc::config);
    } catch (const CLI::ParseError& e) {
        const std::string message = one_line(e.what());
        // A bad value from the file is the file's error, not the command line's.
        if (auto origin = config_origin(app, option_named(message)); !origin.empty()) {
            fmt::print(stderr, "{}: {}{}\n", name, origin, message);
            return exit_status(Errc::config);
        }
        fmt::print(stderr, "{}: {} (see {} --help)\n", name, message, name);
        return exit_status(Errc::usage);
    }
    return std::nullopt;
}

}  // namespace cug::cli
