#include "wire/text.hpp"

#include <fmt/format.h>

namespace cug::wire {

std::string quote_for_message(std::string_view text, std::size_t max) {
    std::string out = "'";
    for (std::size_t i = 0; i < text.size() && i < max; ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
            out.push_back(static_cast<char>(c));
        else
            out += fmt::format("\\x{:02x}", c);
    }
    if (text.size() > max) out += "...";
    out += "'";
    return out;
}

std::string one_line(std::string_view text, std::size_t max) {
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < max; ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    }
    if (text.size() > max) out += "...";
    return out;
}

}  // namespace cug::wire
