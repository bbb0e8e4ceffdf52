// Configuration files (man/cug.conf.5), read by CLI11's own reader: a file
// holds `flag-name = value` lines for the program's long options, the command
// line wins over the file, and every key the program does not know is an
// error naming the file and the line, as is a bad value that came from it.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

namespace cug::cli {

// Adds `--config FILE` to `app`. `default_file` is read when it exists (and
// silently skipped when it does not); a file named with --config must exist.
// Returns the option, so a caller can change its default before parsing ends
// (cug-tun names its file after --interface).
CLI::Option* add_config(CLI::App& app, const std::string& default_file);

// "FILE:LINE: " for the option named `long_name` ("--mtu") when its value came
// from the configuration file `app` read, else "".
std::string config_origin(const CLI::App& app, const std::string& long_name);

}  // namespace cug::cli
