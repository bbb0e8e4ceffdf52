// Value-returned errors for every module boundary.
//
// std::expected would do, but the fuzz targets are built with clang 14, whose
// front end cannot use libstdc++ 12's <expected>; this is the small subset we need.
#pragma once

#include <fmt/format.h>

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace cug {

// What went wrong, coarsely enough that main() can map it to one sysexits.h
// status (see exit_status()). The message says the rest, in one line.
enum class Errc {
    usage,        // the command line is wrong                    EX_USAGE 64
    invalid,      // an input value is malformed or refused        EX_DATAERR 65
    no_input,     // a file or store that must exist does not      EX_NOINPUT 66
    not_found,    // unknown user, group, member, session          EX_NOUSER 67
    unavailable,  // a resource is exhausted (full prefix)         EX_UNAVAILABLE 69
    internal,     // a bug or an impossible state                  EX_SOFTWARE 70
    os,           // a system call failed unexpectedly             EX_OSERR 71
    exists,       // the thing to create already exists            EX_CANTCREAT 73
    io,           // reading or writing failed                     EX_IOERR 74
    temporary,    // try again later (store locked by a writer)    EX_TEMPFAIL 75
    protocol,     // the peer broke the protocol                   EX_PROTOCOL 76
    permission,   // not allowed                                   EX_NOPERM 77
    config,       // a store or file of the wrong kind or version  EX_CONFIG 78
};

// The sysexits.h status for an error class.
int exit_status(Errc code);
// A short stable name ("not_found") for JSON output and tests.
const char* errc_name(Errc code);

// Finer than Errc where a program owes its caller a distinct exit status
// (cug-login's, man/cug-login.1); most errors have none.
enum class Reason {
    none,
    no_card,  // no reader, no card, or pcscd not running
    wrong_pin,
    pin_blocked,
    server_mismatch,  // the server's key is not the one on the card
    unreachable,      // no connection to cugd
    wrong_password,
    locked_out,
    disabled,
    refused,  // cugd refused without saying why (the card was not accepted)
    no_groups,
    agent_missing,  // cug-tun is not running
};

struct Error {
    Errc code;
    std::string message;  // one line, no trailing newline, no secrets
    Reason reason = Reason::none;
};

inline Error with_reason(Error error, Reason reason) {
    error.reason = reason;
    return error;
}

template <typename... Args>
Error make_error(Errc code, fmt::format_string<Args...> format, Args&&... args) {
    return Error{code, fmt::format(format, std::forward<Args>(args)...)};
}

// Either a T or an Error. Moves only what it holds; never throws on its own.
template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}
    template <typename U>
    requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Error> &&
             !std::is_same_v<std::decay_t<U>, Result>) Result(U&& value)
        : v_(std::in_place_index<0>, std::forward<U>(value)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return assert(ok()), std::get<0>(v_); }
    const T& value() const& { return assert(ok()), std::get<0>(v_); }
    T&& value() && { return assert(ok()), std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    template <typename U>
    T value_or(U&& fallback) const& {
        return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
    }
    template <typename U>
    T value_or(U&& fallback) && {
        return ok() ? std::get<0>(std::move(v_)) : static_cast<T>(std::forward<U>(fallback));
    }

    const Error& error() const& { return assert(!ok()), std::get<1>(v_); }
    Error&& error() && { return assert(!ok()), std::get<1>(std::move(v_)); }

  private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const& { return assert(failed_), error_; }
    Error&& error() && { return assert(failed_), std::move(error_); }

  private:
    Error error_{Errc::internal, {}};
    bool failed_ = false;
};

inline Result<void> ok() {
    return {};
}

}  // namespace cug

#define CUG_CONCAT_(a, b) a##b
#define CUG_CONCAT(a, b) CUG_CONCAT_(a, b)

// Evaluates a Result-returning expression; on error returns the error from the
// enclosing function, otherwise yields the value (GNU statement expression,
// supported by both g++ and clang). Each expansion names its temporary
// uniquely, so a lambda inside the expression may use the macro again.
#define CUG_TRY(expr) CUG_TRY_(expr, CUG_CONCAT(cug_try_, __COUNTER__))
#define CUG_TRY_(expr, var)                      \
    ({                                           \
        auto var = (expr);                       \
        if (!var) return std::move(var).error(); \
        std::move(var).value();                  \
    })

// The same for Result<void>.
#define CUG_CHECK(expr) CUG_CHECK_(expr, CUG_CONCAT(cug_check_, __COUNTER__))
#define CUG_CHECK_(expr, var)                    \
    do {                                         \
        auto var = (expr);                       \
        if (!var) return std::move(var).error(); \
    } while (0)
