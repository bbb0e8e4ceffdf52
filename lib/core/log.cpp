#include "core/log.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <vector>

namespace cug::log {
namespace {

struct State {
    std::string program = "cug";
    std::atomic<bool> verbose{false};
    bool journal = false;
    std::string context_key, context_value;
};

State& state() {
    static State s;
    return s;
}

// systemd sets $JOURNAL_STREAM to "DEVICE:INODE" of the stream it connects
// stdout and stderr to; a stderr redirected since is not the journal's.
bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
    return dev == static_cast<unsigned long long>(st.st_dev) &&
           ino == static_cast<unsigned long long>(st.st_ino);
}

std::string_view level_name(Priority p) {
    switch (p) {
        case Priority::err:
            return "err";
        case Priority::warning:
            return "warning";
        case Priority::notice:
            return "notice";
        case Priority::info:
            return "info";
        case Priority::debug:
            return "debug";
    }
    return "info";
}

void write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n <= 0) return;  // nowhere to say it: not worth failing over
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string journal_key(std::string_view key) {
    std::string out = "CUG_";
    for (const char c : key)
        out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    return out;
}

bool send_to_journal(Priority priority, std::string_view name, const std::string& message,
                     std::initializer_list<Field> fields) {
    std::vector<std::string> items;
    items.reserve(fields.size() + 4);
    items.push_back(fmt::format("PRIORITY={}", static_cast<int>(priority)));
    items.push_back(fmt::format("SYSLOG_IDENTIFIER={}", state().program));
    items.push_back("MESSAGE=" + message);
    items.push_back(fmt::format("CUG_EVENT={}", name));
    for (const auto& f : fields)
        if (!f.value.empty()) items.push_back(journal_key(f.key) + "=" + f.value);
    if (!state().context_key.empty())
        items.push_back(journal_key(state().context_key) + "=" + state().context_value);
    std::vector<iovec> iov;
    iov.reserve(items.size());
    for (auto& item : items)
        iov.push_back(iovec{item.data(), item.size()});
    // The function, not the macro: CODE_FILE= would name this file.
    return (sd_journal_sendv)(iov.data(), static_cast<int>(iov.size())) >= 0;
}

}  // namespace

void setup(std::string_view program, bool verbose, std::string_view context_key,
           std::string_view context_value) {
    state().program = std::string(program);
    state().context_key = std::string(context_key);
    state().context_value = std::string(context_value);
    state().verbose = verbose;
    state().journal = stderr_is_journal();
}

bool verbose() {
    return state().verbose;
}

std::string quote(std::string_view value) {
    bool bare = !value.empty();
    for (const unsigned char c : value)
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\') bare = false;
    if (bare) return std::string(value);
    std::string out = "\"";
    for (const unsigned char c : value) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < ' ' || c >= 0x7f)
                    out += fmt::format("\\x{:02x}", c);
                else
                    out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string format(Priority priority, std::string_view name, std::initializer_list<Field> fields) {
    std::string line = fmt::format("level={} event={}", level_name(priority), name);
    for (const auto& f : fields)
        if (!f.value.empty()) line += fmt::format(" {}={}", f.key, quote(f.value));
    if (!state().context_key.empty())
        line += fmt::format(" {}={}", state().context_key, quote(state().context_value));
    return line;
}

void event(Priority priority, std::string_view name, std::initializer_list<Field> fields) {
    if (priority == Priority::debug && !state().verbose) return;
    const std::string line = format(priority, name, fields);
    if (state().journal) {
        if (send_to_journal(priority, name, line, fields)) return;
        // The journal's socket is gone but its stream is not: the stream
        // reads a "<N>" prefix as the priority.
        write_all(STDERR_FILENO, fmt::format("<{}>{}\n", static_cast<int>(priority), line));
        return;
    }
    write_all(STDERR_FILENO, fmt::format("{}: {}\n", state().program, line));
}

}  // namespace cug::log
