// Every program's command line, parsed the same way (CLI11, header-only).
#pragma once

#include "core/result.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

namespace cug::cli {

// nullopt: go on. Otherwise the exit status: 0 after --help or --version; 64
// after a usage error, which is one line on stderr naming the program; 66 when
// the file named by --config is missing, and 78 for an error in a
// configuration file, which names the file and the line. `PROGRAM completion
// bash|zsh` prints the shell completion script (cli/completion.hpp) and is 0.
std::optional<int> parse(CLI::App& app, int argc, char** argv);

// A CLI11 check from a function that reads a value and returns a Result: the
// value is refused with the Result's message, wherever it came from.
template <class Parse>
std::function<std::string(const std::string&)> checked(Parse parse) {
    return [parse](const std::string& text) -> std::string {
        auto parsed = parse(text);
        return parsed ? std::string() : parsed.error().message;
    };
}

}  // namespace cug::cli
