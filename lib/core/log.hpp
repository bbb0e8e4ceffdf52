// What the daemons (cugd, cug-tun, cug-logout --wait) say about what happens:
// one line per event, with a syslog priority, a stable event name and
// key=value fields, and never a secret (no field takes a password, PIN, key or
// session ID: callers pass names, endpoints, counts and reasons).
//
// Under systemd, when stderr is the journal's stream ($JOURNAL_STREAM names
// it), each event goes to the journal natively: PRIORITY=, MESSAGE= (the same
// line), CUG_EVENT= and one CUG_<KEY>= field per key, so that
// `journalctl CUG_EVENT=login CUG_USER=USER-A` finds it; rsyslog reads the
// same through the journal. Anywhere else it is one logfmt line on stderr:
//   cugd: level=notice event=login user=USER-A terminal=192.0.2.10:40512
// Values are quoted and escaped when they need it, so a name a stranger chose
// can never forge a line or a field. The events are listed in man/cug.7, LOGS.
#pragma once

#include <concepts>
#include <initializer_list>
#include <string>
#include <string_view>

namespace cug::log {

enum class Priority { err = 3, warning = 4, notice = 5, info = 6, debug = 7 };

struct Field {
    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(v) {}
    Field(std::string_view k, const char* v) : key(k), value(v) {}
    template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>) Field(std::string_view k, T v)
        : key(k), value(std::to_string(v)) {}
    Field(std::string_view k, bool v) : key(k), value(v ? "yes" : "no") {}

    std::string_view key;  // lower-case ASCII letters, digits and '_'
    std::string value;
};

// Once, early in main, before any thread: the program's name, whether debug
// events are shown (--verbose), and a field every event carries (cug-tun's
// interface=cug0), if any. Until then events go to stderr as "cug: ...".
void setup(std::string_view program, bool verbose, std::string_view context_key = {},
           std::string_view context_value = {});

bool verbose();

// Thread-safe; each event is a single write. Fields with empty values are
// left out (a refused stranger who gave no user has no user=).
void event(Priority priority, std::string_view name, std::initializer_list<Field> fields = {});

// The logfmt form of an event without the program's name:
// "level=notice event=login user=USER-A" (for tests and for MESSAGE=).
std::string format(Priority priority, std::string_view name, std::initializer_list<Field> fields);

// A value as logfmt writes it: bare when it is printable ASCII without spaces,
// quotes, '=' or '\\', else in double quotes with \" \\ \n \t \xHH escapes.
std::string quote(std::string_view value);

}  // namespace cug::log
