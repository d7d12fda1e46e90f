/*
 * crc32c.h - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of the transaction log and snapshot files.
 *
 * Chaining: crc32c(crc32c(0, a, n), b, m) == crc32c(0, a || b, n + m), so a
 * record or a whole file can be checked piece by piece.  Check value:
 * crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * The SSE4.2 crc32 instruction is used when the CPU has it (detected once at
 * run time); otherwise a portable slicing-by-8 table.  Both give the same
 * result, and the function is safe to call from any thread.
 */
#ifndef COORD_CRC32C_H
#define COORD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable implementation, exported so the test can compare the two. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
