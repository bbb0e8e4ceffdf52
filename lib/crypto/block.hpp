// One block of 3DES or AES in ECB mode: what PIV's management-key
// challenge-response uses, and nothing else should.
#pragma once

#include "core/result.hpp"
#include "crypto/secret.hpp"

namespace cug::crypto {

enum class BlockCipher { tdes, aes128, aes192, aes256 };

std::size_t block_size(BlockCipher cipher);  // 8 for 3DES, 16 for AES
std::size_t key_size(BlockCipher cipher);    // 24, 16, 24, 32

// Encrypts or decrypts exactly one block.
Result<Bytes> block_encrypt(BlockCipher cipher, ByteView key, ByteView block);
Result<Bytes> block_decrypt(BlockCipher cipher, ByteView key, ByteView block);

}  // namespace cug::crypto
