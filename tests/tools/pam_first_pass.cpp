// pam_cug_test_first_pass.so: a module for the tests that does what pam_unix
// does before pam_cug in a stack with try_first_pass or use_first_pass: it
// asks for the password ("Password: ") and leaves it in PAM_AUTHTOK. It
// accepts anything: checking is the next module's business. With the argument
// "show" it asks nothing and tells what PAM_AUTHTOK holds ("info: PAM_AUTHTOK
// is ..."), so a test sees what the modules before it left there (libpam
// clears it when pam_authenticate returns).
#include <cstddef>  // NULL, which pam_info needs
#include <cstring>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

extern "C" {

PAM_EXTERN int pam_sm_authenticate(pam_handle_t* pamh, int, int argc, const char** argv) {
    if (argc == 1 && std::strcmp(argv[0], "show") == 0) {
        const void* token = nullptr;
        if (pam_get_item(pamh, PAM_AUTHTOK, &token) != PAM_SUCCESS) return PAM_SYSTEM_ERR;
        pam_info(pamh, "PAM_AUTHTOK is %s", token ? static_cast<const char*>(token) : "unset");
        return PAM_SUCCESS;
    }
    const char* token = nullptr;
    return pam_get_authtok(pamh, PAM_AUTHTOK, &token, "Password: ");
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t*, int, int, const char**) {
    return PAM_SUCCESS;
}

}  // extern "C"
