// pam_cug.so: the card login at the terminal's own login (man/pam_cug.8).
// auth logs in at cugd with the card (terminal::CardLogin, as cug-login
// does) and keeps the session in the PAM handle; open_session hands it to
// cug-tun; close_session logs it out there; a session never opened is
// ended at cugd when the handle ends (a later module refused the login).
//
// It runs inside other programs (login, su, sshd, display managers): no
// exit, no change of signal dispositions, umask or the process's OpenSSL
// set-up, no thread left running, every exception caught at the boundary,
// SIGPIPE blocked for the calling thread only while it works.
#include "cli/secret_input.hpp"
#include "crypto/secret.hpp"
#include "terminal/agent.hpp"
#include "terminal/card_login.hpp"
#include "terminal/pam_config.hpp"

#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <signal.h>
#include <syslog.h>

#include <cstring>
#include <vector>

namespace {

using namespace cug;

constexpr const char* data_name = "pam_cug_session";

// What auth leaves for the session calls, in the PAM handle.
struct Pending {
    std::optional<terminal::LoginResult> login;  // until handed off or ended
    Bytes session;                               // its ID, once cug-tun holds it
    std::string user;                            // the card's
    std::filesystem::path socket;
    std::chrono::milliseconds timeout{10'000};
    bool debug = false;
};

// SIGPIPE for this thread only, put back as it was, and one that a write of
// ours raised is taken away rather than delivered (libpq does the same).
class SigpipeBlocked {
  public:
    SigpipeBlocked() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~SigpipeBlocked() {
        if (!was_pending_) {
            sigset_t pending;
            sigpending(&pending);
            if (sigismember(&pending, SIGPIPE) == 1) {
                const timespec now{0, 0};
                sigtimedwait(&pipe_, nullptr, &now);
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    SigpipeBlocked(const SigpipeBlocked&) = delete;
    SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

  private:
    sigset_t pipe_{}, old_{};
    bool was_pending_ = false;
};

// One of pam_cug's entry points: its arguments checked, exceptions and
// SIGPIPE kept inside.
template <typename F>
int entry(pam_handle_t* pamh, int argc, const char** argv, F&& body) {
    SigpipeBlocked blocked;
    try {
        crypto::leave_secure_heap_alone();
        std::vector<std::string_view> args(argv, argv + argc);
        auto options = terminal::parse_pam_options(args);
        if (!options) {
            pam_syslog(pamh, LOG_ERR, "bad argument in the PAM configuration: %s",
                       options.error().message.c_str());
            return PAM_SERVICE_ERR;
        }
        return body(*options);
    } catch (const std::bad_alloc&) {
        pam_syslog(pamh, LOG_CRIT, "out of memory");
        return PAM_BUF_ERR;
    } catch (const std::exception& e) {
        pam_syslog(pamh, LOG_ERR, "internal error: %s", e.what());
        return PAM_SERVICE_ERR;
    } catch (...) {
        pam_syslog(pamh, LOG_ERR, "internal error");
        return PAM_SERVICE_ERR;
    }
}

// Each refusal's PAM code (man/pam_cug.8, RETURN VALUES).
int code_for(const Error& e) {
    switch (e.reason) {
        case Reason::no_card:
        case Reason::agent_missing:
        case Reason::unreachable:
            return PAM_AUTHINFO_UNAVAIL;
        case Reason::wrong_pin:
        case Reason::wrong_password:
        case Reason::refused:
        case Reason::server_mismatch:
            return PAM_AUTH_ERR;
        case Reason::pin_blocked:
        case Reason::locked_out:
            return PAM_MAXTRIES;
        case Reason::disabled:
        case Reason::no_groups:
            return PAM_PERM_DENIED;
        case Reason::none:
            break;
    }
    switch (e.code) {
        case Errc::usage:  // several cards and no reader= to choose
        case Errc::unavailable:
            return PAM_AUTHINFO_UNAVAIL;
        case Errc::internal:
        case Errc::os:
            return PAM_SYSTEM_ERR;
        default:
            return PAM_AUTH_ERR;
    }
}

// The one syslog line of a refusal, and what the person at the terminal is
// told (nothing with PAM_SILENT). Error messages carry no secret.
int refuse(pam_handle_t* pamh, int flags, int code, const char* local_user,
           const std::string& what) {
    pam_syslog(pamh, LOG_NOTICE, "refused %s: %s (%s)", local_user ? local_user : "(unknown)",
               what.c_str(), pam_strerror(pamh, code));
    if (!(flags & PAM_SILENT)) pam_error(pamh, "cug: %s", what.c_str());
    return code;
}

void wipe_string(char* s) {
    if (s) {
        explicit_bzero(s, std::strlen(s));
        std::free(s);
    }
}

Pending* pending_of(pam_handle_t* pamh) {
    const void* data = nullptr;
    if (pam_get_data(pamh, data_name, &data) != PAM_SUCCESS) return nullptr;
    return static_cast<Pending*>(const_cast<void*>(data));
}

// A login that no session took (a later module refused, or open_session
// failed) is ended at cugd at once, not left to expire unacknowledged.
// From pam_end's cleanup libpam names no module in the line: `tag` does.
void end_at_cugd(pam_handle_t* pamh, Pending& p, const char* why, const char* tag = "") {
    if (!p.login) return;
    auto ended = terminal::abandon(*p.login, why, p.timeout);
    if (ended)
        pam_syslog(pamh, LOG_INFO, "%s%s's login was not taken up by a session: ended at cugd", tag,
                   p.user.c_str());
    else
        pam_syslog(pamh, LOG_WARNING,
                   "%s%s's login was not taken up by a session, and ending it at cugd failed: %s "
                   "(cugd drops it unacknowledged)",
                   tag, p.user.c_str(), ended.error().message.c_str());
    p.login.reset();
}

// pam_end: wipe what is left; unless the handle is being replaced or freed
// in a child process (PAM_DATA_REPLACE, PAM_DATA_SILENT: the parent still
// owns the login), end a login nobody took.
void cleanup(pam_handle_t* pamh, void* data, int status) {
    auto* p = static_cast<Pending*>(data);
    try {
        SigpipeBlocked blocked;
        if (!(status & (PAM_DATA_REPLACE | PAM_DATA_SILENT)))
            end_at_cugd(pamh, *p, "pam_end", "pam_cug: ");
    } catch (...) {
    }
    delete p;
}

// The PIN through the conversation (never kept in PAM_AUTHTOK).
Result<crypto::SecretBuffer> ask_pin(pam_handle_t* pamh, const std::string& card_user, int& code) {
    char* answer = nullptr;
    code = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "PIN for %s's card: ", card_user.c_str());
    if (code != PAM_SUCCESS || !answer) {
        wipe_string(answer);
        if (code == PAM_SUCCESS) code = PAM_CONV_ERR;
        return make_error(Errc::io, "the conversation gave no PIN");
    }
    auto pin = cli::accept_secret(as_bytes(std::string_view(answer)), {"PIN", 6, 8});
    wipe_string(answer);
    code = pin ? PAM_SUCCESS : PAM_AUTH_ERR;
    return pin;
}

// The password: PAM_AUTHTOK as an earlier module left it with
// use_first_pass or try_first_pass (pam_get_authtok reads those), else asked
// for and kept there for the modules after this one.
// The cug password: the one an earlier module left in PAM_AUTHTOK with
// use_first_pass or try_first_pass (libpam's pam_get_authtok reads them),
// else asked for, as pam_unix does. What is asked for goes into PAM_AUTHTOK
// only when no earlier module put one there: the modules after this one keep
// the password they were stacked to see (a keyring's, say).
Result<crypto::SecretBuffer> get_password(pam_handle_t* pamh, const std::string& card_user,
                                          bool ask, int& code) {
    const std::string prompt = fmt::format("Password for {}: ", card_user);
    auto accept = [&](const char* token) -> Result<crypto::SecretBuffer> {
        auto password =
            cli::accept_secret(as_bytes(std::string_view(token)), {"password", 1, 1024});
        code = password ? PAM_SUCCESS : PAM_AUTH_ERR;
        return password;
    };
    if (!ask) {
        const char* token = nullptr;
        code = pam_get_authtok(pamh, PAM_AUTHTOK, &token, prompt.c_str());
        if (code == PAM_SUCCESS && !token) code = PAM_AUTHTOK_ERR;
        if (code != PAM_SUCCESS)
            return make_error(Errc::io, "no password ({})", pam_strerror(pamh, code));
        return accept(token);
    }
    char* answer = nullptr;
    code = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s", prompt.c_str());
    if (code == PAM_SUCCESS && !answer) code = PAM_CONV_ERR;
    if (code != PAM_SUCCESS) {
        wipe_string(answer);
        return make_error(Errc::io, "no password ({})", pam_strerror(pamh, code));
    }
    const void* earlier = nullptr;
    if (pam_get_item(pamh, PAM_AUTHTOK, &earlier) != PAM_SUCCESS || earlier == nullptr) {
        if (int rc = pam_set_item(pamh, PAM_AUTHTOK, answer); rc != PAM_SUCCESS) {
            wipe_string(answer);
            code = rc;
            return make_error(Errc::io, "no password ({})", pam_strerror(pamh, code));
        }
    }
    auto password = accept(answer);
    wipe_string(answer);
    return password;
}

int authenticate(pam_handle_t* pamh, int flags, const terminal::PamOptions& o) {
    const char* local_user = nullptr;
    if (int rc = pam_get_user(pamh, &local_user, nullptr); rc != PAM_SUCCESS) return rc;
    if (!local_user || !*local_user) return PAM_USER_UNKNOWN;

    // A login an earlier authentication on this handle left is ended first.
    if (Pending* old = pending_of(pamh)) {
        end_at_cugd(pamh, *old, "authenticated again");
        pam_set_data(pamh, data_name, nullptr, nullptr);
    }
    std::optional<terminal::UserMap> map;
    if (o.map) {
        auto loaded = terminal::load_user_map(*o.map);
        if (!loaded) {
            pam_syslog(pamh, LOG_ERR, "the map file: %s", loaded.error().message.c_str());
            return PAM_SERVICE_ERR;
        }
        map = std::move(*loaded);
    }

    terminal::CardLoginOptions c;
    c.socket = terminal::agent_socket(o.socket_dir, o.interface);
    c.reader = o.reader;
    c.server = o.server;
    c.timeout = o.timeout;
    auto card = terminal::CardLogin::start(c);
    if (!card) {
        if (card.error().reason == Reason::no_card && o.ignore_no_card) {
            if (o.debug)
                pam_syslog(pamh, LOG_DEBUG, "no card (%s): ignored", card.error().message.c_str());
            return PAM_IGNORE;
        }
        return refuse(pamh, flags, code_for(card.error()), local_user, card.error().message);
    }
    const std::string card_user = card->user();
    if (!terminal::card_user_may_log_in(map, card_user, local_user))
        return refuse(pamh, flags, PAM_AUTH_ERR, local_user,
                      fmt::format("the card in {} is {}'s, who may not log in as {}",
                                  card->reader(), card_user, local_user));
    if (o.debug)
        pam_syslog(pamh, LOG_DEBUG, "%s's card in %s for %s, cugd at %s", card_user.c_str(),
                   card->reader().c_str(), local_user, card->server().c_str());

    int code = PAM_SUCCESS;
    auto pin = ask_pin(pamh, card_user, code);
    if (!pin) {
        if (code == PAM_AUTH_ERR) return refuse(pamh, flags, code, local_user, pin.error().message);
        return code;  // the conversation failed or was cancelled: nothing to log
    }
    // Whether the password is one an earlier module collected (try_first_pass
    // asks again when cugd refuses it, as pam_unix does).
    const void* item = nullptr;
    const bool earlier = o.try_first_pass &&
                         pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item != nullptr;
    auto password = get_password(pamh, card_user, !(o.use_first_pass || o.try_first_pass), code);
    if (!password) {
        if (code == PAM_AUTH_ERR)
            return refuse(pamh, flags, code, local_user, password.error().message);
        return code;
    }
    auto login = card->log_in(crypto::SecretBuffer::copy_of(pin->view()), std::move(*password));
    if (!login && login.error().reason == Reason::wrong_password && earlier) {
        if (o.debug)
            pam_syslog(pamh, LOG_DEBUG, "the earlier module's password is not %s's",
                       card_user.c_str());
        password = get_password(pamh, card_user, true, code);
        if (!password) {
            if (code == PAM_AUTH_ERR)
                return refuse(pamh, flags, code, local_user, password.error().message);
            return code;
        }
        login = card->log_in(std::move(*pin), std::move(*password));
    }
    pin->clear();
    if (!login)
        return refuse(pamh, flags, code_for(login.error()), local_user,
                      card_user == local_user
                          ? login.error().message
                          : fmt::format("{}'s card: {}", card_user, login.error().message));

    auto* p = new Pending;
    p->user = card_user;
    p->socket = c.socket;
    p->timeout = o.timeout;
    p->debug = o.debug;
    const std::size_t groups = login->bundle.groups.size();
    p->login.emplace(std::move(*login));
    if (int rc = pam_set_data(pamh, data_name, p, cleanup); rc != PAM_SUCCESS) {
        end_at_cugd(pamh, *p, "pam_set_data failed");
        delete p;
        return rc;
    }
    pam_syslog(pamh, LOG_INFO, "%s logged in with the card in %s as %s (%zu group%s)",
               card_user.c_str(), card->reader().c_str(), local_user, groups,
               groups == 1 ? "" : "s");
    return PAM_SUCCESS;
}

int open_session(pam_handle_t* pamh, const terminal::PamOptions& o) {
    Pending* p = pending_of(pamh);
    if (!p || (!p->login && p->session.empty())) {
        if (o.debug) pam_syslog(pamh, LOG_DEBUG, "no card login to open a session for");
        return PAM_IGNORE;
    }
    if (!p->login) return PAM_SUCCESS;  // opened already
    const auto wait = std::max<std::chrono::milliseconds>(2 * p->timeout, std::chrono::seconds(20));
    auto given = terminal::hand_off(p->socket, *p->login, wait);
    if (!given) {
        pam_syslog(pamh, LOG_ERR, "%s's session could not be handed to cug-tun: %s",
                   p->user.c_str(), given.error().message.c_str());
        end_at_cugd(pamh, *p, "cug-tun did not take the session");
        return PAM_SESSION_ERR;
    }
    // cug-tun holds the keys now; here only the session's ID stays.
    p->session = p->login->bundle.session;
    p->login.reset();
    pam_syslog(pamh, LOG_INFO, "%s's session handed to cug-tun (%s)", p->user.c_str(),
               p->socket.c_str());
    return PAM_SUCCESS;
}

int close_session(pam_handle_t* pamh, const terminal::PamOptions& o) {
    Pending* p = pending_of(pamh);
    if (!p || p->session.empty()) {
        if (o.debug) pam_syslog(pamh, LOG_DEBUG, "no cug session to close");
        return PAM_IGNORE;
    }
    auto out =
        terminal::log_out_session(p->socket, p->session, "pam_cug close_session", p->timeout);
    if (!out) {
        pam_syslog(pamh, LOG_ERR, "%s's session could not be logged out: %s", p->user.c_str(),
                   out.error().message.c_str());
        return PAM_SESSION_ERR;
    }
    pam_syslog(pamh, LOG_INFO, *out ? "%s's session logged out" : "%s's session had ended already",
               p->user.c_str());
    p->session.clear();
    return PAM_SUCCESS;
}

}  // namespace

// The only symbols the module exports (pam_cug.sym; everything else is hidden).
#define CUG_PAM_EXPORT extern "C" __attribute__((visibility("default")))

CUG_PAM_EXPORT int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
    return entry(pamh, argc, argv,
                 [&](const terminal::PamOptions& o) { return authenticate(pamh, flags, o); });
}

// Credentials are the session's business (open_session): nothing to set.
CUG_PAM_EXPORT int pam_sm_setcred(pam_handle_t*, int, int, const char**) {
    return PAM_SUCCESS;
}

CUG_PAM_EXPORT int pam_sm_open_session(pam_handle_t* pamh, int, int argc, const char** argv) {
    return entry(pamh, argc, argv,
                 [&](const terminal::PamOptions& o) { return open_session(pamh, o); });
}

CUG_PAM_EXPORT int pam_sm_close_session(pam_handle_t* pamh, int, int argc, const char** argv) {
    return entry(pamh, argc, argv,
                 [&](const terminal::PamOptions& o) { return close_session(pamh, o); });
}
