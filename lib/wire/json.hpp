// JSON output for the --json forms of list and show commands: pretty-printed
// with two-space indentation, always valid (invalid UTF-8 becomes U+FFFD).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cug::wire {

class JsonWriter {
  public:
    void begin_object();
    void end_object();
    void begin_array();
    void end_array();
    // The key of the next value inside an object.
    void key(std::string_view k);

    void value(std::string_view v);
    void value(const char* v) { value(std::string_view(v)); }
    void value(const std::string& v) { value(std::string_view(v)); }
    void value(std::uint64_t v);
    void value(std::int64_t v);
    void value(std::uint32_t v) { value(std::uint64_t{v}); }
    void value(int v) { value(std::int64_t{v}); }
    void value(bool v);
    void null();

    template <typename T>
    void field(std::string_view k, const T& v) {
        key(k);
        value(v);
    }

    // The document, ending with a newline once the outermost value is closed.
    std::string str() const { return out_ + (stack_.empty() && !out_.empty() ? "\n" : ""); }

  private:
    void before_value();
    void newline();
    void raw_string(std::string_view s);

    struct Level {
        bool object;
        bool empty = true;
        bool key_pending = false;
    };
    std::string out_;
    std::vector<Level> stack_;
};

}  // namespace cug::wire
