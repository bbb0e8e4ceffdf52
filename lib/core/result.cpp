#include "core/result.hpp"

#include <sysexits.h>

namespace cug {

int exit_status(Errc code) {
    switch (code) {
        case Errc::usage:
            return EX_USAGE;
        case Errc::invalid:
            return EX_DATAERR;
        case Errc::no_input:
            return EX_NOINPUT;
        case Errc::not_found:
            return EX_NOUSER;
        case Errc::unavailable:
            return EX_UNAVAILABLE;
        case Errc::internal:
            return EX_SOFTWARE;
        case Errc::os:
            return EX_OSERR;
        case Errc::exists:
            return EX_CANTCREAT;
        case Errc::io:
            return EX_IOERR;
        case Errc::temporary:
            return EX_TEMPFAIL;
        case Errc::protocol:
            return EX_PROTOCOL;
        case Errc::permission:
            return EX_NOPERM;
        case Errc::config:
            return EX_CONFIG;
    }
    return EX_SOFTWARE;
}

const char* errc_name(Errc code) {
    switch (code) {
        case Errc::usage:
            return "usage";
        case Errc::invalid:
            return "invalid";
        case Errc::no_input:
            return "no_input";
        case Errc::not_found:
            return "not_found";
        case Errc::unavailable:
            return "unavailable";
        case Errc::internal:
            return "internal";
        case Errc::os:
            return "os";
        case Errc::exists:
            return "exists";
        case Errc::io:
            return "io";
        case Errc::temporary:
            return "temporary";
        case Errc::protocol:
            return "protocol";
        case Errc::permission:
            return "permission";
        case Errc::config:
            return "config";
    }
    return "internal";
}

}  // namespace cug
