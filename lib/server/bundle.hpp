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

// One peer entry: the pair of `self` and `peer` in `group`, whose current
// epoch `keys` was made from (protocol::PairKeys, once per group).
Result<protocol::BundlePeer> pair_entry(const store::Group& group, const protocol::PairKeys& keys,
                                        const store::Session& self, const store::Session& peer,
                                        const net::Address& address);

}  // namespace cug::server
