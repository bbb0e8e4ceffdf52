#include "wire/json.hpp"

#include <fmt/format.h>

#include <cassert>

namespace cug::wire {

void JsonWriter::newline() {
    out_ += '\n';
    out_.append(stack_.size() * 2, ' ');
}

void JsonWriter::before_value() {
    if (stack_.empty()) {
        assert(out_.empty() && "one top-level value only");
        return;
    }
    Level& level = stack_.back();
    if (level.object) {
        assert(level.key_pending && "a value in an object needs a key");
        level.key_pending = false;
        return;
    }
    if (!level.empty) out_ += ',';
    level.empty = false;
    newline();
}

void JsonWriter::key(std::string_view k) {
    assert(!stack_.empty() && stack_.back().object && !stack_.back().key_pending);
    Level& level = stack_.back();
    if (!level.empty) out_ += ',';
    level.empty = false;
    level.key_pending = true;
    newline();
    raw_string(k);
    out_ += ": ";
}

void JsonWriter::begin_object() {
    before_value();
    out_ += '{';
    stack_.push_back({true});
}

void JsonWriter::begin_array() {
    before_value();
    out_ += '[';
    stack_.push_back({false});
}

void JsonWriter::end_object() {
    assert(!stack_.empty() && stack_.back().object && !stack_.back().key_pending);
    const bool empty = stack_.back().empty;
    stack_.pop_back();
    if (!empty) newline();
    out_ += '}';
}

void JsonWriter::end_array() {
    assert(!stack_.empty() && !stack_.back().object);
    const bool empty = stack_.back().empty;
    stack_.pop_back();
    if (!empty) newline();
    out_ += ']';
}

void JsonWriter::value(std::string_view v) {
    before_value();
    raw_string(v);
}

void JsonWriter::value(std::uint64_t v) {
    before_value();
    out_ += std::to_string(v);
}

void JsonWriter::value(std::int64_t v) {
    before_value();
    out_ += std::to_string(v);
}

void JsonWriter::value(bool v) {
    before_value();
    out_ += v ? "true" : "false";
}

void JsonWriter::null() {
    before_value();
    out_ += "null";
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if there is none
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
std::size_t utf8_length(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    std::size_t n;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        if ((b(k) & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (b(k) & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

}  // namespace

void JsonWriter::raw_string(std::string_view s) {
    out_ += '"';
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            if (std::size_t n = utf8_length(s, i)) {
                out_.append(s.substr(i, n));
                i += n;
            } else {
                out_ += "\\ufffd";
                ++i;
            }
            continue;
        }
        switch (c) {
            case '"':
                out_ += "\\\"";
                break;
            case '\\':
                out_ += "\\\\";
                break;
            case '\n':
                out_ += "\\n";
                break;
            case '\r':
                out_ += "\\r";
                break;
            case '\t':
                out_ += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f)
                    out_ += fmt::format("\\u{:04x}", c);
                else
                    out_ += static_cast<char>(c);
        }
        ++i;
    }
    out_ += '"';
}

}  // namespace cug::wire
