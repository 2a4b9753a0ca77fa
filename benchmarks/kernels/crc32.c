/* CRC-32 (IEEE, table-driven, a byte at a time) over a large buffer. */
#include "kernel.h"

#define MAX_LEN (16u << 20)
static uint8_t buf[MAX_LEN];
static uint32_t table[256];

KERNEL(kernel_crc32) {
    if (n > MAX_LEN)
        n = MAX_LEN;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint64_t s = 99;
    for (uint32_t i = 0; i + 4 <= n; i += 4) {
        uint32_t r = lcg_next(&s);
        buf[i] = (uint8_t)r;
        buf[i + 1] = (uint8_t)(r >> 8);
        buf[i + 2] = (uint8_t)(r >> 16);
        buf[i + 3] = (uint8_t)(r >> 24);
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < n; i++)
        crc = table[(crc ^ buf[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
