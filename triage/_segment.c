/* jieba's word segmentation, compiled, with the vocabulary look-up of the word features folded in.
 *
 * A Dictionary holds jieba's dictionary (words, frequencies and every prefix of a word), the words the model added,
 * the model's vocabulary and jieba's HMM for unknown words, all in one open-addressing table keyed by code points.
 * Dictionary.ids() segments texts and returns the vocabulary column of every token straight away: no token ever
 * becomes a Python string. Dictionary.cut() returns the tokens as strings, for tests and checks.
 *
 * The tokens are those of rjieba's cut(text, hmm=True) (jieba-rs 0.11), white-space tokens left out: the same
 * blocks (CJK and [A-Za-z0-9+#&._%-] runs, everything else one character at a time), the same route through the
 * word graph (log frequency minus log total, ties to the longer word), the same treatment of the single
 * characters the route leaves (one word if the dictionary has their run, else the HMM's Viterbi path, with ASCII
 * runs joined by . _ - kept whole). Floating point is evaluated in the same order, so ties break alike;
 * tests/test_segment.py holds the two to the same tokens.
 *
 * A Dictionary is immutable once built: ids() segments with the GIL released, so threads may share one.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_buffers.h"

#define WORD 1      /* the node ends a dictionary word */
#define CHILDREN 2  /* the node has children */
#define HMM_FIRST 0x4E00
#define HMM_LAST 0x9FD5
#define HMM_N (HMM_LAST - HMM_FIRST + 1)
#define MIN_FLOAT (-3.14e100)
#define ROOT_DIRECT 0x10000 /* children of the root looked up directly: the BMP */
#define MAX_NODES (1 << 30)
#define GOLDEN 0x9E3779B97F4A7C15ULL
enum { B = 0, E = 1, M = 2, S = 3 };

/* A child link of the trie: key = (parent << 21 | character) + 1, 0 for an empty slot. */
typedef struct {
    uint64_t key;
    int32_t node;
    int32_t unused;
} Slot;

/* A trie over code points of jieba's words, the model's words and the vocabulary. Node 0 is the root. */
typedef struct {
    PyObject_HEAD
    int32_t *root;     /* child of the root for each BMP character, 0 for none */
    Slot *slots;       /* every other child link, open addressing */
    uint64_t mask;
    int shift;
    Py_ssize_t n_links;
    Py_ssize_t n_nodes, cap_nodes;
    uint8_t *flags;
    int32_t *col;      /* vocabulary column of the node's string, or -1 */
    uint64_t *freq;
    double *log_freq;
    uint64_t total;
    double log_total;
    double start[4], trans[4][4];
    double (*emit)[4]; /* HMM_N rows */
} Dictionary;

static inline uint64_t
link_key(int32_t parent, uint32_t c)
{
    return (((uint64_t)parent << 21) | c) + 1;
}

/* The child of `node` by character `c`, or 0. */
static inline int32_t
child(const Dictionary *d, int32_t node, uint32_t c)
{
    if (node == 0 && c < ROOT_DIRECT)
        return d->root[c];
    uint64_t key = link_key(node, c), i = (key * GOLDEN) >> d->shift;
    for (;;) {
        const Slot *s = &d->slots[i];
        if (s->key == key)
            return s->node;
        if (s->key == 0)
            return 0;
        i = (i + 1) & d->mask;
    }
}

/* The node of the string key[0, len), or 0 when the trie does not hold it. */
static inline int32_t
find(const Dictionary *d, const uint32_t *key, Py_ssize_t len)
{
    int32_t node = 0;
    for (Py_ssize_t i = 0; i < len && (i == 0 || node); i++)
        node = child(d, node, key[i]);
    return node;
}

static int
set_slots(Dictionary *d, int bits)
{
    uint64_t n = 1ULL << bits;
    Slot *slots = calloc(n, sizeof(Slot)), *old = d->slots;
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t old_n = old ? d->mask + 1 : 0;
    d->slots = slots;
    d->mask = n - 1;
    d->shift = 64 - bits;
    for (uint64_t j = 0; j < old_n; j++) {
        if (!old[j].key)
            continue;
        uint64_t i = (old[j].key * GOLDEN) >> d->shift;
        while (slots[i].key)
            i = (i + 1) & d->mask;
        slots[i] = old[j];
    }
    free(old);
    return 0;
}

static int
grow_nodes(Dictionary *d)
{
    Py_ssize_t cap = d->cap_nodes ? 2 * d->cap_nodes : 1 << 18;
    if (cap > MAX_NODES) {
        PyErr_SetString(PyExc_ValueError, "dictionary too large");
        return -1;
    }
    uint8_t *flags = realloc(d->flags, (size_t)cap);
    if (flags)
        d->flags = flags;
    int32_t *col = realloc(d->col, (size_t)cap * sizeof(int32_t));
    if (col)
        d->col = col;
    uint64_t *freq = realloc(d->freq, (size_t)cap * sizeof(uint64_t));
    if (freq)
        d->freq = freq;
    double *log_freq = realloc(d->log_freq, (size_t)cap * sizeof(double));
    if (log_freq)
        d->log_freq = log_freq;
    if (!flags || !col || !freq || !log_freq) {
        PyErr_NoMemory();
        return -1;
    }
    d->cap_nodes = cap;
    return 0;
}

/* The node of key[0, len), created with its missing ancestors; -1 with an exception set on failure. With `path`,
 * path[i] receives the node of key[0, i + 1), and its first `known` entries are taken as right already (a prefix
 * the previous key shared): a sorted dictionary then skips most of the walk. */
static int32_t
insert(Dictionary *d, const uint32_t *key, Py_ssize_t len, int32_t *path, Py_ssize_t known)
{
    int32_t node = known ? path[known - 1] : 0;
    for (Py_ssize_t i = known; i < len; i++) {
        int32_t next = child(d, node, key[i]);
        if (!next) {
            if (d->n_nodes == d->cap_nodes && grow_nodes(d) < 0)
                return -1;
            if ((uint64_t)(d->n_links + 1) * 2 > d->mask + 1 && set_slots(d, 64 - d->shift + 1) < 0)
                return -1;
            next = (int32_t)d->n_nodes++;
            d->flags[next] = 0;
            d->col[next] = -1;
            d->freq[next] = 0;
            d->log_freq[next] = 0.0;
            d->flags[node] |= CHILDREN;
            if (node == 0 && key[i] < ROOT_DIRECT) {
                d->root[key[i]] = next;
            } else {
                uint64_t k = link_key(node, key[i]), j = (k * GOLDEN) >> d->shift;
                while (d->slots[j].key)
                    j = (j + 1) & d->mask;
                d->slots[j] = (Slot){k, next, 0};
                d->n_links++;
            }
        }
        node = next;
        if (path)
            path[i] = node;
    }
    return node;
}

/* Make `node` a dictionary word of frequency `freq` (replacing the frequency it had); keeps `total` the sum. */
static void
set_word(Dictionary *d, int32_t node, uint64_t freq)
{
    if (d->flags[node] & WORD)
        d->total -= d->freq[node];
    d->total += freq;
    d->flags[node] |= WORD;
    d->freq[node] = freq;
    d->log_freq[node] = log((double)freq);
}

/* Decode UTF-8 into code points; returns their number, or -1 when `s` is not valid UTF-8. */
static Py_ssize_t
utf8_decode(const unsigned char *s, Py_ssize_t n, uint32_t *out)
{
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n;) {
        unsigned char c = s[i];
        uint32_t cp;
        int more;
        if (c < 0x80) {
            cp = c;
            more = 0;
        } else if ((c & 0xE0) == 0xC0) {
            cp = c & 0x1F;
            more = 1;
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F;
            more = 2;
        } else if ((c & 0xF8) == 0xF0) {
            cp = c & 0x07;
            more = 3;
        } else {
            return -1;
        }
        if (i + more >= n)
            return -1;
        for (int j = 1; j <= more; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        out[k++] = cp;
        i += more + 1;
    }
    return k;
}

static inline int
ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Load a dictionary in jieba's format ("word freq [tag]" per line). A word listed twice keeps its last frequency. */
static int
load_dict(Dictionary *d, const unsigned char *text, Py_ssize_t n)
{
    Py_ssize_t longest = 0;
    for (Py_ssize_t i = 0, end; i < n; i = end + 1) {
        const unsigned char *nl = memchr(text + i, '\n', (size_t)(n - i));
        end = nl ? nl - text : n;
        if (end - i > longest)
            longest = end - i;
    }
    uint32_t *key = malloc(((size_t)longest + 1) * 4), *prev = malloc(((size_t)longest + 1) * 4);
    int32_t *path = malloc(((size_t)longest + 1) * 4);
    Py_ssize_t prev_len = 0, line_no = 0;
    int rc = -1;
    if (!key || !prev || !path) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t end = i;
        while (end < n && text[end] != '\n')
            end++;
        line_no++;
        Py_ssize_t a = i;
        while (a < end && ascii_space(text[a]))
            a++;
        Py_ssize_t b = a;
        while (b < end && !ascii_space(text[b]))
            b++;
        if (b > a) {
            Py_ssize_t f = b;
            while (f < end && ascii_space(text[f]))
                f++;
            uint64_t freq = 0;
            Py_ssize_t g = f;
            while (g < end && !ascii_space(text[g])) {
                if (text[g] < '0' || text[g] > '9' || freq > (UINT64_MAX - 9) / 10) {
                    PyErr_Format(PyExc_ValueError, "dictionary line %zd: the frequency is not a whole number", line_no);
                    goto done;
                }
                freq = freq * 10 + (uint64_t)(text[g++] - '0');
            }
            Py_ssize_t len = utf8_decode(text + a, b - a, key);
            if (len < 0) {
                PyErr_Format(PyExc_ValueError, "dictionary line %zd is not valid UTF-8", line_no);
                goto done;
            }
            Py_ssize_t shared = 0;
            while (shared < len && shared < prev_len && key[shared] == prev[shared])
                shared++;
            int32_t node = insert(d, key, len, path, shared);
            if (node < 0)
                goto done;
            set_word(d, node, freq);
            uint32_t *swap = prev;
            prev = key;
            key = swap;
            prev_len = len;
        }
        i = end + 1;
    }
    rc = 0;
done:
    free(key);
    free(prev);
    free(path);
    return rc;
}

/* The code points of a str, in a new buffer (free it); NULL with an exception set on failure. */
static uint32_t *
code_points(PyObject *s, Py_ssize_t *len)
{
    if (!PyUnicode_Check(s)) {
        PyErr_SetString(PyExc_TypeError, "expected a str");
        return NULL;
    }
    *len = PyUnicode_GET_LENGTH(s);
    uint32_t *out = malloc(((size_t)*len + 1) * 4);
    if (!out) {
        PyErr_NoMemory();
        return NULL;
    }
    if (*len && !PyUnicode_AsUCS4(s, (Py_UCS4 *)out, *len, 0)) {
        free(out);
        return NULL;
    }
    return out;
}

/* The node of the str `s` (inserted with its prefixes); 0 for an empty string, -1 with an exception set. */
static int32_t
insert_str(Dictionary *d, PyObject *s)
{
    Py_ssize_t len;
    uint32_t *key = code_points(s, &len);
    if (!key)
        return -1;
    int32_t node = len ? insert(d, key, len, NULL, 0) : 0;
    free(key);
    return node;
}

/* Add words a model put in its dictionary (jieba's add_word: a word already there has its frequency replaced). */
static int
add_extra_words(Dictionary *d, PyObject *words)
{
    PyObject *seq = PySequence_Fast(words, "words must be a sequence of (word, frequency)");
    if (!seq)
        return -1;
    int rc = -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i), *word;
        unsigned long long freq;
        if (!PyArg_ParseTuple(item, "UK", &word, &freq))
            goto done;
        int32_t node = insert_str(d, word);
        if (node < 0)
            goto done;
        if (node)
            set_word(d, node, freq);
    }
    rc = 0;
done:
    Py_DECREF(seq);
    return rc;
}

static int
add_vocabulary(Dictionary *d, PyObject *vocab)
{
    PyObject *seq = PySequence_Fast(vocab, "vocabulary must be a sequence of str");
    if (!seq)
        return -1;
    int rc = -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "vocabulary too large");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t node = insert_str(d, PySequence_Fast_GET_ITEM(seq, i));
        if (node < 0)
            goto done;
        if (node)
            d->col[node] = (int32_t)i;
    }
    rc = 0;
done:
    Py_DECREF(seq);
    return rc;
}

/* Copy the `n` values of the float64 array `obj` into `out`. */
static int
read_doubles(PyObject *obj, double *out, Py_ssize_t n, const char *name)
{
    Py_buffer view;
    if (get_buffer(obj, &view, name, "d", 0) < 0)
        return -1;
    int ok = view.len == n * 8;
    if (ok)
        memcpy(out, view.buf, (size_t)n * 8);
    else
        PyErr_Format(PyExc_ValueError, "%s must be a contiguous float64 array of %zd values", name, n);
    PyBuffer_Release(&view);
    return ok ? 0 : -1;
}

static void
Dictionary_dealloc(Dictionary *d)
{
    free(d->root);
    free(d->slots);
    free(d->flags);
    free(d->col);
    free(d->freq);
    free(d->log_freq);
    free(d->emit);
    Py_TYPE(d)->tp_free((PyObject *)d);
}

static PyObject *
Dictionary_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"dictionary", "words", "vocabulary", "hmm_start", "hmm_trans", "hmm_emit", NULL};
    Py_buffer text;
    PyObject *words, *vocab, *start, *trans, *emit;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*OOOOO:Dictionary", names, &text, &words, &vocab, &start,
                                     &trans, &emit))
        return NULL;
    Dictionary *d = (Dictionary *)type->tp_alloc(type, 0);
    if (!d)
        goto fail;
    d->root = calloc(ROOT_DIRECT, sizeof(int32_t));
    d->emit = malloc(sizeof(double[4]) * HMM_N);
    if (!d->root || !d->emit) {
        PyErr_NoMemory();
        goto fail;
    }
    if (set_slots(d, 20) < 0 || grow_nodes(d) < 0)
        goto fail;
    d->n_nodes = 1; /* the root */
    d->flags[0] = 0;
    d->col[0] = -1;
    d->freq[0] = 0;
    d->log_freq[0] = 0.0;
    if (load_dict(d, text.buf, text.len) < 0 || add_extra_words(d, words) < 0 ||
        add_vocabulary(d, vocab) < 0 || read_doubles(start, d->start, 4, "hmm_start") < 0 ||
        read_doubles(trans, &d->trans[0][0], 16, "hmm_trans") < 0 ||
        read_doubles(emit, &d->emit[0][0], 4 * HMM_N, "hmm_emit") < 0)
        goto fail;
    d->log_total = log((double)d->total);
    PyBuffer_Release(&text);
    return (PyObject *)d;
fail:
    PyBuffer_Release(&text);
    Py_XDECREF(d);
    return NULL;
}

/* --- segmentation ------------------------------------------------------------------------------------------ */

/* Scratch space for one text of up to `cap` characters (work_init). */
typedef struct {
    double *prob;       /* route: best log probability from each character to the end of its block */
    int32_t *end;       /* route: where the best first word from each character ends */
    int32_t *node;      /* route: that word's trie node (0 when the character alone is not in the trie) */
    double (*v)[4];     /* Viterbi */
    int8_t (*prev)[4];
    int8_t *path;
    int32_t *starts, *ends, *nodes; /* the tokens */
    Py_ssize_t n_tokens;
} Work;

static void
work_free(Work *w)
{
    free(w->prob);
    free(w->end);
    free(w->node);
    free(w->v);
    free(w->prev);
    free(w->path);
    free(w->starts);
    free(w->ends);
    free(w->nodes);
    memset(w, 0, sizeof(*w));
}

static int
work_init(Work *w, Py_ssize_t cap)
{
    memset(w, 0, sizeof(*w));
    size_t n = (size_t)cap + 1;
    w->prob = malloc(n * sizeof(double));
    w->end = malloc(n * sizeof(int32_t));
    w->node = malloc(n * sizeof(int32_t));
    w->v = malloc(n * sizeof(double[4]));
    w->prev = malloc(n * sizeof(int8_t[4]));
    w->path = malloc(n);
    w->starts = malloc(n * sizeof(int32_t));
    w->ends = malloc(n * sizeof(int32_t));
    w->nodes = malloc(n * sizeof(int32_t));
    if (!w->prob || !w->end || !w->node || !w->v || !w->prev || !w->path || !w->starts || !w->ends || !w->nodes) {
        work_free(w);
        return -1;
    }
    return 0;
}

#define LOOK_UP (-1) /* a token whose trie node is not known yet (node 0, the root, stands for "not in the trie") */

static inline void
token(Work *w, Py_ssize_t a, Py_ssize_t b, int32_t node)
{
    Py_ssize_t k = w->n_tokens++;
    w->starts[k] = (int32_t)a;
    w->ends[k] = (int32_t)b;
    w->nodes[k] = node;
}

static inline int
is_han_default(uint32_t c)
{
    if (c >= 0x4E00 && c <= 0x9FFF)
        return 1;
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' || c == '#' ||
               c == '&' || c == '.' || c == '_' || c == '%' || c == '-';
    return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0x2CEB0 && c <= 0x2EBEF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static inline int
is_hmm_han(uint32_t c)
{
    return c >= HMM_FIRST && c <= HMM_LAST;
}

static inline int
is_alnum(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The HMM's best path over cp[a, b) (at least two characters of the HMM's range), cut into words. */
static void
viterbi(const Dictionary *d, const uint32_t *cp, Py_ssize_t a, Py_ssize_t b, Work *w)
{
    static const int8_t allowed_prev[4][2] = {{E, S}, {B, M}, {M, B}, {S, E}};
    Py_ssize_t n = b - a;
    double (*v)[4] = w->v;
    const double *em = d->emit[cp[a] - HMM_FIRST];
    for (int y = 0; y < 4; y++) {
        v[0][y] = d->start[y] + em[y];
        w->prev[0][y] = -1;
    }
    for (Py_ssize_t t = 1; t < n; t++) {
        em = d->emit[cp[a + t] - HMM_FIRST];
        for (int y = 0; y < 4; y++) {
            int y0 = allowed_prev[y][0], y1 = allowed_prev[y][1];
            double p0 = v[t - 1][y0] + d->trans[y0][y] + em[y];
            double p1 = v[t - 1][y1] + d->trans[y1][y] + em[y];
            /* the larger (probability, state) pair, as Rust's tuple ordering has it */
            int take1 = p1 > p0 || (p1 == p0 && y1 > y0);
            v[t][y] = take1 ? p1 : p0;
            w->prev[t][y] = (int8_t)(take1 ? y1 : y0);
        }
    }
    int state = v[n - 1][S] >= v[n - 1][E] ? S : E;
    for (Py_ssize_t t = n - 1; t >= 0; t--) {
        w->path[t] = (int8_t)state;
        state = w->prev[t][state];
    }
    Py_ssize_t begin = 0, next = 0;
    for (Py_ssize_t t = 0; t < n; t++) {
        switch (w->path[t]) {
        case B:
            begin = t;
            break;
        case E:
            token(w, a + begin, a + t + 1, LOOK_UP);
            next = t + 1;
            break;
        case S:
            token(w, a + t, a + t + 1, LOOK_UP);
            next = t + 1;
            break;
        default:
            break;
        }
    }
    if (next < n)
        token(w, a + next, b, LOOK_UP);
}

/* Characters outside the HMM's range: ASCII alphanumeric runs (joined by . _ - and ending in an optional %) are
 * tokens, and so is each stretch between them. */
static void
skip_split(const uint32_t *cp, Py_ssize_t a, Py_ssize_t b, Work *w)
{
    Py_ssize_t pos = a;
    while (pos < b) {
        Py_ssize_t cursor = pos;
        while (cursor < b && !is_alnum(cp[cursor]))
            cursor++;
        if (cursor == b) {
            token(w, pos, b, LOOK_UP);
            return;
        }
        Py_ssize_t end = cursor;
        for (;;) {
            while (end < b && is_alnum(cp[end]))
                end++;
            if (end + 1 < b && (cp[end] == '.' || cp[end] == '_' || cp[end] == '-') && is_alnum(cp[end + 1]))
                end++;
            else
                break;
        }
        if (end < b && cp[end] == '%')
            end++;
        if (cursor > pos)
            token(w, pos, cursor, LOOK_UP);
        token(w, cursor, end, LOOK_UP);
        pos = end;
    }
}

static void
hmm_cut(const Dictionary *d, const uint32_t *cp, Py_ssize_t a, Py_ssize_t b, Work *w)
{
    Py_ssize_t i = a;
    while (i < b) {
        Py_ssize_t j = i;
        if (is_hmm_han(cp[i])) {
            while (j < b && is_hmm_han(cp[j]))
                j++;
            if (j - i == 1)
                token(w, i, j, LOOK_UP);
            else
                viterbi(d, cp, i, j, w);
        } else {
            while (j < b && !is_hmm_han(cp[j]))
                j++;
            skip_split(cp, i, j, w);
        }
        i = j;
    }
}

/* The run cp[a, b) of characters the route left single: one character, the dictionary's word, or the HMM's. */
static void
cut_run(const Dictionary *d, const uint32_t *cp, Py_ssize_t a, Py_ssize_t b, Work *w)
{
    if (b - a == 1) {
        token(w, a, b, w->node[a]);
        return;
    }
    int32_t node = find(d, cp + a, b - a);
    if (d->flags[node] & WORD) {
        for (Py_ssize_t k = a; k < b; k++)
            token(w, k, k + 1, w->node[k]);
    } else {
        hmm_cut(d, cp, a, b, w);
    }
}

/* A block of CJK and [A-Za-z0-9+#&._%-] characters: the best route through the dictionary's words. */
static void
cut_block(const Dictionary *d, const uint32_t *cp, Py_ssize_t a, Py_ssize_t b, Work *w)
{
    const double log_total = d->log_total, log1 = 0.0 - log_total;
    w->prob[b] = 0.0;
    for (Py_ssize_t i = b - 1; i >= a; i--) {
        double best = 0.0;
        Py_ssize_t best_end = -1;
        int32_t first = child(d, 0, cp[i]), best_node = first, node = first;
        for (Py_ssize_t j = i + 1; node; j++) { /* the words starting at i, shortest first */
            uint8_t flags = d->flags[node];
            if (flags & WORD) {
                double p = d->log_freq[node] - log_total + w->prob[j];
                if (best_end < 0 || p >= best) { /* a tie goes to the longer word */
                    best = p;
                    best_end = j;
                    best_node = node;
                }
            }
            if (!(flags & CHILDREN) || j == b)
                break;
            node = child(d, node, cp[j]);
        }
        if (best_end < 0) { /* no word starts here: the character alone, with frequency 1 */
            best = log1 + w->prob[i + 1];
            best_end = i + 1;
            best_node = first;
        }
        w->prob[i] = best;
        w->end[i] = (int32_t)best_end;
        w->node[i] = best_node;
    }
    Py_ssize_t x = a, left = -1;
    while (x < b) {
        Py_ssize_t y = w->end[x];
        if (y - x == 1) {
            if (left < 0)
                left = x;
        } else {
            if (left >= 0) {
                cut_run(d, cp, left, x, w);
                left = -1;
            }
            token(w, x, y, w->node[x]);
        }
        x = y;
    }
    if (left >= 0)
        cut_run(d, cp, left, b, w);
}

/* Segment cp[0, n) into w's tokens (white space left out). */
static void
segment(const Dictionary *d, const uint32_t *cp, Py_ssize_t n, Work *w)
{
    w->n_tokens = 0;
    Py_ssize_t i = 0;
    while (i < n) {
        if (is_han_default(cp[i])) {
            Py_ssize_t j = i + 1;
            while (j < n && is_han_default(cp[j]))
                j++;
            cut_block(d, cp, i, j, w);
            i = j;
        } else {
            if (!Py_UNICODE_ISSPACE(cp[i]))
                token(w, i, i + 1, LOOK_UP);
            i++;
        }
    }
}

/* The vocabulary column of token k of w, or -1. */
static inline int64_t
column(const Dictionary *d, const uint32_t *cp, const Work *w, Py_ssize_t k)
{
    int32_t node = w->nodes[k];
    if (node == LOOK_UP)
        node = find(d, cp + w->starts[k], w->ends[k] - w->starts[k]);
    return d->col[node];
}

static PyObject *
Dictionary_cut(Dictionary *d, PyObject *text)
{
    Py_ssize_t n;
    uint32_t *cp = code_points(text, &n);
    if (!cp)
        return NULL;
    Work w;
    if (work_init(&w, n) < 0) {
        free(cp);
        return PyErr_NoMemory();
    }
    segment(d, cp, n, &w);
    PyObject *out = PyList_New(w.n_tokens);
    for (Py_ssize_t k = 0; out && k < w.n_tokens; k++) {
        PyObject *s = PyUnicode_Substring(text, w.starts[k], w.ends[k]);
        if (!s)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, k, s);
    }
    work_free(&w);
    free(cp);
    return out;
}

PyDoc_STRVAR(ids_doc,
"ids(texts, head_chars, cols, counts, k) -> int\n\n"
"Segment each text and write the vocabulary column of every token (-1 when unknown) to cols, in order, the\n"
"number of tokens of each text to counts and how many of them start within its first head_chars characters of\n"
"tokens to k (all of them when head_chars is 0). cols needs room for the texts' total length. Returns the number\n"
"of tokens written.");

static PyObject *
Dictionary_ids(Dictionary *d, PyObject *args)
{
    PyObject *texts, *cols_obj, *counts_obj, *k_obj;
    Py_ssize_t head;
    if (!PyArg_ParseTuple(args, "O!nOOO:ids", &PyList_Type, &texts, &head, &cols_obj, &counts_obj, &k_obj))
        return NULL;
    Py_buffer views[3];
    int got = 0;
    PyObject *result = NULL;
    uint32_t *cp = NULL;
    Py_ssize_t *offsets = NULL;
    Work w = {0};
    const BufferSpec specs[3] = {
        {cols_obj, "cols", "lq", 1}, {counts_obj, "counts", "lq", 1}, {k_obj, "k", "lq", 1}};
    if (get_buffers(specs, 3, views, &got) < 0)
        goto done;
    Py_ssize_t n_texts = PyList_GET_SIZE(texts), total = 0, longest = 0;
    if (views[1].len / 8 < n_texts || views[2].len / 8 < n_texts) {
        PyErr_SetString(PyExc_ValueError, "counts and k need one entry per text");
        goto done;
    }
    offsets = malloc(((size_t)n_texts + 1) * sizeof(Py_ssize_t));
    if (!offsets) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t t = 0; t < n_texts; t++) {
        PyObject *s = PyList_GET_ITEM(texts, t);
        if (!PyUnicode_Check(s)) {
            PyErr_Format(PyExc_TypeError, "texts[%zd] is not a str", t);
            goto done;
        }
        offsets[t] = total;
        Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        total += len;
        if (len > longest)
            longest = len;
    }
    offsets[n_texts] = total;
    if (views[0].len / 8 < total) {
        PyErr_SetString(PyExc_ValueError, "cols needs room for the texts' total length");
        goto done;
    }
    cp = malloc(((size_t)total + 1) * 4);
    if (!cp || work_init(&w, longest) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t t = 0; t < n_texts; t++) {
        Py_ssize_t len = offsets[t + 1] - offsets[t];
        if (len && !PyUnicode_AsUCS4(PyList_GET_ITEM(texts, t), (Py_UCS4 *)(cp + offsets[t]), len, 0))
            goto done;
    }
    int64_t *cols = views[0].buf, *counts = views[1].buf, *k = views[2].buf;
    Py_ssize_t written = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < n_texts; t++) {
        const uint32_t *text = cp + offsets[t];
        segment(d, text, offsets[t + 1] - offsets[t], &w);
        Py_ssize_t seen = 0, in_head = 0;
        for (Py_ssize_t j = 0; j < w.n_tokens; j++) {
            cols[written + j] = column(d, text, &w, j);
            if (head <= 0 || seen < head)
                in_head++;
            seen += w.ends[j] - w.starts[j];
        }
        counts[t] = w.n_tokens;
        k[t] = in_head;
        written += w.n_tokens;
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(written);
done:
    work_free(&w);
    free(cp);
    free(offsets);
    release_buffers(views, got);
    return result;
}

static PyObject *
Dictionary_has_word(Dictionary *d, PyObject *word)
{
    Py_ssize_t n;
    uint32_t *key = code_points(word, &n);
    if (!key)
        return NULL;
    int32_t node = find(d, key, n);
    free(key);
    return PyBool_FromLong(d->flags[node] & WORD);
}

static PyObject *
Dictionary_get_total(Dictionary *d, void *closure)
{
    return PyLong_FromUnsignedLongLong(d->total);
}

static PyMethodDef Dictionary_methods[] = {
    {"ids", (PyCFunction)Dictionary_ids, METH_VARARGS, ids_doc},
    {"cut", (PyCFunction)Dictionary_cut, METH_O, "cut(text) -> list of the tokens of text, white space left out"},
    {"has_word", (PyCFunction)Dictionary_has_word, METH_O, "has_word(word) -> whether word is a dictionary word"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Dictionary_getset[] = {
    {"total", (getter)Dictionary_get_total, NULL, "the sum of the words' frequencies", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject DictionaryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "triage._segment.Dictionary",
    .tp_basicsize = sizeof(Dictionary),
    .tp_dealloc = (destructor)Dictionary_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Dictionary(dictionary, words, vocabulary, hmm_start, hmm_trans, hmm_emit)\n\n"
              "jieba's dictionary (bytes of its dict.txt), extra (word, frequency) pairs, the vocabulary (column i\n"
              "is vocabulary[i]) and jieba's HMM: start and transition log probabilities over the states B, E, M,\n"
              "S (4 and 4x4 float64) and the emission log probabilities of U+4E00..U+9FD5 (20950x4).",
    .tp_methods = Dictionary_methods,
    .tp_getset = Dictionary_getset,
    .tp_new = Dictionary_new,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_segment", "jieba-compatible segmentation straight to vocabulary ids.", -1, NULL,
};

PyMODINIT_FUNC
PyInit__segment(void)
{
    if (PyType_Ready(&DictionaryType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&DictionaryType);
    if (PyModule_AddObject(m, "Dictionary", (PyObject *)&DictionaryType) < 0 ||
        PyModule_AddIntConstant(m, "HMM_FIRST", HMM_FIRST) < 0 || PyModule_AddIntConstant(m, "HMM_LAST", HMM_LAST) < 0) {
        Py_DECREF(&DictionaryType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
