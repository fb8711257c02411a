/* tok_map.c: open-addressing hash maps for the tokenizer.
 * strmap: piece bytes -> id (vocabulary lookup; keys are borrowed).
 * pairmap: (left id, right id) -> (merge rank, merged id).
 * Both grow at 50% load, so lookups stay O(1) for 10^5-piece vocabularies. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

static uint32_t hash_bytes(const char *s, size_t len)
{
    /* FNV-1a, then a final mix so low bits spread for power-of-two tables */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    h ^= h >> 15;
    h *= 0x2c1b3c6dU;
    h ^= h >> 12;
    return h;
}

static rb_status strmap_grow(rb_tok_strmap *m, rb_error *err)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    rb_tok_strmap_slot *s = calloc(cap, sizeof *s);
    if (!s) return rb_fail(err, RB_ENOMEM, "tokenizer: out of memory growing a vocabulary map to %zu slots", cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key) continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (s[j].key) j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return RB_OK;
}

rb_status rb_tok_strmap_put(rb_tok_strmap *m, const char *key, size_t len, int32_t val,
                            int32_t *existing, rb_error *err)
{
    if (existing) *existing = -1;
    if ((m->count + 1) * 2 > m->cap) {
        rb_status st = strmap_grow(m, err);
        if (st) return st;
    }
    uint32_t h = hash_bytes(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        rb_tok_strmap_slot *e = &m->slots[j];
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) {
            if (existing) *existing = e->val;
            return RB_OK;
        }
        j = (j + 1) & (m->cap - 1);
    }
    /* an empty key still needs a non-NULL pointer to mark the slot used */
    m->slots[j].key = key ? key : "";
    m->slots[j].len = (uint32_t)len;
    m->slots[j].hash = h;
    m->slots[j].val = val;
    m->count++;
    return RB_OK;
}

int32_t rb_tok_strmap_get(const rb_tok_strmap *m, const char *key, size_t len)
{
    if (!m->cap) return -1;
    uint32_t h = hash_bytes(key, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        const rb_tok_strmap_slot *e = &m->slots[j];
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) return e->val;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void rb_tok_strmap_free(rb_tok_strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static size_t pair_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return (size_t)k;
}

static uint64_t pair_key(int32_t left, int32_t right)
{
    return (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
}

static rb_status pairmap_grow(rb_tok_pairmap *m, rb_error *err)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    rb_tok_pairmap_slot *s = calloc(cap, sizeof *s);
    if (!s) return rb_fail(err, RB_ENOMEM, "tokenizer: out of memory growing the merge table to %zu slots", cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key) continue;
        size_t j = pair_hash(m->slots[i].key) & (cap - 1);
        while (s[j].key) j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return RB_OK;
}

rb_status rb_tok_pairmap_put(rb_tok_pairmap *m, int32_t left, int32_t right, int32_t rank,
                             int32_t merged, int *was_new, rb_error *err)
{
    *was_new = 0;
    if ((m->count + 1) * 2 > m->cap) {
        rb_status st = pairmap_grow(m, err);
        if (st) return st;
    }
    uint64_t k = pair_key(left, right);
    size_t j = pair_hash(k) & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].key == k) return RB_OK;
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j].key = k;
    m->slots[j].rank = rank;
    m->slots[j].merged = merged;
    m->count++;
    *was_new = 1;
    return RB_OK;
}

const rb_tok_pairmap_slot *rb_tok_pairmap_get(const rb_tok_pairmap *m, int32_t left, int32_t right)
{
    if (!m->cap) return NULL;
    uint64_t k = pair_key(left, right);
    size_t j = pair_hash(k) & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].key == k) return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void rb_tok_pairmap_free(rb_tok_pairmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}
