// cug-pair-keys: what the nonce-reuse test needs to tell which key sealed
// each data packet it captured (a test program, never installed).
//
//   cug-pair-keys list STORE     every direction key the store's sessions have
//                                now, current and previous epoch of every
//                                group: "KEY_ID SENDER_INDEX RECEIVER_INDEX KEY_HEX"
//   cug-pair-keys open KEYS      reads data packets (hex, one per line) on
//                                stdin; for each prints "KEY_HEX COUNTER" for
//                                the key of KEYS (lines as `list` prints) that
//                                opens it, or "none INDEX COUNTER"
//
// The keys come from the store through the server's own derivation
// (protocol::PairKeys): if two instances of a pair got the same key, the
// packets of both open under it, and their counters show the reuse.
#include "crypto/aead.hpp"
#include "dataplane/packet.hpp"
#include "protocol/login.hpp"
#include "store/store.hpp"
#include "wire/text.hpp"

#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

using namespace cug;

namespace {

std::string hex(ByteView b) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::uint8_t c : b) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

Bytes unhex(const std::string& s) {
    Bytes out;
    for (std::size_t i = 0; i + 1 < s.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
    return out;
}

int list(const char* dir) {
    auto st = store::Store::open(dir, store::Actor::current("cug-pair-keys"));
    if (!st) {
        std::fprintf(stderr, "cug-pair-keys: %s\n", st.error().message.c_str());
        return 1;
    }
    auto done = st->read([](store::ReadTxn& t) -> Result<void> {
        const auto sessions = CUG_TRY(t.sessions());
        for (const store::Group& g : CUG_TRY(t.groups())) {
            std::vector<const store::Epoch*> epochs{&g.current};
            if (g.previous) epochs.push_back(&*g.previous);
            for (const store::Epoch* e : epochs) {
                const protocol::PairKeys keys(e->secret.view(), e->key_id);
                for (const auto& a : sessions)
                    for (const auto& b : sessions) {
                        auto ia = a.index_in(g.name), ib = b.index_in(g.name);
                        if (a.user == b.user || !ia || !ib) continue;
                        const auto k = keys.derive({a.id, *ia}, {b.id, *ib});
                        std::printf("%llu %u %u %s\n", static_cast<unsigned long long>(e->key_id),
                                    *ia, *ib, hex(k.view()).c_str());
                    }
            }
        }
        return ok();
    });
    if (!done) {
        std::fprintf(stderr, "cug-pair-keys: %s\n", done.error().message.c_str());
        return 1;
    }
    return 0;
}

int open(const char* path) {
    struct Candidate {
        std::string hex;
        crypto::Aes256Gcm aead;
    };
    std::multimap<std::uint32_t, Candidate> by_sender;
    std::FILE* f = std::fopen(path, "r");
    if (!f) {
        std::perror(path);
        return 1;
    }
    char line[256];
    std::map<std::string, bool> seen;
    while (std::fgets(line, sizeof line, f)) {
        unsigned long long id;
        unsigned sender, receiver;
        char key[80];
        if (std::sscanf(line, "%llu %u %u %64s", &id, &sender, &receiver, key) != 4) continue;
        if (seen[key]) continue;
        seen[key] = true;
        auto aead = crypto::Aes256Gcm::create(unhex(key));
        if (aead) by_sender.emplace(sender, Candidate{key, std::move(*aead)});
    }
    std::fclose(f);
    std::string text;
    while (std::getline(std::cin, text)) {
        Bytes d = unhex(text);
        auto h = dataplane::parse_header(d);
        if (!h) continue;
        const std::size_t plain = d.size() - dataplane::overhead;
        Bytes out(plain);
        std::string which = "none " + std::to_string(h->index);
        auto [first, last] = by_sender.equal_range(h->index);
        for (auto it = first; it != last; ++it)
            if (it->second.aead.open(
                    dataplane::nonce_for(h->counter), ByteView(d.data(), dataplane::header_size),
                    ByteView(d.data() + dataplane::header_size, plain + dataplane::tag_size),
                    out)) {
                which = it->second.hex;
                break;
            }
        std::printf("%s %llu\n", which.c_str(), static_cast<unsigned long long>(h->counter));
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "list") return list(argv[2]);
    if (argc == 3 && std::string(argv[1]) == "open") return open(argv[2]);
    std::fprintf(stderr, "usage: cug-pair-keys list STORE | open KEYS\n");
    return 64;
}
