#include "cli/service.hpp"

#include <systemd/sd-daemon.h>

#include <string>

namespace cug::cli {

void notify_ready(std::string_view status) {
    std::string message = "READY=1\nSTATUS=";
    for (const char c : status)
        message += c == '\n' ? ' ' : c;
    // 0: the socket named by $NOTIFY_SOCKET stays set for children the
    // program never starts; <0: nobody listens, which is not ours to fix.
    (void)sd_notify(0, message.c_str());
}

}  // namespace cug::cli
