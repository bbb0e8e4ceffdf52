// What a program tells its service manager (systemd's Type=notify): nothing
// at all when it was not started by one.
#pragma once

#include <string_view>

namespace cug::cli {

// READY=1 and a one-line STATUS= for `systemctl status`, once the program
// serves (its sockets bound, its store open). A failure is not an error: a
// manager that cannot be told only delays its own start-up timeout.
void notify_ready(std::string_view status);

}  // namespace cug::cli
