/* The near-copy sketch of an article in C: word shingles, MinHash signature, LSH band keys.
 *
 * Why: issue 5 asks for 1,500 articles/s/core for signature + query + insert with
 * 100,000 articles indexed. In numpy the per-article arithmetic (hash every word,
 * mix three word hashes per shingle, sort, 192 permutations x n shingles, band
 * keys) costs ~0.23 ms, most of it numpy's per-call overhead on arrays of a few
 * hundred values and a 192 x n temporary matrix. Here it is one pass over the
 * words and one over the shingles, with no temporary but the shingle array.
 *
 * The values must stay bit-identical to the numpy functions they replace
 * (stored shingles and band keys keep matching new articles):
 *
 * - a word's hash is sum_i (c_i + 1) * B^min(i, 1023) modulo 2^64 over its code
 *   points, B = 0x100000001B3, xor its length, murmur3's fmix64, low 32 bits
 *   (service.stories.shingles.word_hashes);
 * - a shingle of up to three words: m = 0; m = (m * MIX[k]) mod 2^32 ^ word hash,
 *   then fmix32; the shingles sorted and unique (shingles_of);
 * - the signature: datasketch's affine32 MinHash, min over shingles of
 *   a_k * fmix32(s) + b_k modulo 2^32 for each permutation k (signature.hashvalues);
 * - band j of ROWS rows: m = fmix64((j + 1) * 0x9E3779B97F4A7C15); m = fmix64(m ^ row)
 *   per row; the key is m as a signed 64-bit integer (signature.band_keys).
 *
 * tests/reference_sketch.py keeps the numpy functions; tests/test_sketch_reference.py
 * holds this module to them (hypothesis and the corpora).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SHINGLE_WORDS 3
#define MAX_POSITION 1024 /* characters past it share one power */
#define WORD_BASE UINT64_C(0x100000001B3)
#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)

static const uint32_t MIX[SHINGLE_WORDS] = {0x9E3779B1u, 0x85EBCA77u, 0xC2B2AE3Du};

static inline uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= UINT64_C(0xFF51AFD7ED558CCD);
    h ^= h >> 33;
    h *= UINT64_C(0xC4CEB9FE1A85EC53);
    return h ^ (h >> 33);
}

static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
}

/* ------------------------------------------------------------------ shingles */

static int word_hash(PyObject *word, Py_ssize_t number, uint32_t *out) {
    if (!PyUnicode_Check(word)) {
        PyErr_Format(PyExc_TypeError, "shingles: word %zd is a %.100s, not a str", number,
                     Py_TYPE(word)->tp_name);
        return -1;
    }
    if (PyUnicode_READY(word) < 0) {
        return -1;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(word);
    if (length == 0) {
        /* the numpy reference has no defined value for an empty word; words never are */
        PyErr_Format(PyExc_ValueError, "shingles: word %zd is empty", number);
        return -1;
    }
    int kind = PyUnicode_KIND(word);
    const void *data = PyUnicode_DATA(word);
    uint64_t sum = 0, power = 1;
    for (Py_ssize_t i = 0; i < length; i++) {
        sum += ((uint64_t)PyUnicode_READ(kind, data, i) + 1) * power;
        if (i < MAX_POSITION - 1) {
            power *= WORD_BASE;
        }
    }
    *out = (uint32_t)fmix64(sum ^ (uint64_t)length);
    return 0;
}

/* Sorts ``values`` (LSD radix sort, a byte a pass, ``scratch`` as large) and drops
 * repeats; returns how many are kept. A few hundred shingles an article: four
 * counting passes cost a fraction of qsort's comparisons through a pointer. */
static Py_ssize_t sort_unique(uint32_t *values, uint32_t *scratch, Py_ssize_t count) {
    uint32_t *from = values, *to = scratch;
    for (int shift = 0; shift < 32; shift += 8) {
        Py_ssize_t starts[256] = {0};
        for (Py_ssize_t i = 0; i < count; i++) {
            starts[(from[i] >> shift) & 0xFF]++;
        }
        Py_ssize_t total = 0;
        for (int digit = 0; digit < 256; digit++) {
            Py_ssize_t here = starts[digit];
            starts[digit] = total;
            total += here;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            to[starts[(from[i] >> shift) & 0xFF]++] = from[i];
        }
        uint32_t *swap = from;
        from = to;
        to = swap;
    }
    /* four passes: the sorted values are back in ``values`` */
    Py_ssize_t kept = count > 0;
    for (Py_ssize_t i = 1; i < count; i++) {
        if (values[i] != values[kept - 1]) {
            values[kept++] = values[i];
        }
    }
    return kept;
}

PyDoc_STRVAR(shingles_doc,
             "shingles(words, /)\n--\n\n"
             "The hashed three-word shingles of a sequence of non-empty words (one shingle\n"
             "if shorter), sorted and unique, as native uint32 bytes.");

static PyObject *shingles(PyObject *module, PyObject *words) {
    PyObject *fast = PySequence_Fast(words, "shingles: words must be a sequence of str");
    if (fast == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    if (count == 0) {
        Py_DECREF(fast);
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    Py_ssize_t width = count < SHINGLE_WORDS ? count : SHINGLE_WORDS;
    Py_ssize_t total = count - width + 1;
    /* the word hashes, the shingles, room to sort them */
    uint32_t *hashes = PyMem_Malloc((size_t)(count + 2 * total) * sizeof(uint32_t));
    if (hashes == NULL) {
        Py_DECREF(fast);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (word_hash(items[i], i, &hashes[i]) < 0) {
            PyMem_Free(hashes);
            Py_DECREF(fast);
            return NULL;
        }
    }
    Py_DECREF(fast);
    uint32_t *mixed = hashes + count;
    for (Py_ssize_t j = 0; j < total; j++) {
        uint32_t m = 0;
        for (Py_ssize_t k = 0; k < width; k++) {
            m = (m * MIX[k]) ^ hashes[j + k];
        }
        mixed[j] = fmix32(m);
    }
    Py_ssize_t kept = sort_unique(mixed, mixed + total, total);
    PyObject *result = PyBytes_FromStringAndSize((const char *)mixed,
                                                 kept * (Py_ssize_t)sizeof(uint32_t));
    PyMem_Free(hashes);
    return result;
}

/* ------------------------------------------------------------------ signature */

/* A C-contiguous buffer of uint32 (a numpy uint32 array, or bytes this module made),
 * or an error naming it. */
static int uint32_view(PyObject *object, Py_buffer *view, const char *function,
                       const char *name) {
    if (PyBytes_Check(object)) {
        if (PyBytes_GET_SIZE(object) % 4 != 0) {
            PyErr_Format(PyExc_ValueError, "%s: %s holds %zd bytes, not whole uint32 values",
                         function, name, PyBytes_GET_SIZE(object));
            return -1;
        }
        return PyObject_GetBuffer(object, view, PyBUF_SIMPLE);
    }
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        return -1;
    }
    const char *format = view->format == NULL ? "B" : view->format;
    if (view->itemsize != 4 || (strcmp(format, "I") != 0 && strcmp(format, "=I") != 0)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must hold uint32 values, not format '%s'",
                     function, name, format);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(signature_doc,
             "signature(shingles, a, b, /)\n--\n\n"
             "datasketch's affine32 MinHash of already hashed shingles (uint32 arrays): for\n"
             "each permutation k, min over s of a[k] * fmix32(s) + b[k] modulo 2^32, as native\n"
             "uint32 bytes. The shingles must not be empty.");

static PyObject *signature(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "signature: takes 3 arguments, %zd given", nargs);
        return NULL;
    }
    Py_buffer shingle_view, a_view, b_view;
    if (uint32_view(args[0], &shingle_view, "signature", "shingles") < 0) {
        return NULL;
    }
    if (uint32_view(args[1], &a_view, "signature", "a") < 0) {
        PyBuffer_Release(&shingle_view);
        return NULL;
    }
    if (uint32_view(args[2], &b_view, "signature", "b") < 0) {
        PyBuffer_Release(&shingle_view);
        PyBuffer_Release(&a_view);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t count = shingle_view.len / 4, permutations = a_view.len / 4;
    if (count == 0) {
        PyErr_SetString(PyExc_ValueError, "signature: no shingles");
    } else if (b_view.len != a_view.len) {
        PyErr_Format(PyExc_ValueError, "signature: %zd values in a, %zd in b", permutations,
                     b_view.len / 4);
    } else {
        result = PyBytes_FromStringAndSize(NULL, a_view.len);
    }
    if (result != NULL) {
        const uint32_t *values = shingle_view.buf, *a = a_view.buf, *b = b_view.buf;
        uint32_t *out = (uint32_t *)PyBytes_AS_STRING(result);
        for (Py_ssize_t k = 0; k < permutations; k++) {
            out[k] = UINT32_MAX;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            uint32_t mixed = fmix32(values[i]);
            for (Py_ssize_t k = 0; k < permutations; k++) {
                uint32_t permuted = a[k] * mixed + b[k];
                out[k] = permuted < out[k] ? permuted : out[k];
            }
        }
    }
    PyBuffer_Release(&shingle_view);
    PyBuffer_Release(&a_view);
    PyBuffer_Release(&b_view);
    return result;
}

/* ------------------------------------------------------------------ band keys */

PyDoc_STRVAR(band_keys_doc,
             "band_keys(signature, bands, rows, /)\n--\n\n"
             "One signed 64-bit key per band of ``rows`` signature values (uint32 array):\n"
             "the band's number and its rows mixed by fmix64.");

static PyObject *band_keys(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "band_keys: takes 3 arguments, %zd given", nargs);
        return NULL;
    }
    Py_ssize_t bands = PyLong_AsSsize_t(args[1]), rows = PyLong_AsSsize_t(args[2]);
    if ((bands == -1 || rows == -1) && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer view;
    if (uint32_view(args[0], &view, "band_keys", "signature") < 0) {
        return NULL;
    }
    const uint32_t *values = view.buf;
    PyObject *result = NULL;
    if (bands < 0 || rows < 0 || (rows > 0 && bands > view.len / 4 / rows)) {
        PyErr_Format(PyExc_ValueError, "band_keys: %zd bands of %zd rows need more than %zd values",
                     bands, rows, view.len / 4);
    } else {
        result = PyTuple_New(bands);
    }
    for (Py_ssize_t j = 0; result != NULL && j < bands; j++) {
        uint64_t mixed = fmix64((uint64_t)(j + 1) * GOLDEN);
        for (Py_ssize_t r = 0; r < rows; r++) {
            mixed = fmix64(mixed ^ values[j * rows + r]);
        }
        PyObject *key = PyLong_FromLongLong((long long)(int64_t)mixed);
        if (key == NULL) {
            Py_CLEAR(result);
        } else {
            PyTuple_SET_ITEM(result, j, key);
        }
    }
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"shingles", (PyCFunction)shingles, METH_O, shingles_doc},
    {"signature", (PyCFunction)(void (*)(void))signature, METH_FASTCALL, signature_doc},
    {"band_keys", (PyCFunction)(void (*)(void))band_keys, METH_FASTCALL, band_keys_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "service.stories._sketch",
    .m_doc = "Word shingles, MinHash signature and LSH band keys of an article (see _sketch.c).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__sketch(void) { return PyModuleDef_Init(&module); }
