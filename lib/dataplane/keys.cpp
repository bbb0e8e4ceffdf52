#include "dataplane/keys.hpp"

#include "crypto/random.hpp"

#include <cstring>
#include <thread>

namespace cug::dataplane {

DirectionKey::~DirectionKey() {
    if (ledger_) ledger_->stopped(*this);
}

KeyLedger::KeyLedger() : fingerprint_key_(crypto::random_secret(32).view()) {}

std::shared_ptr<KeyLedger> KeyLedger::create() {
    return std::shared_ptr<KeyLedger>(new KeyLedger());
}

KeyFingerprint KeyLedger::fingerprint(KeyUse use, ByteView bytes) const {
    const std::uint8_t tag = static_cast<std::uint8_t>(use);
    const crypto::Digest mac = fingerprint_key_.mac({ByteView(&tag, 1), bytes});
    KeyFingerprint f;
    std::memcpy(f.data(), mac.data(), f.size());
    return f;
}

Result<std::shared_ptr<DirectionKey>> KeyLedger::key(KeyUse use, std::uint64_t key_id,
                                                     ByteView bytes, std::int64_t not_after,
                                                     unsigned workers) {
    const KeyFingerprint f = fingerprint(use, bytes);
    Entry before;
    for (;;) {
        std::unique_lock guard(mutex_);
        auto found = entries_.find(f);
        if (found == entries_.end()) break;
        if (auto live = found->second.live.lock()) {
            found->second.not_after = std::max(found->second.not_after, not_after);
            return live;
        }
        // The last holder is being destroyed on another thread: where it
        // stopped is about to be written down. Wait for that, never guess.
        if (found->second.held) {
            guard.unlock();
            std::this_thread::yield();
            continue;
        }
        before = found->second;
        break;
    }
    auto k = std::make_shared<DirectionKey>();
    k->key_id = key_id;
    k->use = use;
    k->not_after = not_after;
    k->contexts.reserve(workers);
    for (unsigned i = 0; i < workers; ++i)
        k->contexts.push_back(CUG_TRY(crypto::Aes256Gcm::create(bytes)));
    // The same bytes held before go on from where they stopped.
    k->bytes = before.bytes;
    if (use == KeyUse::send)
        k->counter = before.resume;
    else
        k->window = ReplayWindow::refusing_below(before.resume);
    k->fingerprint_ = f;
    k->ledger_ = shared_from_this();
    std::lock_guard guard(mutex_);
    Entry& e = entries_[f];
    e.live = k;
    e.held = true;
    e.resume = before.resume;
    e.bytes = before.bytes;
    e.not_after = std::max(before.not_after, not_after);
    return k;
}

void KeyLedger::stopped(const DirectionKey& key) {
    // Nobody else can reach a key being destroyed: no lock for its window.
    const std::uint64_t resume = key.use == KeyUse::send ? key.counter.load() : key.window.top();
    std::lock_guard guard(mutex_);
    Entry& e = entries_[key.fingerprint_];
    e.held = false;
    e.resume = std::max(e.resume, resume);
    e.bytes = std::max(e.bytes, key.bytes.load());
    e.not_after = std::max(e.not_after, key.not_after.load());
}

void KeyLedger::prune(std::int64_t now) {
    std::lock_guard guard(mutex_);
    std::erase_if(entries_,
                  [&](const auto& e) { return e.second.not_after <= now && !e.second.held; });
}

std::size_t KeyLedger::size() const {
    std::lock_guard guard(mutex_);
    return entries_.size();
}

}  // namespace cug::dataplane
