// Every program's command line, parsed the same way (CLI11, header-only).
#pragma once

#include "core/result.hpp"

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace cug::cli {

// nullopt: go on. Otherwise the exit status: 0 after --help or --version,
// 64 after a usage error, which is one line on stderr naming the program.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string message = e.what();
        while (!message.empty() && message.back() == '\n')
            message.pop_back();
        for (auto& c : message)
            if (c == '\n') c = ' ';
        fmt::print(stderr, "{}: {} (see {} --help)\n", app.get_name(), message, app.get_name());
        return exit_status(Errc::usage);
    }
    return std::nullopt;
}

}  // namespace cug::cli
