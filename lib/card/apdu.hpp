// ISO 7816-4 command and response APDUs, and BER-TLV as PIV uses it.
// Everything here parses bytes from a card (or, in the virtual card, from a
// host), so it is bounded and fuzzed (tests/fuzz/apdu_fuzz.cpp).
#pragma once

#include "core/bytes.hpp"
#include "core/result.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace cug::card {

struct Command {
    std::uint8_t cla = 0x00;
    std::uint8_t ins = 0;
    std::uint8_t p1 = 0;
    std::uint8_t p2 = 0;
    Bytes data;
    // Expected response length: nullopt = no Le byte, 256 = "00" (short APDU max).
    std::optional<std::uint16_t> le = 256;
};

// Short APDUs only (what every PIV client in practice sends); data over 255
// bytes goes as a chain of commands with CLA bit 0x10 on all but the last.
std::vector<Bytes> encode_chain(const Command& command);
// One short APDU; the caller guarantees data.size() <= 255.
Bytes encode(const Command& command);

// A parsed command (the virtual card's side). Accepts case 1-4 short APDUs.
Result<Command> parse_command(ByteView apdu);

struct Response {
    Bytes data;
    std::uint16_t sw = 0;
    std::uint8_t sw1() const { return static_cast<std::uint8_t>(sw >> 8); }
    std::uint8_t sw2() const { return static_cast<std::uint8_t>(sw); }
    bool ok() const { return sw == 0x9000; }
};

// data || SW1 SW2; at least two bytes.
Result<Response> parse_response(ByteView raw);
Bytes encode_response(const Response& response);

// BER-TLV (tags of one to three bytes, definite lengths up to 0xFFFFFF).
struct Tlv {
    std::uint32_t tag = 0;  // the tag bytes as a big-endian number, e.g. 0x7F49
    ByteView value;
};

// Splits a sequence of TLVs; fails on truncation or an indefinite length.
Result<std::vector<Tlv>> parse_tlvs(ByteView data);
// The first TLV with `tag` in the sequence, if any.
Result<std::optional<ByteView>> find_tlv(ByteView data, std::uint32_t tag);
// Appends tag, length, value.
void append_tlv(Bytes& out, std::uint32_t tag, ByteView value);
Bytes tlv(std::uint32_t tag, ByteView value);

}  // namespace cug::card
