// One DNS query in, its answer out (man/cug.7, NAMES), through ldns: the
// request path of cug-tun's resolver. It is authoritative for the zone and
// the groups' reverse zones and nothing else: never recursive, every other
// name REFUSED, no ANY (NOTIMP), no zone transfers, answers never larger
// than the query's transport allows (512 bytes, or its EDNS size up to 1232
// over UDP). Responses are never answered.
#pragma once

#include "core/bytes.hpp"
#include "dns/zone.hpp"

#include <optional>

namespace cug::dns {

enum class Transport { udp, tcp };

// How a query ended, for the resolver's counters.
enum class Outcome : unsigned {
    answered,  // NOERROR with records
    nodata,    // NOERROR, none of that type
    nxdomain,
    refused,  // outside the zone, another class, a zone transfer
    notimp,   // ANY, an opcode other than QUERY
    formerr,  // unparsable, or not one question
    dropped,  // a response, or too short to answer: nothing sent
    count_
};
inline constexpr std::size_t outcomes = static_cast<std::size_t>(Outcome::count_);
const char* outcome_name(Outcome o);

struct Response {
    Outcome outcome = Outcome::dropped;
    std::optional<Bytes> message;  // nothing for `dropped`
};

// Largest UDP answer this resolver sends, whatever EDNS size a query asks.
inline constexpr std::size_t max_udp_answer = 1232;

Response respond(const Zone& zone, ByteView query, Transport transport);

}  // namespace cug::dns
