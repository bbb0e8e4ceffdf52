// The key ledger: the same key bytes never start from counter 0 twice.
#include "dataplane/keys.hpp"

#include <doctest/doctest.h>

using namespace cug;
using namespace cug::dataplane;

namespace {
const Bytes k1(32, 0x11), k2(32, 0x22);
constexpr std::int64_t later = 4'000'000'000;
}  // namespace

TEST_CASE("a key held by a table is one object; installed again it goes on where it stopped") {
    auto ledger = KeyLedger::create();
    auto send = ledger->key(KeyUse::send, 5, k1, later, 2);
    REQUIRE(send.ok());
    auto again = ledger->key(KeyUse::send, 5, k1, later, 2);
    REQUIRE(again.ok());
    CHECK(send->get() == again->get());  // held: the same counter, not a copy
    (*send)->counter += 3;
    (*send)->bytes += 1000;
    again->reset();
    send->reset();  // the pair left the table: where it stopped is written down
    auto back = ledger->key(KeyUse::send, 5, k1, later, 2);
    REQUIRE(back.ok());
    CHECK((*back)->counter.load() == 3);
    CHECK((*back)->bytes.load() == 1000);

    // The same bytes as a receive key are another key (their own entry).
    auto receive = ledger->key(KeyUse::receive, 5, k1, later, 2);
    REQUIRE(receive.ok());
    CHECK((*receive)->counter.load() == 0);
    CHECK((*receive)->window.check(0));
    CHECK((*receive)->window.update(0));
    CHECK((*receive)->window.update(7));
    receive->reset();
    auto receive_again = ledger->key(KeyUse::receive, 5, k1, later, 2);
    REQUIRE(receive_again.ok());
    // Nothing it took, nor anything below, is taken again; what is above is.
    for (std::uint64_t c = 0; c <= 7; ++c)
        CHECK_FALSE((*receive_again)->window.check(c));
    CHECK((*receive_again)->window.check(8));

    // Other bytes are a new key from 0.
    auto other = ledger->key(KeyUse::send, 5, k2, later, 2);
    REQUIRE(other.ok());
    CHECK((*other)->counter.load() == 0);
    CHECK(ledger->size() == 3);
}

TEST_CASE("the ledger forgets a key only after its not-after time, and never one in use") {
    auto ledger = KeyLedger::create();
    auto held = ledger->key(KeyUse::send, 1, k1, 100, 1);
    auto dropped = ledger->key(KeyUse::send, 1, k2, 100, 1);
    REQUIRE((held.ok() && dropped.ok()));
    (*dropped)->counter = 9;
    dropped->reset();
    ledger->prune(99);  // not yet past
    CHECK(ledger->size() == 2);
    auto back = ledger->key(KeyUse::send, 1, k2, 100, 1);
    CHECK((*back)->counter.load() == 9);
    back->reset();
    ledger->prune(100);  // past: the dropped key goes, the held one stays
    CHECK(ledger->size() == 1);
    (*held)->counter = 4;
    auto same = ledger->key(KeyUse::send, 1, k1, 100, 1);
    CHECK((*same)->counter.load() == 4);
}
