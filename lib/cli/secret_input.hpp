// Passwords and PINs come from a no-echo prompt on the terminal, or from a file
// descriptor a script hands over; never from argv or the environment.
#pragma once

#include "core/result.hpp"
#include "crypto/secret.hpp"

#include <optional>
#include <string_view>

namespace cug::cli {

struct SecretRules {
    std::string_view what = "password";  // for messages: "password", "PIN"
    std::size_t min_length = 1;
    std::size_t max_length = 1024;
};

// One line from fd (up to a newline, which is dropped, or the end of input),
// read a byte at a time so several secrets can share one descriptor.
Result<crypto::SecretBuffer> read_secret_from_fd(int fd, const SecretRules& rules);

// Asks on the controlling terminal with echo off; with `confirm`, asks twice and
// insists on the same answer. Errc::usage when there is no terminal.
Result<crypto::SecretBuffer> prompt_secret(std::string_view prompt, const SecretRules& rules,
                                           bool confirm);

// What was typed elsewhere (a PAM conversation's answer), held to the same
// rules as the rest.
Result<crypto::SecretBuffer> accept_secret(ByteView typed, const SecretRules& rules);

// From fd when given, else from the terminal.
Result<crypto::SecretBuffer> read_secret(std::optional<int> fd, std::string_view prompt,
                                         const SecretRules& rules, bool confirm);

}  // namespace cug::cli
