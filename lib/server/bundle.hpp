// What a session gets to know: its groups, and for each logged-in peer in
// them the pair keys and receiver indices of both directions (derived from
// the group's epoch secret, which itself never leaves cugd).
#pragma once

#include "protocol/login.hpp"
#include "store/store.hpp"

namespace cug::server {

// The bundle for `session` from one store snapshot. Peers are the other
// members of its groups that have an acknowledged session.
Result<protocol::Bundle> build_bundle(const store::ReadTxn& txn, const store::Session& session);

// The same in two steps: what the snapshot holds for the bundle (read in the
// transaction), and the bundle made of it (pair keys derived; no store, so
// it may run on another thread).
struct BundlePlan {
    struct Part {
        store::Group group;
        net::Address address;                                        // the session's in the group
        std::vector<std::pair<store::Session, net::Address>> peers;  // without their keys
    };
    store::Session session;  // without its keys
    std::vector<Part> parts;
    std::string zone;
    std::vector<protocol::BundleName> names;  // every other member of the parts' groups
};
Result<BundlePlan> plan_bundle(const store::ReadTxn& txn, const store::Session& session);
Result<protocol::Bundle> build_bundle(const BundlePlan& plan);

// One peer entry: the pair of `self` and `peer` in `group`, whose current
// epoch `keys` was made from (protocol::PairKeys, once per group).
Result<protocol::BundlePeer> pair_entry(const store::Group& group, const protocol::PairKeys& keys,
                                        const store::Session& self, const store::Session& peer,
                                        const net::Address& address);

}  // namespace cug::server
