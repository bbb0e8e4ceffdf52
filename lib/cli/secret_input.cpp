#include "cli/secret_input.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace cug::cli {

namespace {

// Accepts what a person can type: no control characters (a CR from a DOS file
// would otherwise become part of the password without anyone noticing).
Result<void> check_secret(const crypto::SecretBuffer& secret, std::size_t length,
                          const SecretRules& rules) {
    if (length == 0) return make_error(Errc::invalid, "the {} is empty", rules.what);
    if (length < rules.min_length)
        return make_error(Errc::invalid, "the {} is too short (at least {} characters)", rules.what,
                          rules.min_length);
    for (std::size_t i = 0; i < length; ++i) {
        const std::uint8_t c = secret.data()[i];
        if (c < 0x20 || c == 0x7f)
            return make_error(Errc::invalid, "the {} contains a control character", rules.what);
    }
    return ok();
}

// Reads one line into a secret buffer; the buffer has room for max_length + 1
// bytes so an over-long line is noticed without reading it all.
Result<crypto::SecretBuffer> read_line(int fd, const SecretRules& rules, bool& saw_input) {
    crypto::SecretBuffer buf(rules.max_length + 1);
    std::size_t n = 0;
    saw_input = false;
    for (;;) {
        std::uint8_t c;
        ssize_t got = ::read(fd, &c, 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0)
            return make_error(Errc::io, "reading the {}: {}", rules.what, std::strerror(errno));
        if (got == 0) break;
        saw_input = true;
        if (c == '\n') break;
        if (n == buf.size()) {
            // Drain the rest of the line so it cannot be taken for the next secret.
            while (::read(fd, &c, 1) == 1 && c != '\n') {
            }
            return make_error(Errc::invalid, "the {} is too long (at most {} bytes)", rules.what,
                              rules.max_length);
        }
        buf.data()[n++] = c;
    }
    if (n > rules.max_length)
        return make_error(Errc::invalid, "the {} is too long (at most {} bytes)", rules.what,
                          rules.max_length);
    CUG_CHECK(check_secret(buf, n, rules));
    auto out = crypto::SecretBuffer::copy_of(ByteView(buf.data(), n));
    return out;
}

// Terminal state to put back if a signal arrives while echo is off.
int tty_fd = -1;
struct termios saved_tty;
volatile sig_atomic_t caught_signal = 0;

void restore_and_note(int sig) {
    if (tty_fd >= 0) tcsetattr(tty_fd, TCSAFLUSH, &saved_tty);
    caught_signal = sig;
}

class EchoOff {
  public:
    explicit EchoOff(int fd) : fd_(fd) {
        if (tcgetattr(fd, &saved_tty) != 0) return;
        tty_fd = fd;
        struct sigaction sa {};
        sa.sa_handler = restore_and_note;
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < 5; ++i)
            sigaction(signals_[i], &sa, &old_[i]);
        struct termios quiet = saved_tty;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    ~EchoOff() {
        if (tty_fd < 0) return;
        tcsetattr(fd_, TCSAFLUSH, &saved_tty);
        tty_fd = -1;
        for (int i = 0; i < 5; ++i)
            sigaction(signals_[i], &old_[i], nullptr);
        // A signal that came while asking is delivered now, with the terminal sane.
        if (caught_signal) {
            int sig = caught_signal;
            caught_signal = 0;
            raise(sig);
        }
    }

  private:
    int fd_;
    static constexpr int signals_[5] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
    struct sigaction old_[5];
};

}  // namespace

Result<crypto::SecretBuffer> read_secret_from_fd(int fd, const SecretRules& rules) {
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return make_error(Errc::usage, "file descriptor {} for the {} is not open", fd, rules.what);
    bool saw_input = false;
    auto secret = read_line(fd, rules, saw_input);
    if (!secret && !saw_input && secret.error().code == Errc::invalid)
        return make_error(Errc::invalid, "no {} on file descriptor {}", rules.what, fd);
    return secret;
}

Result<crypto::SecretBuffer> prompt_secret(std::string_view prompt, const SecretRules& rules,
                                           bool confirm) {
    int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return make_error(Errc::usage, "no terminal to ask for the {} on; pass it with --{}-fd",
                          rules.what, rules.what == "PIN" ? "pin" : "password");
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    auto ask = [&](std::string_view text) -> Result<crypto::SecretBuffer> {
        // Echo goes off before the prompt shows (as readpassphrase(3) does):
        // what is typed the moment the prompt appears is never echoed.
        EchoOff quiet(fd);
        (void)!::write(fd, text.data(), text.size());
        bool saw_input = false;
        return read_line(fd, rules, saw_input);
    };
    auto first = CUG_TRY(ask(prompt));
    if (!confirm) return first;
    // Asked twice: a typo in a password nobody could see must not be stored.
    auto second = CUG_TRY(ask(fmt::format("Again, the same {}: ", rules.what)));
    if (!crypto::equal_ct(first.view(), second.view()))
        return make_error(Errc::invalid, "the two {}s differ", rules.what);
    return first;
}

Result<crypto::SecretBuffer> read_secret(std::optional<int> fd, std::string_view prompt,
                                         const SecretRules& rules, bool confirm) {
    if (fd) return read_secret_from_fd(*fd, rules);
    return prompt_secret(prompt, rules, confirm);
}

Result<crypto::SecretBuffer> accept_secret(ByteView typed, const SecretRules& rules) {
    if (typed.size() > rules.max_length)
        return make_error(Errc::invalid, "the {} is too long (at most {} bytes)", rules.what,
                          rules.max_length);
    auto secret = crypto::SecretBuffer::copy_of(typed);
    CUG_CHECK(check_secret(secret, secret.size(), rules));
    return secret;
}

}  // namespace cug::cli
