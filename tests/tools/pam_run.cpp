// cug-pam-run: a PAM application for the tests, as login(1) drives PAM but
// with a configuration directory of the test's own (pam_start_confdir: the
// host's /etc/pam.d is never read).
//
//   cug-pam-run CONFDIR SERVICE USER [-a MATCH=ANSWER]... [-s] STEP...
//
// Steps, in order, stopping at the first that does not succeed: auth,
// account, setcred, open, close, and wait=PATH (until PATH exists; the test
// creates it). Each prompt is answered with the first -a whose MATCH it
// contains (none: the conversation fails). -s passes PAM_SILENT.
// It prints each prompt and message ("prompt: ...", "error: ...", "info:
// ...") and each step's result ("auth PAM_AUTH_ERR") on stdout, and exits
// with the last step's PAM code (0 when all succeeded).
#include <security/pam_appl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

std::vector<std::pair<std::string, std::string>> answers;

const char* code_name(int code) {
    switch (code) {
        case PAM_SUCCESS:
            return "PAM_SUCCESS";
        case PAM_OPEN_ERR:
            return "PAM_OPEN_ERR";
        case PAM_SYMBOL_ERR:
            return "PAM_SYMBOL_ERR";
        case PAM_SERVICE_ERR:
            return "PAM_SERVICE_ERR";
        case PAM_SYSTEM_ERR:
            return "PAM_SYSTEM_ERR";
        case PAM_BUF_ERR:
            return "PAM_BUF_ERR";
        case PAM_PERM_DENIED:
            return "PAM_PERM_DENIED";
        case PAM_AUTH_ERR:
            return "PAM_AUTH_ERR";
        case PAM_CRED_INSUFFICIENT:
            return "PAM_CRED_INSUFFICIENT";
        case PAM_AUTHINFO_UNAVAIL:
            return "PAM_AUTHINFO_UNAVAIL";
        case PAM_USER_UNKNOWN:
            return "PAM_USER_UNKNOWN";
        case PAM_MAXTRIES:
            return "PAM_MAXTRIES";
        case PAM_SESSION_ERR:
            return "PAM_SESSION_ERR";
        case PAM_CONV_ERR:
            return "PAM_CONV_ERR";
        case PAM_AUTHTOK_ERR:
            return "PAM_AUTHTOK_ERR";
        case PAM_AUTHTOK_RECOVERY_ERR:
            return "PAM_AUTHTOK_RECOVERY_ERR";
        case PAM_ABORT:
            return "PAM_ABORT";
        case PAM_IGNORE:
            return "PAM_IGNORE";
        default:
            return "PAM_OTHER";
    }
}

int converse(int n, const pam_message** messages, pam_response** out, void*) {
    auto* replies = static_cast<pam_response*>(std::calloc(n, sizeof(pam_response)));
    if (!replies) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) {
        const pam_message& m = *messages[i];
        switch (m.msg_style) {
            case PAM_PROMPT_ECHO_OFF:
            case PAM_PROMPT_ECHO_ON: {
                std::printf("prompt: %s\n", m.msg);
                const char* answer = nullptr;
                for (const auto& [match, value] : answers)
                    if (std::strstr(m.msg, match.c_str())) {
                        answer = value.c_str();
                        break;
                    }
                if (!answer) {
                    std::printf("unanswered: %s\n", m.msg);
                    for (int j = 0; j < i; ++j)
                        std::free(replies[j].resp);
                    std::free(replies);
                    return PAM_CONV_ERR;
                }
                replies[i].resp = strdup(answer);
                break;
            }
            case PAM_ERROR_MSG:
                std::printf("error: %s\n", m.msg);
                break;
            case PAM_TEXT_INFO:
                std::printf("info: %s\n", m.msg);
                break;
            default:
                break;
        }
    }
    std::fflush(stdout);
    *out = replies;
    return PAM_SUCCESS;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr,
                     "usage: cug-pam-run CONFDIR SERVICE USER [-a MATCH=ANSWER]... [-s] STEP...\n");
        return 64;
    }
    int flags = 0;
    std::vector<std::string> steps;
    for (int i = 4; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-a" && i + 1 < argc) {
            const std::string pair = argv[++i];
            const auto eq = pair.find('=');
            if (eq == std::string::npos) return 64;
            answers.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
        } else if (a == "-s") {
            flags = PAM_SILENT;
        } else {
            steps.push_back(a);
        }
    }
    const pam_conv conv{converse, nullptr};
    pam_handle_t* pamh = nullptr;
    int rc = pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh);
    if (rc != PAM_SUCCESS) {
        std::printf("start %s\n", code_name(rc));
        return rc;
    }
    for (const auto& step : steps) {
        if (step.rfind("wait=", 0) == 0) {
            const std::string path = step.substr(5);
            while (access(path.c_str(), F_OK) != 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        if (step == "auth")
            rc = pam_authenticate(pamh, flags);
        else if (step == "account")
            rc = pam_acct_mgmt(pamh, flags);
        else if (step == "setcred")
            rc = pam_setcred(pamh, flags | PAM_ESTABLISH_CRED);
        else if (step == "open")
            rc = pam_open_session(pamh, flags);
        else if (step == "close")
            rc = pam_close_session(pamh, flags);
        else {
            std::fprintf(stderr, "cug-pam-run: unknown step '%s'\n", step.c_str());
            pam_end(pamh, PAM_ABORT);
            return 64;
        }
        std::printf("%s %s\n", step.c_str(), code_name(rc));
        std::fflush(stdout);
        if (rc != PAM_SUCCESS) break;
    }
    pam_end(pamh, rc);
    return rc;
}
