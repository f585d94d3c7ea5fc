/* avltree — an AVL tree of strings used as a key/value store (insert, lookup-and-update, delete).
 *
 * Usage: avltree [OPS 600000] [KEYS 50000] [SEED 3]
 *
 * Each of OPS operations draws a key among KEYS (formatted "user:%08x:<suffix>" with a suffix of 0-40
 * characters); if it is absent it is inserted (a malloc'd node, a malloc'd key copy and a malloc'd value
 * string), if present it is deleted with probability 1/2 (node, key and value freed) or its value replaced
 * by a longer or shorter one (realloc). The key is built in a malloc'd buffer per operation, as a request
 * parser would. At the end an in-order walk checks the order and the balance and prints a checksum. */
#include "common.h"

typedef struct avl { struct avl *l, *r; char *key, *val; int h; } avl_t;

static int height(const avl_t *t) { return t ? t->h : 0; }
static void fix(avl_t *t) { int a = height(t->l), b = height(t->r); t->h = 1 + (a > b ? a : b); }
static avl_t *rot_right(avl_t *t) { avl_t *l = t->l; t->l = l->r; l->r = t; fix(t); fix(l); return l; }
static avl_t *rot_left(avl_t *t) { avl_t *r = t->r; t->r = r->l; r->l = t; fix(t); fix(r); return r; }
static avl_t *balance(avl_t *t) {
    fix(t);
    int bf = height(t->l) - height(t->r);
    if (bf > 1) { if (height(t->l->l) < height(t->l->r)) t->l = rot_left(t->l); return rot_right(t); }
    if (bf < -1) { if (height(t->r->r) < height(t->r->l)) t->r = rot_right(t->r); return rot_left(t); }
    return t;
}

static avl_t *insert(avl_t *t, char *key, char *val) {
    if (!t) { avl_t *n = xmalloc(sizeof *n); n->l = n->r = NULL; n->key = key; n->val = val; n->h = 1; return n; }
    if (strcmp(key, t->key) < 0) t->l = insert(t->l, key, val); else t->r = insert(t->r, key, val);
    return balance(t);
}

static avl_t *remove_min(avl_t *t, avl_t **min) {
    if (!t->l) { *min = t; return t->r; }
    t->l = remove_min(t->l, min);
    return balance(t);
}

static avl_t *erase(avl_t *t, const char *key) {
    int c = strcmp(key, t->key);
    if (c < 0) { t->l = erase(t->l, key); return balance(t); }
    if (c > 0) { t->r = erase(t->r, key); return balance(t); }
    avl_t *l = t->l, *r = t->r;
    free(t->key); free(t->val); free(t);
    if (!r) return l;
    avl_t *m;
    r = remove_min(r, &m);
    m->l = l; m->r = r;
    return balance(m);
}

static avl_t *find(avl_t *t, const char *key) {
    while (t) { int c = strcmp(key, t->key); if (!c) return t; t = c < 0 ? t->l : t->r; }
    return NULL;
}

static char *make_value(rng_t *r, uint64_t k) {
    size_t n = (size_t)rng_range(r, 8, 120);
    char *v = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) v[i] = (char)('a' + (k + i) % 26);
    v[n] = 0;
    return v;
}

static uint64_t g_count, g_bad;
static const char *g_prev;
static int walk(const avl_t *t, uint64_t *sum) {
    if (!t) return 0;
    int a = walk(t->l, sum);
    if (g_prev && strcmp(g_prev, t->key) >= 0) g_bad++;
    g_prev = t->key;
    *sum += mix64(fnv1a(t->key, strlen(t->key), 0) ^ fnv1a(t->val, strlen(t->val), 1));
    g_count++;
    int b = walk(t->r, sum);
    if (a - b > 1 || b - a > 1 || t->h != 1 + (a > b ? a : b)) g_bad++;
    return 1 + (a > b ? a : b);
}

static void release(avl_t *t) {
    if (!t) return;
    release(t->l); release(t->r);
    free(t->key); free(t->val); free(t);
}

int main(int argc, char **argv) {
    uint64_t ops = arg_u64(argc, argv, 1, 600000, 0, 1ULL << 40, "OPS");
    uint64_t keys = arg_u64(argc, argv, 2, 50000, 1, 1ULL << 32, "KEYS");
    uint64_t seed = arg_u64(argc, argv, 3, 3, 0, UINT64_MAX, "SEED");
    if (argc > 4) die("usage: avltree [OPS] [KEYS] [SEED]");
    rng_t r;
    rng_seed(&r, seed);
    avl_t *root = NULL;
    uint64_t inserts = 0, deletes = 0, updates = 0;
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t k = rng_below(&r, keys);
        size_t suffix = (size_t)(mix64(k) % 41);
        char *key = xmalloc(16 + suffix + 1);
        int len = snprintf(key, 17, "user:%08x:", (unsigned)k);
        for (size_t s = 0; s < suffix; s++) key[len + s] = (char)('A' + (k >> (s % 16)) % 26);
        key[len + suffix] = 0;
        avl_t *n = find(root, key);
        if (!n) {
            root = insert(root, key, make_value(&r, k));
            inserts++;
            continue;
        }
        if (rng_below(&r, 2)) {
            root = erase(root, key);
            deletes++;
        } else {
            size_t m = (size_t)rng_range(&r, 8, 200);
            n->val = xrealloc(n->val, m + 1);
            memset(n->val, 'a' + (int)(i % 26), m);
            n->val[m] = 0;
            updates++;
        }
        free(key);
    }
    uint64_t sum = 0;
    walk(root, &sum);
    printf("avltree inserts %llu deletes %llu updates %llu size %llu checksum %016llx bad %llu\n",
           (unsigned long long)inserts, (unsigned long long)deletes, (unsigned long long)updates,
           (unsigned long long)g_count, (unsigned long long)sum, (unsigned long long)g_bad);
    release(root);
    return g_bad != 0;
}
