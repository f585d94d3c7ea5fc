/* wordfreq — a string-interning word counter, written the allocation-heavy way many text tools are.
 *
 * Usage: wordfreq [TOP 20] < TEXT
 *
 * Reads lines of any length (a buffer grown by realloc); splits each line into a malloc'd array of
 * malloc'd lower-cased token copies (grown by realloc); interns every token in a chained hash table (a new
 * word gets its own node and string; the table doubles and rehashes as it fills), counts it and frees the
 * copy; every 64 lines the table of line lengths is trimmed. At the end it sorts the distinct words by count
 * (then alphabetically) and prints the TOP most frequent, the number of tokens and distinct words, and a
 * checksum of every (word, count) pair; then frees everything. */
#include "common.h"
#include <ctype.h>

typedef struct entry { struct entry *next; char *word; uint64_t hash, count; } entry_t;

static entry_t **g_table;
static size_t g_buckets = 1024, g_distinct;

static void grow(void) {
    size_t nb = g_buckets * 2;
    entry_t **t = xcalloc(nb, sizeof *t);
    for (size_t b = 0; b < g_buckets; b++)
        for (entry_t *e = g_table[b], *next; e; e = next) {
            next = e->next;
            e->next = t[e->hash & (nb - 1)];
            t[e->hash & (nb - 1)] = e;
        }
    free(g_table);
    g_table = t;
    g_buckets = nb;
}

static void intern(const char *w, size_t n) {
    uint64_t h = fnv1a(w, n, 0xcbf29ce484222325ULL);
    for (entry_t *e = g_table[h & (g_buckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->word, w) == 0) { e->count++; return; }
    entry_t *e = xmalloc(sizeof *e);
    e->word = xstrndup(w, n);
    e->hash = h;
    e->count = 1;
    e->next = g_table[h & (g_buckets - 1)];
    g_table[h & (g_buckets - 1)] = e;
    if (++g_distinct > g_buckets) grow();
}

static int by_count(const void *a, const void *b) {
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

int main(int argc, char **argv) {
    uint64_t top = arg_u64(argc, argv, 1, 20, 0, 1000000, "TOP");
    if (argc > 2) die("usage: wordfreq [TOP] < TEXT");
    g_table = xcalloc(g_buckets, sizeof *g_table);
    size_t cap = 16, len = 0;
    char *line = xmalloc(cap);
    uint64_t tokens = 0, lines = 0;
    int c;
    size_t *lengths = NULL, nlengths = 0;
    for (;;) {
        c = getchar();
        if (c != EOF && c != '\n') {
            if (len + 1 >= cap) { cap *= 2; line = xrealloc(line, cap); }
            line[len++] = (char)c;
            continue;
        }
        if (len == 0 && c == EOF) break;
        line[len] = 0;
        /* Split into token copies, as a tokenizer returning strings would. */
        char **toks = NULL;
        size_t ntoks = 0, tcap = 0;
        for (size_t i = 0; i < len;) {
            while (i < len && !isalnum((unsigned char)line[i])) i++;
            size_t start = i;
            while (i < len && isalnum((unsigned char)line[i])) i++;
            if (i == start) break;
            char *t = xstrndup(line + start, i - start);
            for (char *p = t; *p; p++) *p = (char)tolower((unsigned char)*p);
            if (ntoks == tcap) { tcap = tcap ? tcap * 2 : 4; toks = xrealloc(toks, tcap * sizeof *toks); }
            toks[ntoks++] = t;
        }
        for (size_t k = 0; k < ntoks; k++) { intern(toks[k], strlen(toks[k])); free(toks[k]); }
        free(toks);
        tokens += ntoks;
        lengths = xrealloc(lengths, (nlengths + 1) * sizeof *lengths);
        lengths[nlengths++] = len;
        if (nlengths == 64) { free(lengths); lengths = NULL; nlengths = 0; }
        lines++;
        len = 0;
        if (c == EOF) break;
    }
    free(line);
    free(lengths);
    entry_t **all = xmalloc((g_distinct ? g_distinct : 1) * sizeof *all);
    size_t n = 0;
    uint64_t sum = 0;
    for (size_t b = 0; b < g_buckets; b++)
        for (entry_t *e = g_table[b]; e; e = e->next) { all[n++] = e; sum += mix64(e->hash ^ e->count); }
    qsort(all, n, sizeof *all, by_count);
    for (size_t i = 0; i < n && i < top; i++) printf("%8llu %s\n", (unsigned long long)all[i]->count, all[i]->word);
    printf("lines %llu tokens %llu distinct %zu checksum %016llx\n", (unsigned long long)lines,
           (unsigned long long)tokens, n, (unsigned long long)sum);
    for (size_t i = 0; i < n; i++) { free(all[i]->word); free(all[i]); }
    free(all);
    free(g_table);
    return 0;
}
