/* An article's segments in C: its sentences and lines, their words and fingerprints.
 *
 * Why: issue 5 asks for 1,500 articles/s/core for the near-copy path, and cutting a
 * 2 KB text into segments with regular expressions (mark the segment ends, find
 * the words, join, split, split each piece, fold digits, hash) cost ~0.4 ms, more
 * than the MinHash. Here it is one pass over the normalised text.
 *
 * The result must stay identical to service.stories.boilerplate's regular
 * expressions (stored fingerprints keep matching new articles), so the rules are
 * theirs, character for character, on the text ``normalise(mask_urls(text))``:
 *
 * - a word is one character of an unspaced script (the ranges of
 *   shingles._UNSPACED), or a run of other characters that are alphanumeric
 *   (str.isalnum, as \w in re, minus "_");
 * - between two words a segment ends where ``_SEGMENT_END`` would match: a
 *   line feed, or a sentence end (. ! ? … 。！？) followed by closing quotes or
 *   brackets ("'»”’)]) and whitespace (str.isspace, as \s in re); a NUL
 *   character also ends one (the regular expressions use it as the mark);
 * - a segment's fingerprint is the hash of its words joined by single spaces,
 *   every run of ASCII digits folded to "0", UTF-8 encoded, less 2^63 (a signed
 *   64-bit integer); the hash (xxhash's xxh3_64_intdigest) is passed in.
 *
 * tests/reference_sketch.py keeps the regular-expression path;
 * tests/test_sketch_reference.py holds this module to it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int unspaced(Py_UCS4 ch) {
    return (ch >= 0x0E00 && ch <= 0x0E7F) || (ch >= 0x3040 && ch <= 0x30FF) ||
           (ch >= 0x3400 && ch <= 0x4DBF) || (ch >= 0x4E00 && ch <= 0x9FFF) ||
           (ch >= 0xAC00 && ch <= 0xD7AF);
}

static int word_character(Py_UCS4 ch) {
    if (ch < 0x80) { /* most characters: no call into the Unicode database */
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z');
    }
    return Py_UNICODE_ISALNUM(ch);
}

static int sentence_end(Py_UCS4 ch) {
    return ch == '.' || ch == '!' || ch == '?' || ch == 0x2026 || ch == 0x3002 ||
           ch == 0xFF01 || ch == 0xFF1F;
}

static int closing(Py_UCS4 ch) {
    return ch == '"' || ch == '\'' || ch == 0xBB || ch == 0x201D || ch == 0x2019 ||
           ch == ')' || ch == ']';
}

/* ------------------------------------------------------------------ one segment */

typedef struct {
    Py_ssize_t start, end; /* a word: normal[start:end] */
} Span;

typedef struct {
    PyObject *normal;
    int kind;
    const void *data;
    PyTypeObject *segment; /* a tuple subclass with two fields: (words, fingerprint) */
    PyObject *hash;        /* bytes -> int in [0, 2^64) */
    char *utf8;            /* the folded, joined words of the current segment */
} Splitter;

/* Appends ch as UTF-8 (no surrogates: they are not alphanumeric). */
static Py_ssize_t put_utf8(char *out, Py_ssize_t at, Py_UCS4 ch) {
    if (ch < 0x80) {
        out[at++] = (char)ch;
    } else if (ch < 0x800) {
        out[at++] = (char)(0xC0 | (ch >> 6));
        out[at++] = (char)(0x80 | (ch & 0x3F));
    } else if (ch < 0x10000) {
        out[at++] = (char)(0xE0 | (ch >> 12));
        out[at++] = (char)(0x80 | ((ch >> 6) & 0x3F));
        out[at++] = (char)(0x80 | (ch & 0x3F));
    } else {
        out[at++] = (char)(0xF0 | (ch >> 18));
        out[at++] = (char)(0x80 | ((ch >> 12) & 0x3F));
        out[at++] = (char)(0x80 | ((ch >> 6) & 0x3F));
        out[at++] = (char)(0x80 | (ch & 0x3F));
    }
    return at;
}

/* The words joined by spaces, ASCII digit runs folded to "0", as UTF-8 in s->utf8. */
static Py_ssize_t folded_utf8(Splitter *s, const Span *words, Py_ssize_t count) {
    Py_ssize_t at = 0;
    for (Py_ssize_t w = 0; w < count; w++) {
        if (w > 0) {
            s->utf8[at++] = ' ';
        }
        int digits = 0;
        for (Py_ssize_t i = words[w].start; i < words[w].end; i++) {
            Py_UCS4 ch = PyUnicode_READ(s->kind, s->data, i);
            if (ch >= '0' && ch <= '9') {
                if (!digits) {
                    s->utf8[at++] = '0';
                }
                digits = 1;
                continue;
            }
            digits = 0;
            at = put_utf8(s->utf8, at, ch);
        }
    }
    return at;
}

static PyObject *fingerprint(Splitter *s, const Span *words, Py_ssize_t count) {
    Py_ssize_t size = folded_utf8(s, words, count);
    PyObject *joined = PyBytes_FromStringAndSize(s->utf8, size);
    if (joined == NULL) {
        return NULL;
    }
    PyObject *hashed = PyObject_CallOneArg(s->hash, joined);
    Py_DECREF(joined);
    if (hashed == NULL) {
        return NULL;
    }
    unsigned long long value = PyLong_AsUnsignedLongLong(hashed);
    Py_DECREF(hashed);
    if (value == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    /* less 2^63: [0, 2^64) onto the signed 64-bit range, order kept */
    return PyLong_FromLongLong((long long)(int64_t)(value ^ (UINT64_C(1) << 63)));
}

/* Appends the segment of ``count`` words to ``found`` (a list). */
static int add_segment(Splitter *s, PyObject *found, const Span *words, Py_ssize_t count) {
    PyObject *word_list = PyList_New(count);
    if (word_list == NULL) {
        return -1;
    }
    for (Py_ssize_t w = 0; w < count; w++) {
        PyObject *word = PyUnicode_Substring(s->normal, words[w].start, words[w].end);
        if (word == NULL) {
            Py_DECREF(word_list);
            return -1;
        }
        PyList_SET_ITEM(word_list, w, word);
    }
    PyObject *print = fingerprint(s, words, count);
    if (print == NULL) {
        Py_DECREF(word_list);
        return -1;
    }
    /* as tuple.__new__ makes an instance of a tuple subclass */
    PyObject *segment = s->segment->tp_alloc(s->segment, 2);
    if (segment == NULL) {
        Py_DECREF(word_list);
        Py_DECREF(print);
        return -1;
    }
    PyTuple_SET_ITEM(segment, 0, word_list);
    PyTuple_SET_ITEM(segment, 1, print);
    int failed = PyList_Append(found, segment);
    Py_DECREF(segment);
    return failed;
}

/* ------------------------------------------------------------------ the text */

static PyObject *split_text(Splitter *s) {
    Py_ssize_t length = PyUnicode_GET_LENGTH(s->normal);
    /* at most one word per character (unspaced scripts); a segment's folded words at most
     * 4 UTF-8 bytes a character plus a space each (digit folding only shortens) */
    Span *words = PyMem_Malloc(sizeof(Span) * (size_t)(length + 1));
    s->utf8 = PyMem_Malloc((size_t)length * 5 + 1);
    PyObject *found = PyList_New(0);
    if (words == NULL || s->utf8 == NULL || found == NULL) {
        PyMem_Free(words);
        PyMem_Free(s->utf8);
        Py_XDECREF(found);
        return PyErr_NoMemory();
    }
    Py_ssize_t count = 0, i = 0;
    int ended = 0;       /* a segment end since the last word */
    int after_end = 0;   /* a sentence end, then only closing characters */
    while (i < length) {
        Py_UCS4 ch = PyUnicode_READ(s->kind, s->data, i);
        int single = unspaced(ch);
        if (single || word_character(ch)) {
            if (ended && count > 0) {
                if (add_segment(s, found, words, count) < 0) {
                    goto error;
                }
                count = 0;
            }
            ended = after_end = 0;
            Py_ssize_t start = i++;
            while (!single && i < length) {
                Py_UCS4 next = PyUnicode_READ(s->kind, s->data, i);
                if (unspaced(next) || !word_character(next)) {
                    break;
                }
                i++;
            }
            words[count++] = (Span){start, i};
            continue;
        }
        if (ch == '\n' || ch == 0 || (after_end && Py_UNICODE_ISSPACE(ch))) {
            ended = 1;
        }
        if (sentence_end(ch)) {
            after_end = 1;
        } else if (!closing(ch)) {
            after_end = 0;
        }
        i++;
    }
    if (count > 0 && add_segment(s, found, words, count) < 0) {
        goto error;
    }
    PyMem_Free(words);
    PyMem_Free(s->utf8);
    return found;
error:
    PyMem_Free(words);
    PyMem_Free(s->utf8);
    Py_DECREF(found);
    return NULL;
}

PyDoc_STRVAR(split_doc,
             "split(normal, segment, hash, /)\n--\n\n"
             "The segments of already normalised text that have words, in order, each a\n"
             "segment(words, fingerprint); ``segment`` is a two-field tuple subclass (a\n"
             "NamedTuple), ``hash`` maps UTF-8 bytes to an int in [0, 2^64).");

static PyObject *split(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "split: takes 3 arguments, %zd given", nargs);
        return NULL;
    }
    if (!PyUnicode_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "split: normal must be a str, not %.100s",
                     Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    if (!PyType_Check(args[1]) || !PyType_IsSubtype((PyTypeObject *)args[1], &PyTuple_Type) ||
        ((PyTypeObject *)args[1])->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError,
                        "split: segment must be a tuple subclass without extra fields");
        return NULL;
    }
    if (!PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "split: hash must be callable");
        return NULL;
    }
    if (PyUnicode_READY(args[0]) < 0) {
        return NULL;
    }
    Splitter s = {
        .normal = args[0],
        .kind = PyUnicode_KIND(args[0]),
        .data = PyUnicode_DATA(args[0]),
        .segment = (PyTypeObject *)args[1],
        .hash = args[2],
    };
    return split_text(&s);
}

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"split", (PyCFunction)(void (*)(void))split, METH_FASTCALL, split_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "service.stories._segments",
    .m_doc = "The segments of normalised text: words and fingerprints (see _segments.c).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__segments(void) { return PyModuleDef_Init(&module); }
