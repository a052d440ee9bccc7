/* Compiled inner loops of inference: TF-IDF rows, sparse-times-dense products, and the look-up of character
 * n-grams and word ids in open-addressing tables.
 *
 * triage.sparse and triage.features call these when the extension was built (triage.kernels) and fall back to
 * their NumPy code otherwise; both give the same arrays (tests/test_kernels.py holds them to it). Arguments are
 * buffers (NumPy arrays) whose dtype, layout and size are checked here, and every index read from them is
 * bounds-checked, so a broken model file raises ValueError instead of reading out of bounds. The loops over
 * arrays alone release the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_buffers.h"

/* Sort `n` non-negative int64 below 2**bits in place, ascending, with `tmp` (room for n) as scratch: insertion
 * sort for short runs, else a least-significant-digit radix sort on 8-bit digits (a row has a few hundred columns,
 * where this is several times faster than a comparison sort). */
static void
sort_columns(int64_t *a, int64_t *tmp, Py_ssize_t n, int bits)
{
    if (n <= 32) {
        for (Py_ssize_t i = 1; i < n; i++) {
            int64_t v = a[i];
            Py_ssize_t j = i;
            while (j > 0 && a[j - 1] > v) { a[j] = a[j - 1]; j--; }
            a[j] = v;
        }
        return;
    }
    int64_t *src = a, *dst = tmp;
    for (int shift = 0; shift < bits; shift += 8) {
        Py_ssize_t pos[257] = {0};
        for (Py_ssize_t i = 0; i < n; i++)
            pos[((src[i] >> shift) & 0xFF) + 1]++;
        for (int d = 0; d < 256; d++)
            pos[d + 1] += pos[d];
        for (Py_ssize_t i = 0; i < n; i++)
            dst[pos[(src[i] >> shift) & 0xFF]++] = src[i];
        int64_t *t = src; src = dst; dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(int64_t));
}

/* Bits needed for values below n. */
static int
bit_width(Py_ssize_t n)
{
    int bits = 0;
    while (bits < 63 && ((Py_ssize_t)1 << bits) < n)
        bits++;
    return bits;
}

/* log(tf) + 1 for the small counts most terms have, from the same log(): the table changes no bit. */
#define LOG_TABLE 256

PyDoc_STRVAR(tfidf_doc,
"tfidf(rows, cols, n_rows, n_cols, idf, sublinear, data, indices, indptr) -> nnz\n\n"
"L2-normalised TF-IDF rows from one (row, col) pair per occurrence, written into data/indices (room for\n"
"len(rows) entries) and indptr (n_rows + 1): columns sorted within each row, duplicates counted once.");

static PyObject *
tfidf(PyObject *self, PyObject *args)
{
    PyObject *o_rows, *o_cols, *o_idf, *o_data, *o_indices, *o_indptr;
    Py_ssize_t n_rows, n_cols;
    int sublinear;
    if (!PyArg_ParseTuple(args, "OOnnOpOOO", &o_rows, &o_cols, &n_rows, &n_cols, &o_idf, &sublinear, &o_data,
                          &o_indices, &o_indptr))
        return NULL;
    Py_buffer b[6];
    int got = 0;
    PyObject *result = NULL;
    const BufferSpec specs[] = {{o_rows, "rows", "lq", 0}, {o_cols, "cols", "lq", 0}, {o_idf, "idf", "d", 0},
                                {o_data, "data", "d", 1}, {o_indices, "indices", "lq", 1}, {o_indptr, "indptr", "lq", 1}};
    if (get_buffers(specs, 6, b, &got) < 0) goto done;

    Py_ssize_t nnz = b[0].len / 8;
    if (n_rows < 0 || n_cols < 0 || b[1].len / 8 != nnz || b[2].len / 8 != n_cols || b[3].len / 8 < nnz
        || b[4].len / 8 < nnz || b[5].len / 8 != n_rows + 1) {
        PyErr_SetString(PyExc_ValueError, "tfidf: array sizes do not match");
        goto done;
    }
    const int64_t *rows = b[0].buf, *cols = b[1].buf;
    const double *idf = b[2].buf;
    double *data = b[3].buf;
    int64_t *indices = b[4].buf, *indptr = b[5].buf;

    int bad = 0;
    Py_ssize_t out = 0;
    int64_t *grouped = malloc(2 * (nnz ? nnz : 1) * sizeof(int64_t)), *scratch = grouped + (nnz ? nnz : 1);
    int64_t *start = calloc(n_rows + 1, sizeof(int64_t));
    int32_t *count = calloc(n_cols ? n_cols : 1, sizeof(int32_t));
    if (!grouped || !start || !count) {
        free(grouped); free(start); free(count);
        PyErr_NoMemory();
        goto done;
    }
    int bits = bit_width(n_cols);
    double sublinear_tf[LOG_TABLE];
    for (int tf = 1; tf < LOG_TABLE; tf++)
        sublinear_tf[tf] = log((double)tf) + 1.0;
    Py_BEGIN_ALLOW_THREADS
    /* group the columns by row, keeping their order (a counting sort on the row; nothing to move when the rows
     * already come in order, as the feature extractors give them) */
    int in_order = 1;
    for (Py_ssize_t p = 0; p < nnz; p++) {
        if (rows[p] < 0 || rows[p] >= n_rows || cols[p] < 0 || cols[p] >= n_cols) { bad = 1; break; }
        start[rows[p] + 1]++;
        if (p && rows[p] < rows[p - 1])
            in_order = 0;
    }
    const int64_t *by_row = in_order ? cols : grouped;
    if (!bad) {
        for (Py_ssize_t r = 0; r < n_rows; r++)
            start[r + 1] += start[r];
        if (!in_order) {
            /* indptr serves as each row's fill cursor here, and is rewritten below with the output's row starts */
            for (Py_ssize_t r = 0; r <= n_rows; r++)
                indptr[r] = start[r];
            for (Py_ssize_t p = 0; p < nnz; p++)
                grouped[indptr[rows[p]]++] = cols[p];
        }
        indptr[0] = 0;
        for (Py_ssize_t r = 0; r < n_rows; r++) {
            int64_t *row_start = indices + out;
            Py_ssize_t unique = 0;
            for (int64_t p = start[r]; p < start[r + 1]; p++) {
                int64_t c = by_row[p];
                if (count[c]++ == 0)
                    row_start[unique++] = c;
            }
            sort_columns(row_start, scratch, unique, bits);
            double sumsq = 0.0;
            for (Py_ssize_t q = 0; q < unique; q++) {
                int64_t c = row_start[q];
                int32_t tf = count[c];
                count[c] = 0;
                double v = (sublinear ? (tf < LOG_TABLE ? sublinear_tf[tf] : log((double)tf) + 1.0) : (double)tf) * idf[c];
                data[out + q] = v;
                sumsq += v * v;
            }
            double norm = sqrt(sumsq);
            if (norm == 0.0)
                norm = 1.0;
            for (Py_ssize_t q = 0; q < unique; q++)
                data[out + q] /= norm;
            out += unique;
            indptr[r + 1] = out;
        }
    }
    Py_END_ALLOW_THREADS
    free(grouped); free(start); free(count);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "tfidf: a row or column index is out of range");
        goto done;
    }
    result = PyLong_FromSsize_t(out);
done:
    release_buffers(b, got);
    return result;
}

PyDoc_STRVAR(csr_dot_doc,
"csr_dot(data, indices, indptr, weights, k, out)\n\n"
"Add the sparse rows (data, indices, indptr) times the dense (n_cols, k) weights to out, (n_rows, k).");

static PyObject *
csr_dot(PyObject *self, PyObject *args)
{
    PyObject *o_data, *o_indices, *o_indptr, *o_weights, *o_out;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "OOOOnO", &o_data, &o_indices, &o_indptr, &o_weights, &k, &o_out))
        return NULL;
    Py_buffer b[5];
    int got = 0;
    PyObject *result = NULL;
    const BufferSpec specs[] = {{o_data, "data", "d", 0}, {o_indices, "indices", "lq", 0}, {o_indptr, "indptr", "lq", 0},
                                {o_weights, "weights", "d", 0}, {o_out, "out", "d", 1}};
    if (get_buffers(specs, 5, b, &got) < 0) goto done;

    Py_ssize_t nnz = b[0].len / 8, n_rows = b[2].len / 8 - 1;
    if (k <= 0 || n_rows < 0 || b[1].len / 8 != nnz || b[3].len / 8 % k || b[4].len / 8 != n_rows * k) {
        PyErr_SetString(PyExc_ValueError, "csr_dot: array sizes do not match");
        goto done;
    }
    Py_ssize_t n_cols = b[3].len / 8 / k;
    const double *data = b[0].buf, *weights = b[3].buf;
    const int64_t *indices = b[1].buf, *indptr = b[2].buf;
    double *out = b[4].buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n_rows && !bad; r++) {
        int64_t s = indptr[r], e = indptr[r + 1];
        if (s < 0 || e < s || e > nnz) { bad = 1; break; }
        double *o = out + r * k;
        for (int64_t p = s; p < e; p++) {
            int64_t c = indices[p];
            if (c < 0 || c >= n_cols) { bad = 1; break; }
            if (p + 8 < nnz) {  /* the weight rows are scattered over a large array: ask for them early */
                int64_t ahead = indices[p + 8];
                if (ahead >= 0 && ahead < n_cols)
                    for (Py_ssize_t j = 0; j < k; j += 8)
                        __builtin_prefetch(weights + ahead * k + j);
            }
            const double *w = weights + c * k;
            double v = data[p];
            for (Py_ssize_t j = 0; j < k; j++)
                o[j] += v * w[j];
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "csr_dot: a row pointer or column index is out of range");
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    release_buffers(b, got);
    return result;
}

/* --- n-gram look-up ------------------------------------------------------------------------------------- */
#define GRAM_BITS 21   /* every code point fits in 21 bits: up to 3 characters pack into one int64 */
#define HASH_MULT 0x9E3779B97F4A7C15ULL

/* An open-addressing table of packed keys (triage.features.VocabIndex.hash_table): key slots (-1: empty), the
 * column of each, and log2 of its size. */
typedef struct {
    Py_buffer keys, values;
    int bits;
} Table;

static int
get_table(PyObject *spec, Table *t, int *held)
{
    PyObject *o_keys, *o_values;
    *held = 0;
    if (!PyArg_ParseTuple(spec, "OOi", &o_keys, &o_values, &t->bits))
        return -1;
    if (get_buffer(o_keys, &t->keys, "table keys", "lq", 0) < 0)
        return -1;
    *held = 1;
    if (PyObject_GetBuffer(o_values, &t->values, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    *held = 2;
    if (t->values.itemsize != 4 || t->values.len != t->keys.len / 2 || t->bits < 1 || t->bits > 40
        || (Py_ssize_t)1 << t->bits != t->keys.len / 8) {
        PyErr_SetString(PyExc_ValueError, "a look-up table's keys, values (int32) and size do not match");
        return -1;
    }
    return 0;
}

static void
release_table(Table *t, int held)
{
    if (held >= 1) PyBuffer_Release(&t->keys);
    if (held >= 2) PyBuffer_Release(&t->values);
}

/* The column of a packed key, or -1. */
static inline int64_t
lookup(const Table *t, int64_t key)
{
    const int64_t *keys = t->keys.buf;
    const int32_t *values = t->values.buf;
    uint64_t mask = ((uint64_t)1 << t->bits) - 1;
    uint64_t slot = ((uint64_t)key * HASH_MULT) >> (64 - t->bits);
    for (;;) {
        int64_t k = keys[slot];
        if (k == key)
            return values[slot];
        if (k == -1)
            return -1;
        slot = (slot + 1) & mask;
    }
}

PyDoc_STRVAR(fill_table_doc,
"fill_table(vocab, keys, values, bits)\n\n"
"Insert the distinct non-negative int64 keys of vocab into the empty open-addressing table (keys all -1, values\n"
"int32, 2**bits slots, fewer keys than slots): each key's position in vocab becomes its value.");

static PyObject *
fill_table(PyObject *self, PyObject *args)
{
    PyObject *o_vocab, *o_keys, *o_values;
    int bits;
    if (!PyArg_ParseTuple(args, "OOOi", &o_vocab, &o_keys, &o_values, &bits))
        return NULL;
    Py_buffer vocab;
    if (get_buffer(o_vocab, &vocab, "vocab", "lq", 0) < 0)
        return NULL;
    Table t = {.bits = bits};
    int held = 0;
    PyObject *result = NULL;
    if (get_buffer(o_keys, &t.keys, "keys", "lq", 1) < 0) goto done;
    held = 1;
    if (PyObject_GetBuffer(o_values, &t.values, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) goto done;
    held = 2;
    Py_ssize_t n = vocab.len / 8;
    if (t.values.itemsize != 4 || t.values.len != t.keys.len / 2 || bits < 1 || bits > 40
        || (Py_ssize_t)1 << bits != t.keys.len / 8 || n >= t.keys.len / 8) {
        PyErr_SetString(PyExc_ValueError, "fill_table: the table's keys, values (int32) and size do not match");
        goto done;
    }
    const int64_t *v = vocab.buf;
    int64_t *keys = t.keys.buf;
    int32_t *values = t.values.buf;
    uint64_t mask = ((uint64_t)1 << bits) - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (v[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "fill_table: keys must be non-negative");
            goto done;
        }
        uint64_t slot = ((uint64_t)v[i] * HASH_MULT) >> (64 - bits);
        while (keys[slot] != -1 && keys[slot] != v[i])
            slot = (slot + 1) & mask;
        keys[slot] = v[i];
        values[slot] = (int32_t)i;
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&vocab);
    release_table(&t, held);
    return result;
}

PyDoc_STRVAR(token_ids_doc,
"token_ids(docs, vocabulary, table, head_chars, cols, counts, head_counts)\n\n"
"For texts given as lists of tokens: each token's column (-1 when absent) into cols, the tokens per text into\n"
"counts, and into head_counts how many leading tokens reach head_chars characters (all, if none). A token of\n"
"1 to 3 characters, the first not NUL, is looked up packed in table (keys, values, bits), any other in the\n"
"vocabulary dict; table must hold exactly the vocabulary's words of that kind.");

static PyObject *
token_ids(PyObject *self, PyObject *args)
{
    PyObject *docs, *vocab, *table, *o_cols, *o_counts, *o_head;
    Py_ssize_t head_chars;
    if (!PyArg_ParseTuple(args, "O!O!O!nOOO", &PyList_Type, &docs, &PyDict_Type, &vocab, &PyTuple_Type, &table,
                          &head_chars, &o_cols, &o_counts, &o_head))
        return NULL;
    Py_buffer b[3];
    int got = 0, held = 0;
    PyObject *result = NULL;
    Table t;
    if (get_table(table, &t, &held) < 0) goto done;
    const BufferSpec specs[] = {{o_cols, "cols", "lq", 1}, {o_counts, "counts", "lq", 1},
                                {o_head, "head_counts", "lq", 1}};
    if (get_buffers(specs, 3, b, &got) < 0) goto done;
    Py_ssize_t n_docs = PyList_GET_SIZE(docs), room = b[0].len / 8;
    if (b[1].len / 8 != n_docs || b[2].len / 8 != n_docs) {
        PyErr_SetString(PyExc_ValueError, "token_ids: counts and head_counts need one entry per text");
        goto done;
    }
    int64_t *cols = b[0].buf, *counts = b[1].buf, *head = b[2].buf;
    Py_ssize_t at = 0;
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        PyObject *tokens = PyList_GET_ITEM(docs, d);
        if (!PyList_Check(tokens)) {
            PyErr_SetString(PyExc_TypeError, "token_ids: each text must be a list of tokens");
            goto done;
        }
        Py_ssize_t n = PyList_GET_SIZE(tokens), chars = 0;
        if (at + n > room) {
            PyErr_SetString(PyExc_ValueError, "token_ids: cols has no room for every token");
            goto done;
        }
        counts[d] = n;
        head[d] = n;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *token = PyList_GET_ITEM(tokens, i);
            if (!PyUnicode_Check(token)) {
                PyErr_SetString(PyExc_TypeError, "token_ids: tokens must be str");
                goto done;
            }
            Py_ssize_t len = PyUnicode_GET_LENGTH(token);
            if (len >= 1 && len <= 3) {
                int kind = PyUnicode_KIND(token);
                const void *data = PyUnicode_DATA(token);
                int64_t key = 0;
                for (Py_ssize_t j = 0; j < len; j++)
                    key = (key << GRAM_BITS) | (int64_t)PyUnicode_READ(kind, data, j);
                if (PyUnicode_READ(kind, data, 0) != 0) {
                    cols[at + i] = lookup(&t, key);
                    goto counted;
                }
            }
            PyObject *col = PyDict_GetItemWithError(vocab, token);  /* borrowed */
            if (col == NULL) {
                if (PyErr_Occurred())
                    goto done;
                cols[at + i] = -1;
            } else {
                long long c = PyLong_AsLongLong(col);
                if (c == -1 && PyErr_Occurred())
                    goto done;
                cols[at + i] = c;
            }
        counted:
            if (head[d] == n && head_chars > 0) {
                chars += len;
                if (chars >= head_chars)
                    head[d] = i + 1;
            }
        }
        at += n;
    }
    result = PyLong_FromSsize_t(at);
done:
    release_buffers(b, got);
    release_table(&t, held);
    return result;
}

PyDoc_STRVAR(char_grams_doc,
"char_grams(texts, n_lo, tables, rows, cols) -> count\n\n"
"The known character n-grams of each text, n = n_lo, n_lo + 1, ... (one look-up table (keys, values, bits) per\n"
"n, with the column offset of its block): one (row, col) pair per occurrence, written into rows and cols.");

static PyObject *
char_grams(PyObject *self, PyObject *args)
{
    PyObject *texts, *tables, *o_rows, *o_cols;
    int n_lo;
    if (!PyArg_ParseTuple(args, "O!iO!OO", &PyList_Type, &texts, &n_lo, &PyTuple_Type, &tables, &o_rows, &o_cols))
        return NULL;
    Py_ssize_t n_tables = PyTuple_GET_SIZE(tables);
    if (n_lo < 1 || n_lo + n_tables - 1 > 3) {
        PyErr_SetString(PyExc_ValueError, "char_grams: n-grams of 1 to 3 characters only");
        return NULL;
    }
    Table t[3];
    int64_t offsets[3];
    int held[3] = {0, 0, 0};
    Py_buffer b[2];
    int got = 0;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n_tables; i++) {
        PyObject *spec = PyTuple_GET_ITEM(tables, i);
        if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 4) {
            PyErr_SetString(PyExc_TypeError, "char_grams: each table is (keys, values, bits, offset)");
            goto done;
        }
        PyObject *first3 = PyTuple_GetSlice(spec, 0, 3);
        if (!first3) goto done;
        int ok = get_table(first3, &t[i], &held[i]);
        Py_DECREF(first3);
        if (ok < 0) goto done;
        offsets[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(spec, 3));
        if (offsets[i] == -1 && PyErr_Occurred()) goto done;
    }
    const BufferSpec specs[] = {{o_rows, "rows", "lq", 1}, {o_cols, "cols", "lq", 1}};
    if (get_buffers(specs, 2, b, &got) < 0) goto done;
    int64_t *rows = b[0].buf, *cols = b[1].buf;
    Py_ssize_t room = b[0].len / 8 < b[1].len / 8 ? b[0].len / 8 : b[1].len / 8, at = 0;
    for (Py_ssize_t d = 0; d < PyList_GET_SIZE(texts); d++) {
        PyObject *text = PyList_GET_ITEM(texts, d);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "char_grams: texts must be str");
            goto done;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(text);
        int kind = PyUnicode_KIND(text);
        const void *data = PyUnicode_DATA(text);
        for (Py_ssize_t i = 0; i < n_tables; i++) {
            int n = n_lo + (int)i;
            if (len < n) continue;
            if (at + len - n + 1 > room) {
                PyErr_SetString(PyExc_ValueError, "char_grams: rows and cols have no room for every n-gram");
                goto done;
            }
            int64_t key = 0, keep = n == 3 ? ((int64_t)1 << (2 * GRAM_BITS)) - 1 : ((int64_t)1 << GRAM_BITS) - 1;
            for (Py_ssize_t j = 0; j < n - 1; j++)
                key = (key << GRAM_BITS) | (int64_t)PyUnicode_READ(kind, data, j);
            for (Py_ssize_t j = n - 1; j < len; j++) {
                key = ((n > 1 ? (key & keep) : 0) << GRAM_BITS) | (int64_t)PyUnicode_READ(kind, data, j);
                int64_t col = lookup(&t[i], key);
                if (col >= 0) {
                    rows[at] = d;
                    cols[at++] = col + offsets[i];
                }
            }
        }
    }
    result = PyLong_FromSsize_t(at);
done:
    release_buffers(b, got);
    for (Py_ssize_t i = 0; i < n_tables; i++)
        release_table(&t[i], held[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"char_grams", char_grams, METH_VARARGS, char_grams_doc},
    {"token_ids", token_ids, METH_VARARGS, token_ids_doc},
    {"fill_table", fill_table, METH_VARARGS, fill_table_doc},
    {"tfidf", tfidf, METH_VARARGS, tfidf_doc},
    {"csr_dot", csr_dot, METH_VARARGS, csr_dot_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "triage._kernels",
    "Compiled inner loops of inference (see triage.sparse, which falls back to NumPy without them).", -1, methods,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
