/* String processing: generate text, split it into words, lower-case them,
 * count distinct words in a hash table keyed by the strings, and count
 * occurrences of a short pattern with a naive search. */
#include "kernel.h"

#define MAX_TEXT (4u << 20)
#define TABLE_SIZE (1u << 16)

static char text[MAX_TEXT + 1];
static const char *words[] = {
    "The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog",
    "WebAssembly", "instance", "memory", "table", "Global", "function", "import",
    "export", "module", "compile", "ahead", "of", "time", "sandbox", "edge",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

struct entry {
    uint32_t start; /* offset of the word in `text`, lower-cased */
    uint32_t len;
    uint32_t count;
};
static struct entry table[TABLE_SIZE];

static int same(const char *a, const char *b, uint32_t len) {
    for (uint32_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

KERNEL(kernel_strings) {
    if (n > MAX_TEXT)
        n = MAX_TEXT;
    /* generate: words with a numeric suffix sometimes, spaces and newlines */
    uint64_t s = 1234;
    uint32_t len = 0;
    while (len + 32 < n) {
        uint32_t r = lcg_next(&s);
        const char *w = words[r % NWORDS];
        while (*w)
            text[len++] = *w++;
        if ((r >> 8) % 4 == 0) {
            uint32_t k = (r >> 12) % 1000;
            do {
                text[len++] = (char)('0' + k % 10);
                k /= 10;
            } while (k);
        }
        text[len++] = ((r >> 24) % 10 == 0) ? '\n' : ' ';
    }
    text[len] = 0;
    for (uint32_t i = 0; i < TABLE_SIZE; i++)
        table[i].len = 0;

    uint64_t distinct = 0, total = 0;
    uint32_t i = 0;
    while (i < len) {
        while (i < len && (text[i] == ' ' || text[i] == '\n'))
            i++;
        uint32_t start = i;
        uint32_t h = 2166136261u;
        while (i < len && text[i] != ' ' && text[i] != '\n') {
            char c = text[i];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            text[i] = c;
            h = (h ^ (uint8_t)c) * 16777619u;
            i++;
        }
        uint32_t wl = i - start;
        if (!wl)
            break;
        total++;
        uint32_t slot = h & (TABLE_SIZE - 1);
        for (;;) {
            struct entry *e = &table[slot];
            if (e->len == 0) {
                e->start = start;
                e->len = wl;
                e->count = 1;
                distinct++;
                break;
            }
            if (e->len == wl && same(text + e->start, text + start, wl)) {
                e->count++;
                break;
            }
            slot = (slot + 1) & (TABLE_SIZE - 1);
        }
    }
    /* naive search for a pattern */
    static const char pat[] = "the lazy";
    uint64_t hits = 0;
    for (uint32_t k = 0; k + sizeof(pat) - 1 <= len; k++)
        if (same(text + k, pat, sizeof(pat) - 1))
            hits++;
    uint64_t most = 0;
    for (uint32_t k = 0; k < TABLE_SIZE; k++)
        if (table[k].len && table[k].count > most)
            most = table[k].count;
    return (distinct << 40) ^ (total << 20) ^ (hits << 8) ^ most;
}
