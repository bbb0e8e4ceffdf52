// Shell completion, made from the program's own command line (its CLI11 App)
// so that it never disagrees with --help: subcommands and their aliases,
// options, and file or directory names where a value's hint says FILE, PATH
// or DIR. Hidden options and subcommands are not offered.
//
// `PROGRAM completion bash` and `PROGRAM completion zsh` print the scripts;
// cli::parse answers them before anything else (no configuration file is
// read), which is how the build makes the installed files.
#pragma once

#include "core/result.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

namespace cug::cli {

// The script for `shell` ("bash" or "zsh"); anything else is Errc::usage.
Result<std::string> completion_script(const CLI::App& app, std::string_view shell);

}  // namespace cug::cli
