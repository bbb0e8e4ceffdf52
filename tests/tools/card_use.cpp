// cug-card-use READER agree|sign|busy [PIN]: uses an enrolled card through
// the high-level card::Card, the way cug-login and cug-tun will, and checks
// the answer against the public keys in the card's certificates.
//   agree: VERIFY the PIN and ECDH with the 9D key in one transaction; the
//          shared secret must equal the host's ECDH with the 9D public key.
//   sign:  a presence signature with the 9E key (no PIN) over a random
//          digest; it must verify with the 9E certificate's key.
//   busy:  agree and sign over and over (printing "busy" once going) until
//          something fails: for tests that pull the card mid-operation.
// Prints "ok" and exits 0, or prints the error and exits with its status
// (15 for a card that is not there, as cug-login does).
#include "card/card.hpp"
#include "crypto/random.hpp"

#include <cstdio>
#include <string>

using namespace cug;

static int fail(const Error& e) {
    std::printf("%s\n", e.message.c_str());
    std::fflush(stdout);
    return e.reason == Reason::no_card ? 15 : exit_status(e.code);
}

int main(int argc, char** argv) {
    if (argc < 3) return 64;
    const std::string reader = argv[1], action = argv[2];
    auto card = card::Card::open(reader);
    if (!card) return fail(card.error());
    auto id = card->identity();
    if (!id) return fail(id.error());
    if (auto issued = id->check_issued(); !issued) return fail(issued.error());
    if (action == "agree" && argc == 4) {
        auto ephemeral = crypto::PrivateKey::generate();
        auto shared = card->agree(as_bytes(argv[3]), ephemeral->public_key());
        if (!shared) return fail(shared.error());
        auto expected = crypto::ecdh(*ephemeral, *id->user_certificate->public_key());
        if (!expected || !crypto::equal_ct(shared->view(), expected->view())) {
            std::printf("the card's ECDH does not match its certificate's key\n");
            return 1;
        }
    } else if (action == "sign") {
        crypto::Digest digest;
        crypto::random_bytes(digest);
        auto signature = card->sign_presence(digest);
        if (!signature) return fail(signature.error());
        if (!crypto::verify_digest(*id->authentication_certificate->public_key(), digest,
                                   *signature)) {
            std::printf("the card's signature does not verify with its 9E certificate\n");
            return 1;
        }
    } else if (action == "busy" && argc == 4) {
        for (int round = 0;; ++round) {
            if (round == 1) {
                std::printf("busy\n");
                std::fflush(stdout);
            }
            auto ephemeral = crypto::PrivateKey::generate();
            auto shared = card->agree(as_bytes(argv[3]), ephemeral->public_key());
            if (!shared) return fail(shared.error());
            crypto::Digest digest;
            crypto::random_bytes(digest);
            auto signature = card->sign_presence(digest);
            if (!signature) return fail(signature.error());
        }
    } else {
        return 64;
    }
    std::printf("ok\n");
    return 0;
}
