// Quoting outside input inside one-line error messages.
#pragma once

#include <string>
#include <string_view>

namespace cug::wire {

// 'text' in single quotes, printable ASCII kept, anything else as \xNN, cut
// after `max` bytes with "...": safe to put in a one-line message.
std::string quote_for_message(std::string_view text, std::size_t max = 40);
// Our own text as a key=value value: printable ASCII kept, anything else as
// '?', cut after `max` bytes with "...". No quotes added.
std::string one_line(std::string_view text, std::size_t max = 400);

}  // namespace cug::wire
