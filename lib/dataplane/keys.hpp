// Direction keys and the ledger that makes each one's nonces unique.
//
// A direction key seals with the nonce 0^4 || counter, so a (key, counter)
// pair must never be used twice. cugd makes every pair instance's keys new
// (protocol::pair_key binds both receiver indices), and on top of that the
// data plane never starts a key's counter at 0 twice, whatever the pushes
// say: the ledger remembers every key it has held (by a keyed fingerprint,
// never the key), and the same bytes installed again, after their pair left
// the table and came back, carry on from where they stopped — the send
// counter, the bytes sealed, and a receive window that refuses everything
// below the highest counter taken. An entry is kept until its key's
// not-after time, after which the key cannot be used at all.
#pragma once

#include "core/result.hpp"
#include "crypto/aead.hpp"
#include "crypto/hash.hpp"
#include "dataplane/replay.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace cug::dataplane {

// A direction key retires after this many bytes (DESIGN.md, "Data plane").
inline constexpr std::uint64_t max_key_bytes = std::uint64_t{1} << 36;

// A small lock for the replay window: held for a few instructions.
class SpinLock {
  public:
    void lock() {
        while (flag_.test_and_set(std::memory_order_acquire))
            flag_.wait(true);
    }
    void unlock() {
        flag_.clear(std::memory_order_release);
        flag_.notify_one();
    }

  private:
    std::atomic_flag flag_;
};

class KeyLedger;
enum class KeyUse : std::uint8_t { send = 1, receive = 2 };
using KeyFingerprint = std::array<std::uint8_t, 16>;

// One direction key with a cipher context per worker (contexts are not for
// two threads at once). Made only by KeyLedger::key; when the last table
// holding it lets go, it tells the ledger where it stopped.
struct DirectionKey {
    std::uint64_t key_id = 0;
    KeyUse use = KeyUse::send;
    std::atomic<std::int64_t> not_after{0};  // the pair's, as the latest picture says
    std::vector<crypto::Aes256Gcm> contexts;
    std::atomic<std::uint64_t> bytes{0};
    std::atomic<std::int64_t> until{0};     // receive keys after a rotation: kept until then
    std::atomic<std::uint64_t> counter{0};  // send keys: the next nonce
    SpinLock lock;                          // receive keys: the window
    ReplayWindow window;

    DirectionKey() = default;
    DirectionKey(const DirectionKey&) = delete;
    DirectionKey& operator=(const DirectionKey&) = delete;
    ~DirectionKey();

    // A previous key past its grace is as good as gone.
    bool retired(std::int64_t now) const {
        const std::int64_t u = until.load(std::memory_order_relaxed);
        return u != 0 && now >= u;
    }
    bool expired(std::int64_t now) const {
        return now >= not_after.load(std::memory_order_relaxed) ||
               bytes.load(std::memory_order_relaxed) >= max_key_bytes;
    }

  private:
    friend class KeyLedger;
    std::shared_ptr<KeyLedger> ledger_;
    KeyFingerprint fingerprint_{};
};

class KeyLedger : public std::enable_shared_from_this<KeyLedger> {
  public:
    static std::shared_ptr<KeyLedger> create();

    // The key object for these bytes: the one in use if a table holds it,
    // else a new one that carries on from the last holder of the same bytes.
    Result<std::shared_ptr<DirectionKey>> key(KeyUse use, std::uint64_t key_id, ByteView bytes,
                                              std::int64_t not_after, unsigned workers);
    // Forgets keys whose not-after time has passed and that no table holds.
    void prune(std::int64_t now);
    std::size_t size() const;

  private:
    KeyLedger();
    friend struct DirectionKey;
    // Where a key stopped: the send counter or the receive window's top.
    struct Entry {
        std::weak_ptr<DirectionKey> live;
        bool held = false;  // a key object exists (it may be in its destructor)
        std::uint64_t resume = 0;
        std::uint64_t bytes = 0;
        std::int64_t not_after = 0;
    };
    void stopped(const DirectionKey& key);
    KeyFingerprint fingerprint(KeyUse use, ByteView bytes) const;

    mutable std::mutex mutex_;
    std::map<KeyFingerprint, Entry> entries_;
    crypto::HmacKey fingerprint_key_;
};

}  // namespace cug::dataplane
