/* The Bloom filter behind meta's "is this key new?" question. Bits are set with atomic ORs
 * and read with relaxed loads: a reader racing an add may see some of its bits, and then
 * answers "maybe", which is always safe. One 64-bit hash split in two drives the probes
 * (Kirsch-Mitzenmacher double hashing). */
#include "keyfilter.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


/* Every "maybe" for a new key is a LevelDB lookup, and LevelDB compacts a table early once
 * enough lookups have passed through it (see meta.c). At 6 bits and 4 probes, 5 % of new
 * keys got through a full filter, enough to keep compaction busy during an upload run; at 12
 * bits and 8 probes, 0.3 %. Memory: 3 bytes per file (two keys), twice that after a grow. */
#define PROBES 8
#define BITS_PER_KEY 12
#define MIN_KEYS 4096
#define MAX_KEYS (1ULL << 32) /* 6 GiB: far beyond any index this node holds */

struct keyfilter {
    uint64_t nbits;
    size_t capacity;
    atomic_size_t count;
    _Atomic uint64_t words[];
};

/* Eight bytes per step (keys are 33-41 bytes of hex: a byte-wise FNV-1a was a third of
 * each question's cost), then a final mix so that the low bits depend on every byte. */
static uint64_t hash64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

struct keyfilter *keyfilter_new(size_t keys)
{
    if (keys < MIN_KEYS)
        keys = MIN_KEYS;
    if (keys > MAX_KEYS)
        keys = MAX_KEYS;
    uint64_t nbits = ((uint64_t)keys * BITS_PER_KEY + 63) / 64 * 64;
    size_t words = (size_t)(nbits / 64);
    struct keyfilter *f = calloc(1, sizeof *f + words * sizeof f->words[0]);
    if (!f)
        return NULL;
    f->nbits = nbits;
    f->capacity = (size_t)(nbits / BITS_PER_KEY);
    return f;
}

void keyfilter_free(struct keyfilter *f)
{
    free(f);
}

/* The i-th probe's bit: h1 + i*h2 picks the word by a multiply onto [0, words) (not a
 * modulo), and a multiplicative hash of it the bit in the word. */
static uint64_t probe_bit(const struct keyfilter *f, uint64_t h, int i)
{
    uint32_t x = (uint32_t)h + (uint32_t)i * ((uint32_t)(h >> 32) | 1);
    uint64_t word = ((uint64_t)x * (f->nbits / 64)) >> 32;
    return word * 64 + (((uint32_t)(x * 0x9e3779b1u)) >> 26);
}

/* Counts the key only when it set a bit: meta's fill meets most keys twice (and writers
 * add what the fill meets again), and the count sizes the next filter. A bit already set
 * is not written again, which keeps the cache line shared between the threads. The words
 * are fetched before the first atomic OR: each OR is a full barrier on x86, so the probes'
 * cache misses would otherwise come one after another (perf put 58 % of an add's cycles
 * on the first use of a loaded word). */
void keyfilter_add(struct keyfilter *f, const void *key, size_t len)
{
    uint64_t h = hash64(key, len), bits[PROBES];
    for (int i = 0; i < PROBES; i++) {
        bits[i] = probe_bit(f, h, i);
        __builtin_prefetch((const void *)(uintptr_t)(f->words + bits[i] / 64), 1);
    }
    bool fresh = false;
    for (int i = 0; i < PROBES; i++) {
        uint64_t bit = bits[i], mask = 1ULL << (bit % 64);
        _Atomic uint64_t *w = &f->words[bit / 64];
        if (atomic_load_explicit(w, memory_order_relaxed) & mask)
            continue;
        fresh |= !(atomic_fetch_or_explicit(w, mask, memory_order_release) & mask);
    }
    if (fresh)
        atomic_fetch_add_explicit(&f->count, 1, memory_order_relaxed);
}

bool keyfilter_may_contain(const struct keyfilter *f, const void *key, size_t len)
{
    uint64_t h = hash64(key, len);
    for (int i = 0; i < PROBES; i++) {
        uint64_t bit = probe_bit(f, h, i);
        uint64_t w = atomic_load_explicit(&f->words[bit / 64], memory_order_acquire);
        if (!(w & (1ULL << (bit % 64))))
            return false;
    }
    return true;
}

size_t keyfilter_count(const struct keyfilter *f)
{
    return atomic_load_explicit(&f->count, memory_order_relaxed);
}

size_t keyfilter_capacity(const struct keyfilter *f)
{
    return f->capacity;
}
