/* The classifier's per-article work in C: fold, search, sentences, mentions, events, quotes.
 *
 * Why: issue 4 asks for 10,000 articles/s/core at 1,000 terms and 5,000 at
 * 10,000, about the cost of MEASURED.md's bare method (casefold, one
 * pyahocorasick pass, a boundary check per hit). In Python the loop over
 * automaton hits, the event bookkeeping (every trigger occurrence against the
 * mentions of its sentence) and the sentence reading for evidence cost 3-5x
 * that (README, classification benchmark). This module does that bookkeeping
 * on integer word numbers; the semantics stay in Python's hands:
 *
 * - Folding uses the tables of service.text.folded (each non-ASCII
 *   character a separator or a fixed normalised form); any other character
 *   sends the whole text to the Python reference (words(), word_spans()).
 * - The search is pyahocorasick's, over the automaton TermMatcher built
 *   (keys " w1 w2 ", values (term, words, term number, topic flag)).
 * - Sentences are service.text.sentences' rules, character for character
 *   (its regex and _ends_sentence), computed on first use.
 * - Mentions, triggers and events follow service.matching.classifier and
 *   events; tests/test_classifier_reference.py holds all of it to a plain
 *   reading of the semantics.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVIDENCE 3
#define LONGEST_WORD 24        /* sentences._LONGEST_WORD */
#define LONGEST_ABBREVIATION 6 /* casefold never shortens a word: longer ones are not in the set */
#define BMP 0x10000

/* ------------------------------------------------------------------ rules */

#define SEPARATOR 1
#define MARK 2
#define LETTER 3 /* and up: the normalised form number k - LETTER */

typedef struct {
    PyObject_HEAD
    uint16_t *index;     /* per BMP code point: 0, SEPARATOR, MARK, or LETTER + k: form k */
    Py_UCS4 *letters;    /* the normalised forms, one after another */
    Py_ssize_t *offsets; /* form k: letters[offsets[k]:offsets[k + 1]] */
    Py_ssize_t longest;  /* the longest normalised form */
    PyObject *abbreviations;
    PyObject *reference; /* text -> (joined, [(start, end), ...]) */
} Rules;

static void Rules_dealloc(Rules *self) {
    PyMem_Free(self->index);
    PyMem_Free(self->letters);
    PyMem_Free(self->offsets);
    Py_XDECREF(self->abbreviations);
    Py_XDECREF(self->reference);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int set_letters(Rules *self, PyObject *letters) {
    Py_ssize_t count = PyDict_Size(letters), total = 0, pos = 0, k = 0;
    PyObject *key, *value;
    while (PyDict_Next(letters, &pos, &key, &value)) {
        if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) != 1 || !PyUnicode_Check(value) ||
            PyUnicode_GET_LENGTH(value) < 1) {
            PyErr_SetString(PyExc_ValueError, "letters: one character -> a non-empty string");
            return -1;
        }
        total += PyUnicode_GET_LENGTH(value);
    }
    self->letters = PyMem_Malloc(sizeof(Py_UCS4) * (total + 1));
    self->offsets = PyMem_Malloc(sizeof(Py_ssize_t) * (count + 1));
    if (self->letters == NULL || self->offsets == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->offsets[0] = 0;
    pos = 0;
    while (PyDict_Next(letters, &pos, &key, &value)) {
        Py_UCS4 c = PyUnicode_READ_CHAR(key, 0);
        Py_ssize_t size = PyUnicode_GET_LENGTH(value), at = self->offsets[k];
        if (c < 128 || c >= BMP || k + LETTER > UINT16_MAX) {
            PyErr_SetString(PyExc_ValueError, "letters: a non-ASCII character of the BMP");
            return -1;
        }
        for (Py_ssize_t i = 0; i < size; i++)
            self->letters[at + i] = PyUnicode_READ_CHAR(value, i);
        self->offsets[k + 1] = at + size;
        self->index[c] = (uint16_t)(k + LETTER);
        if (size > self->longest)
            self->longest = size;
        k++;
    }
    return 0;
}

/* Mark each character of ``chars`` (non-ASCII, in the BMP) as ``code``. */
static int set_codes(Rules *self, PyObject *chars, uint16_t code) {
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(chars); i++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(chars, i);
        if (c < 128 || c >= BMP) {
            PyErr_SetString(PyExc_ValueError, "Rules: non-ASCII characters of the BMP");
            return -1;
        }
        self->index[c] = code;
    }
    return 0;
}

static PyObject *Rules_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"separators", "marks", "letters", "abbreviations", "reference",
                             NULL};
    PyObject *separators, *marks, *letters, *abbreviations, *reference;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UUO!O!O", kwlist, &separators, &marks,
                                     &PyDict_Type, &letters, &PyFrozenSet_Type, &abbreviations,
                                     &reference))
        return NULL;
    Rules *self = (Rules *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->longest = 1;
    self->index = PyMem_Calloc(BMP, sizeof(uint16_t));
    if (self->index == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    if (set_codes(self, marks, MARK) < 0 || set_codes(self, separators, SEPARATOR) < 0 ||
        set_letters(self, letters) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    Py_INCREF(abbreviations);
    self->abbreviations = abbreviations;
    Py_INCREF(reference);
    self->reference = reference;
    return (PyObject *)self;
}

static PyTypeObject RulesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "service.matching._core.Rules",
    .tp_doc = PyDoc_STR("Rules(separators, marks, letters, abbreviations, reference): how "
                        "texts fold and where sentences end."),
    .tp_basicsize = sizeof(Rules),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Rules_new,
    .tp_dealloc = (destructor)Rules_dealloc,
};

/* ------------------------------------------------------------------ growable arrays */

typedef struct {
    int32_t key, first, last; /* term, entity or event number; words [first, last) */
} Triple;

typedef struct {
    Triple *items;
    Py_ssize_t size, capacity;
} Triples;

static int triples_add(Triples *list, int32_t key, int32_t first, int32_t last) {
    if (list->size == list->capacity) {
        Py_ssize_t capacity = list->capacity ? list->capacity * 2 : 64;
        Triple *items = PyMem_Realloc(list->items, sizeof(Triple) * capacity);
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->size++] = (Triple){key, first, last};
    return 0;
}

static int by_key_range(const void *a, const void *b) {
    const Triple *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->last < y->last ? -1 : x->last > y->last;
}

static int by_range(const void *a, const void *b) {
    const Triple *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    if (x->last != y->last)
        return x->last < y->last ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* Sorted by (key, first, last), duplicates removed. */
static void sort_unique(Triples *list) {
    if (list->size < 2)
        return;
    qsort(list->items, list->size, sizeof(Triple), by_key_range);
    Py_ssize_t kept = 1;
    for (Py_ssize_t i = 1; i < list->size; i++)
        if (by_key_range(&list->items[i], &list->items[kept - 1]) != 0)
            list->items[kept++] = list->items[i];
    list->size = kept;
}

/* ------------------------------------------------------------------ automaton */

/* Aho-Corasick over code points, built once per configuration from TermMatcher's keys.
 * Children of node v are edges[first[v]:first[v + 1]], sorted by character; the root's
 * ASCII children are also in a table. output[v]: the key ending at v, or -1; report[v]: the
 * nearest node on v's failure chain (v excluded) where a key ends, or -1. */
#define DENSE_FROM 6 /* children: nodes with more get a table of their ASCII children */

typedef struct {
    PyObject_HEAD
    Py_ssize_t nodes, keys, tables;
    int32_t *first, *edge_node, *fail, *output, *report;
    int32_t *emit;  /* v if a key ends at v, else report[v]: where the reports start */
    int32_t *table; /* per node: its ASCII table number, or -1 */
    int32_t *dense; /* tables of 128 children (-1: none) */
    Py_UCS4 *edge_char;
    PyObject *values;   /* per key: (term, words, term number, topic term) */
    int32_t *words, *numbers;
    char *topic;
} Automaton;

static void Automaton_dealloc(Automaton *self) {
    PyMem_Free(self->first);
    PyMem_Free(self->edge_node);
    PyMem_Free(self->fail);
    PyMem_Free(self->output);
    PyMem_Free(self->report);
    PyMem_Free(self->emit);
    PyMem_Free(self->table);
    PyMem_Free(self->dense);
    PyMem_Free(self->edge_char);
    PyMem_Free(self->words);
    PyMem_Free(self->numbers);
    PyMem_Free(self->topic);
    Py_XDECREF(self->values);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline int32_t child(const Automaton *a, int32_t node, Py_UCS4 c) {
    if (c < 128 && a->table[node] >= 0)
        return a->dense[(Py_ssize_t)a->table[node] * 128 + c];
    int32_t low = a->first[node], high = a->first[node + 1];
    while (high - low > 4) {
        int32_t middle = (low + high) / 2;
        if (a->edge_char[middle] < c)
            low = middle + 1;
        else
            high = middle + 1; /* edge_char[middle] may be c */
    }
    for (; low < high; low++)
        if (a->edge_char[low] == c)
            return a->edge_node[low];
    return -1;
}

/* The trie while it is built: each node's children as a list. */
typedef struct {
    int32_t *first_child, *sibling;
    Py_UCS4 *letter;
    int32_t *output;
    Py_ssize_t size, capacity;
} Trie;

static int32_t trie_node(Trie *t, Py_UCS4 letter) {
    if (t->size == t->capacity) {
        Py_ssize_t capacity = t->capacity ? t->capacity * 2 : 1024;
        int32_t *first_child = PyMem_Realloc(t->first_child, sizeof(int32_t) * capacity);
        if (first_child)
            t->first_child = first_child;
        int32_t *sibling = PyMem_Realloc(t->sibling, sizeof(int32_t) * capacity);
        if (sibling)
            t->sibling = sibling;
        Py_UCS4 *letters = PyMem_Realloc(t->letter, sizeof(Py_UCS4) * capacity);
        if (letters)
            t->letter = letters;
        int32_t *output = PyMem_Realloc(t->output, sizeof(int32_t) * capacity);
        if (output)
            t->output = output;
        if (!first_child || !sibling || !letters || !output || capacity > INT32_MAX) {
            PyErr_NoMemory();
            return -1;
        }
        t->capacity = capacity;
    }
    int32_t node = (int32_t)t->size++;
    t->first_child[node] = t->sibling[node] = t->output[node] = -1;
    t->letter[node] = letter;
    return node;
}

static int trie_add(Trie *t, PyObject *key, int32_t number) {
    int32_t node = 0;
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(key); i++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(key, i);
        int32_t next = t->first_child[node];
        while (next >= 0 && t->letter[next] != c)
            next = t->sibling[next];
        if (next < 0) {
            next = trie_node(t, c);
            if (next < 0)
                return -1;
            t->sibling[next] = t->first_child[node];
            t->first_child[node] = next;
        }
        node = next;
    }
    if (t->output[node] >= 0) {
        PyErr_SetString(PyExc_ValueError, "Automaton: the same key twice");
        return -1;
    }
    t->output[node] = number;
    return 0;
}

static int by_letter(const void *x, const void *y, void *letters) {
    Py_UCS4 a = ((Py_UCS4 *)letters)[*(const int32_t *)x];
    Py_UCS4 b = ((Py_UCS4 *)letters)[*(const int32_t *)y];
    return a < b ? -1 : a > b;
}

/* The trie as sorted edge arrays, nodes numbered breadth first (parents before children). */
static int freeze(Automaton *a, Trie *t) {
    Py_ssize_t n = t->size;
    int32_t *order = PyMem_Malloc(sizeof(int32_t) * n);
    a->first = PyMem_Malloc(sizeof(int32_t) * (n + 1));
    a->edge_node = PyMem_Malloc(sizeof(int32_t) * (n + 1));
    a->edge_char = PyMem_Malloc(sizeof(Py_UCS4) * (n + 1));
    a->fail = PyMem_Malloc(sizeof(int32_t) * n);
    a->output = PyMem_Malloc(sizeof(int32_t) * n);
    a->report = PyMem_Malloc(sizeof(int32_t) * n);
    if (!order || !a->first || !a->edge_node || !a->edge_char || !a->fail ||
        !a->output || !a->report) {
        PyMem_Free(order);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t head = 0, tail = 1, edges = 0;
    order[0] = 0;
    while (head < tail) { /* breadth first; children in letter order */
        int32_t old = order[head], start = (int32_t)tail;
        for (int32_t c = t->first_child[old]; c >= 0; c = t->sibling[c])
            order[tail++] = c;
#if defined(__GLIBC__)
        qsort_r(order + start, tail - start, sizeof(int32_t), by_letter, t->letter);
#else
#error "qsort_r needed"
#endif
        a->first[head] = (int32_t)edges;
        for (Py_ssize_t k = start; k < tail; k++) {
            a->edge_char[edges] = t->letter[order[k]];
            a->edge_node[edges++] = (int32_t)k;
        }
        a->output[head] = t->output[old];
        head++;
    }
    a->first[n] = (int32_t)edges;
    a->nodes = n;
    PyMem_Free(order);
    a->table = PyMem_Malloc(sizeof(int32_t) * n);
    a->emit = PyMem_Malloc(sizeof(int32_t) * n);
    if (!a->table || !a->emit) {
        PyErr_NoMemory();
        return -1;
    }
    a->tables = 0;
    for (Py_ssize_t v = 0; v < n; v++) /* the root always: every walk passes it */
        a->table[v] = v == 0 || a->first[v + 1] - a->first[v] > DENSE_FROM ? a->tables++ : -1;
    a->dense = PyMem_Malloc(sizeof(int32_t) * 128 * a->tables);
    if (!a->dense) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < 128 * a->tables; k++)
        a->dense[k] = -1;
    for (Py_ssize_t v = 0; v < n; v++)
        for (int32_t e = a->first[v]; a->table[v] >= 0 && e < a->first[v + 1]; e++)
            if (a->edge_char[e] < 128)
                a->dense[(Py_ssize_t)a->table[v] * 128 + a->edge_char[e]] = a->edge_node[e];
    return 0;
}

/* Failure and report links, breadth first: a node's links are known before its children's. */
static void link_failures(Automaton *a) {
    a->fail[0] = 0;
    a->report[0] = -1;
    for (int32_t v = 0; v < a->nodes; v++) {
        for (int32_t e = a->first[v]; e < a->first[v + 1]; e++) {
            int32_t w = a->edge_node[e], f = a->fail[v], target = 0;
            Py_UCS4 c = a->edge_char[e];
            while (v != 0) {
                int32_t next = child(a, f, c);
                if (next >= 0) {
                    target = next;
                    break;
                }
                if (f == 0)
                    break;
                f = a->fail[f];
            }
            a->fail[w] = target;
            a->report[w] = a->output[target] >= 0 ? target : a->report[target];
        }
    }
    for (int32_t v = 0; v < a->nodes; v++)
        a->emit[v] = a->output[v] >= 0 ? v : a->report[v];
}

static PyObject *Automaton_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"keys", "values", NULL};
    PyObject *keys, *values;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!", kwlist, &PyList_Type, &keys,
                                     &PyTuple_Type, &values))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(keys);
    if (PyTuple_GET_SIZE(values) != count || count >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "Automaton: a value per key");
        return NULL;
    }
    Automaton *self = (Automaton *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(values);
    self->values = values;
    self->keys = count;
    self->words = PyMem_Malloc(sizeof(int32_t) * (count + 1));
    self->numbers = PyMem_Malloc(sizeof(int32_t) * (count + 1));
    self->topic = PyMem_Malloc(count + 1);
    Trie trie = {NULL, NULL, NULL, NULL, 0, 0};
    int failed = !self->words || !self->numbers || !self->topic;
    if (failed)
        PyErr_NoMemory();
    if (!failed)
        failed = trie_node(&trie, 0) < 0;
    for (Py_ssize_t k = 0; !failed && k < count; k++) {
        PyObject *key = PyList_GET_ITEM(keys, k), *value = PyTuple_GET_ITEM(values, k);
        Py_ssize_t words, number;
        PyObject *term;
        int topic;
        if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) < 2 ||
            PyUnicode_READ_CHAR(key, 0) != ' ' ||
            !PyArg_ParseTuple(value, "Onnp", &term, &words, &number, &topic)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "Automaton: keys are words after a space");
            failed = 1;
            break;
        }
        self->words[k] = (int32_t)words;
        self->numbers[k] = (int32_t)number;
        self->topic[k] = (char)topic;
        failed = trie_add(&trie, key, (int32_t)k) < 0;
    }
    if (!failed)
        failed = freeze(self, &trie) < 0;
    PyMem_Free(trie.first_child);
    PyMem_Free(trie.sibling);
    PyMem_Free(trie.letter);
    PyMem_Free(trie.output);
    if (failed) {
        Py_DECREF(self);
        return NULL;
    }
    link_failures(self);
    return (PyObject *)self;
}

static PyObject *Automaton_get_nodes(Automaton *self, void *closure) {
    return PyLong_FromSsize_t(self->nodes);
}

static PyObject *Automaton_get_size(Automaton *self, void *closure) {
    Py_ssize_t size = sizeof(Automaton) + self->nodes * (7 * sizeof(int32_t) + sizeof(Py_UCS4)) +
                      self->tables * 128 * sizeof(int32_t) + self->keys * (2 * sizeof(int32_t) + 1);
    return PyLong_FromSsize_t(size);
}

static PyObject *Automaton_get_keys(Automaton *self, void *closure) {
    return PyLong_FromSsize_t(self->keys);
}

static PyGetSetDef Automaton_getset[] = {
    {"nodes", (getter)Automaton_get_nodes, NULL, "How many trie nodes it has.", NULL},
    {"size", (getter)Automaton_get_size, NULL, "Bytes it holds (values not counted).", NULL},
    {"keys", (getter)Automaton_get_keys, NULL, "How many keys it finds.", NULL},
    {NULL},
};

static PyTypeObject AutomatonType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "service.matching._core.Automaton",
    .tp_doc = PyDoc_STR("Automaton(keys, values): Aho-Corasick over code points; a value is "
                        "(term, words, term number, topic term)."),
    .tp_basicsize = sizeof(Automaton),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Automaton_new,
    .tp_dealloc = (destructor)Automaton_dealloc,
    .tp_getset = Automaton_getset,
};

/* ------------------------------------------------------------------ scan */

typedef struct {
    PyObject_HEAD
    PyObject *text;
    Rules *rules;
    Py_ssize_t words;
    Py_ssize_t *starts, *ends; /* each word's offsets in the text */
    Triples hits;              /* (term number, first word, last word + 1), by end */
    PyObject *topic_hits;      /* term -> [(first, last + 1), ...] for topic terms */
    Py_UCS4 *joined;           /* the folded words between spaces: what was searched */
    Py_ssize_t joined_size;
    int sentenced;
    Py_ssize_t *sentence_start, *sentence_end; /* the sentences: trimmed spans */
    Py_ssize_t *sentence_of;                   /* each word's sentence number */
} Scan;

static void Scan_dealloc(Scan *self) {
    Py_XDECREF(self->text);
    Py_XDECREF(self->rules);
    Py_XDECREF(self->topic_hits);
    PyMem_Free(self->joined);
    PyMem_Free(self->starts);
    PyMem_Free(self->ends);
    PyMem_Free(self->hits.items);
    PyMem_Free(self->sentence_start);
    PyMem_Free(self->sentence_end);
    PyMem_Free(self->sentence_of);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ScanType;

static const Py_UCS4 ASCII_FOLD[128] = {
    ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4', ['5'] = '5', ['6'] = '6',
    ['7'] = '7', ['8'] = '8', ['9'] = '9',
    ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f', ['g'] = 'g',
    ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l', ['m'] = 'm', ['n'] = 'n',
    ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't', ['u'] = 'u',
    ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y', ['z'] = 'z',
    ['A'] = 'a', ['B'] = 'b', ['C'] = 'c', ['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g',
    ['H'] = 'h', ['I'] = 'i', ['J'] = 'j', ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n',
    ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q', ['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u',
    ['V'] = 'v', ['W'] = 'w', ['X'] = 'x', ['Y'] = 'y', ['Z'] = 'z',
};

/* The fold's state: where the next character of ``joined`` and the next word go. */
typedef struct {
    Py_UCS4 *out;
    Py_ssize_t at, words;
    Py_ssize_t *starts, *ends;
    int in_word;
} Folding;

/* One character of the fast fold; 0, or 1 when the tables cannot fold it. A character the
 * tables do not name is a separator when the reference word pattern never takes it into a
 * word: neither a letter nor a digit (str.isalnum), nor a mark right after a word. */
static inline __attribute__((always_inline)) int
fold_char(Folding *f, const Rules *rules, Py_UCS4 c, Py_ssize_t i) {
    Py_UCS4 one = 0;
    const Py_UCS4 *form = &one;
    Py_ssize_t size = 1;
    if (c < 128) {
        one = ASCII_FOLD[c];
    } else {
        uint16_t k = c < BMP ? rules->index[c] : 0;
        if (k >= LETTER) {
            form = rules->letters + rules->offsets[k - LETTER];
            size = rules->offsets[k - LETTER + 1] - rules->offsets[k - LETTER];
            one = 1;
        } else if (k == MARK ? f->in_word : (k == 0 && Py_UNICODE_ISALNUM(c))) {
            return 1;
        }
    }
    if (one == 0) { /* a separator */
        if (f->in_word) {
            f->ends[f->words - 1] = i;
            f->out[f->at++] = ' ';
            f->in_word = 0;
        }
        return 0;
    }
    if (!f->in_word) {
        f->starts[f->words++] = i;
        f->in_word = 1;
    }
    if (size == 1) {
        f->out[f->at++] = *form;
        return 0;
    }
    for (Py_ssize_t k = 0; k < size; k++)
        f->out[f->at++] = form[k];
    return 0;
}

#define FOLD_ALL(TYPE)                                                                      \
    do {                                                                                    \
        const TYPE *chars = data;                                                           \
        for (Py_ssize_t i = 0; i < n; i++)                                                  \
            if (fold_char(&f, rules, chars[i], i))                                          \
                return 0;                                                                   \
    } while (0)

/* The fast fold: 1 done, 0 a character the tables cannot fold, -1 error. */
static int fold(Scan *scan) {
    PyObject *text = scan->text;
    const Rules *rules = scan->rules;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    scan->joined = PyMem_Malloc(sizeof(Py_UCS4) * (n * rules->longest + 2));
    scan->starts = PyMem_Malloc(sizeof(Py_ssize_t) * (n / 2 + 1));
    scan->ends = PyMem_Malloc(sizeof(Py_ssize_t) * (n / 2 + 1));
    if (!scan->joined || !scan->starts || !scan->ends) {
        PyErr_NoMemory();
        return -1;
    }
    Folding f = {scan->joined, 0, 0, scan->starts, scan->ends, 0};
    f.out[f.at++] = ' ';
    if (kind == PyUnicode_1BYTE_KIND)
        FOLD_ALL(Py_UCS1);
    else if (kind == PyUnicode_2BYTE_KIND)
        FOLD_ALL(Py_UCS2);
    else
        FOLD_ALL(Py_UCS4);
    if (f.in_word) {
        f.ends[f.words - 1] = n;
        f.out[f.at++] = ' ';
    }
    if (f.words == 0)
        f.out[f.at++] = ' '; /* "  ", as " " + " ".join([]) + " " */
    scan->words = f.words;
    scan->joined_size = f.at;
    return 1;
}

/* The reference fold, in Python: words() and word_spans() of the text. */
static int fold_by_reference(Scan *scan) {
    PyObject *found = PyObject_CallOneArg(scan->rules->reference, scan->text);
    if (found == NULL)
        return -1;
    PyObject *text, *spans;
    if (!PyArg_ParseTuple(found, "UO!", &text, &PyList_Type, &spans)) {
        Py_DECREF(found);
        return -1;
    }
    Py_ssize_t words = PyList_GET_SIZE(spans);
    scan->starts = PyMem_Malloc(sizeof(Py_ssize_t) * (words + 1));
    scan->ends = PyMem_Malloc(sizeof(Py_ssize_t) * (words + 1));
    scan->joined = PyUnicode_AsUCS4Copy(text);
    scan->joined_size = PyUnicode_GET_LENGTH(text);
    if (!scan->starts || !scan->ends || !scan->joined) {
        Py_DECREF(found);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t w = 0; w < words; w++) {
        PyObject *span = PyList_GET_ITEM(spans, w);
        if (!PyArg_ParseTuple(span, "nn", &scan->starts[w], &scan->ends[w])) {
            Py_DECREF(found);
            return -1;
        }
    }
    scan->words = words;
    Py_DECREF(found);
    return 0;
}

static int add_range(PyObject *hits, PyObject *term, Py_ssize_t first, Py_ssize_t last) {
    PyObject *range = Py_BuildValue("(nn)", first, last);
    if (range == NULL)
        return -1;
    PyObject *found = PyDict_GetItemWithError(hits, term);
    int result;
    if (found != NULL) {
        result = PyList_Append(found, range);
    } else if (PyErr_Occurred()) {
        result = -1;
    } else {
        PyObject *list = PyList_New(1);
        if (list == NULL) {
            Py_DECREF(range);
            return -1;
        }
        Py_INCREF(range);
        PyList_SET_ITEM(list, 0, range);
        result = PyDict_SetItem(hits, term, list);
        Py_DECREF(list);
    }
    Py_DECREF(range);
    return result;
}

/* One automaton pass over ``chars`` (words between single spaces): every hit into ``found``
 * (if given), and into ``hits`` (term -> ranges) those of topic terms, or of all if ``every``.
 * A key ending at offset i covers the words before the spaces counted up to i. */
static int search(const Automaton *a, const Py_UCS4 *chars, Py_ssize_t size, Triples *found,
                  PyObject *hits, int every) {
    int32_t state = 0;
    Py_ssize_t spaces = 0; /* in chars[:i] */
    for (Py_ssize_t i = 0; i < size; i++) {
        Py_UCS4 c = chars[i];
        if (state == 0 && c != ' ') { /* every key starts with a space: skip to the next */
            while (i + 1 < size && chars[i + 1] != ' ')
                i++;
            continue;
        }
        for (;;) {
            int32_t next = child(a, state, c);
            if (next >= 0) {
                state = next;
                break;
            }
            if (state == 0)
                break;
            state = a->fail[state];
        }
        for (int32_t v = a->emit[state]; v >= 0; v = a->report[v]) {
            int32_t key = a->output[v];
            Py_ssize_t first = spaces - a->words[key];
            if (found != NULL && triples_add(found, a->numbers[key], (int32_t)first,
                                             (int32_t)spaces) < 0)
                return -1;
            if ((every || a->topic[key]) &&
                add_range(hits, PyTuple_GET_ITEM(PyTuple_GET_ITEM(a->values, key), 0), first,
                          spaces) < 0)
                return -1;
        }
        spaces += c == ' ';
    }
    return 0;
}

static PyObject *scan_text(PyObject *module, PyObject *args) {
    Rules *rules;
    PyObject *text, *automaton;
    if (!PyArg_ParseTuple(args, "O!UO", &RulesType, &rules, &text, &automaton))
        return NULL;
    if (automaton != Py_None && !PyObject_TypeCheck(automaton, &AutomatonType)) {
        PyErr_SetString(PyExc_TypeError, "scan: an Automaton or None");
        return NULL;
    }
    Scan *scan = PyObject_New(Scan, &ScanType);
    if (scan == NULL)
        return NULL;
    Py_INCREF(text);
    scan->text = text;
    Py_INCREF(rules);
    scan->rules = rules;
    scan->words = scan->joined_size = 0;
    scan->starts = scan->ends = NULL;
    scan->joined = NULL;
    scan->hits = (Triples){NULL, 0, 0};
    scan->sentenced = 0;
    scan->sentence_start = scan->sentence_end = scan->sentence_of = NULL;
    scan->topic_hits = PyDict_New();
    if (scan->topic_hits == NULL) {
        Py_DECREF(scan);
        return NULL;
    }
    int fast = fold(scan);
    if (fast == 0) {
        PyMem_Free(scan->joined);
        PyMem_Free(scan->starts);
        PyMem_Free(scan->ends);
        scan->joined = NULL;
        scan->starts = scan->ends = NULL;
        scan->words = scan->joined_size = 0;
        fast = fold_by_reference(scan);
    }
    if (fast < 0 ||
        (automaton != Py_None && scan->words > 0 &&
         search((Automaton *)automaton, scan->joined, scan->joined_size, &scan->hits,
                scan->topic_hits, 0) < 0)) {
        Py_DECREF(scan);
        return NULL;
    }
    return (PyObject *)scan;
}

static PyObject *find_terms(PyObject *module, PyObject *args) {
    PyObject *text;
    Automaton *automaton;
    if (!PyArg_ParseTuple(args, "O!U", &AutomatonType, &automaton, &text))
        return NULL;
    Py_UCS4 *chars = PyUnicode_AsUCS4Copy(text);
    PyObject *hits = chars != NULL ? PyDict_New() : NULL;
    if (hits != NULL &&
        search(automaton, chars, PyUnicode_GET_LENGTH(text), NULL, hits, 1) < 0)
        Py_CLEAR(hits);
    PyMem_Free(chars);
    return hits;
}

/* ------------------------------------------------------------------ sentences */

static inline int is_terminal(Py_UCS4 c) { /* [.!?…。！？] */
    return c == '.' || c == '!' || c == '?' || c == 0x2026 || c == 0x3002 || c == 0xFF01 ||
           c == 0xFF1F;
}

static inline int is_closer(Py_UCS4 c) { /* ["'»”’)\]] */
    return c == '"' || c == '\'' || c == 0xBB || c == 0x201D || c == 0x2019 || c == ')' ||
           c == ']';
}

static inline int is_opener(Py_UCS4 c) { /* stripped before an abbreviation: "'«“‘„([ */
    return c == '"' || c == '\'' || c == 0xAB || c == 0x201C || c == 0x2018 || c == 0x201E ||
           c == '(' || c == '[';
}

/* sentences._is_abbreviation: 1, 0 or -1 (error). */
static int is_abbreviation(Scan *scan, int kind, const void *data, Py_ssize_t dot) {
    Py_ssize_t low = dot > LONGEST_WORD ? dot - LONGEST_WORD : 0;
    if (dot == low || Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, dot - 1)))
        return 0; /* no word, or not right before the period */
    Py_ssize_t start = dot - 1;
    while (start > low && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start - 1)))
        start--;
    while (start < dot && is_opener(PyUnicode_READ(kind, data, start)))
        start++;
    for (Py_ssize_t i = start; i < dot; i++)
        if (PyUnicode_READ(kind, data, i) == '.')
            return 1;
    Py_ssize_t size = dot - start;
    if (size == 1 && Py_UNICODE_ISALPHA(PyUnicode_READ(kind, data, start)))
        return 1;
    if (size == 0 || size > LONGEST_ABBREVIATION)
        return 0;
    PyObject *word = PyUnicode_Substring(scan->text, start, dot);
    if (word == NULL)
        return -1;
    PyObject *folded = PyObject_CallMethod(word, "casefold", NULL);
    Py_DECREF(word);
    if (folded == NULL)
        return -1;
    int found = PySet_Contains(scan->rules->abbreviations, folded);
    Py_DECREF(folded);
    return found;
}

/* The boundary of sentences._BOUNDARY_RE at ``i`` (a terminal or a line break): its end, or
 * -1 if none starts there; ``ends``: whether it ends a sentence (_ends_sentence). */
static Py_ssize_t boundary(Scan *scan, int kind, const void *data, Py_ssize_t n, Py_ssize_t i,
                           int *ends) {
    Py_UCS4 c = PyUnicode_READ(kind, data, i);
    if (c == '\n') {
        *ends = 1;
        return i + 1;
    }
    Py_ssize_t j = i + 1;
    while (j < n && is_terminal(PyUnicode_READ(kind, data, j)))
        j++;
    int more = j > i + 1, newline = 0;
    while (j < n && is_closer(PyUnicode_READ(kind, data, j)))
        j++;
    if (j < n) {
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, j)))
            return -1;
        for (; j < n; j++) {
            Py_UCS4 s = PyUnicode_READ(kind, data, j);
            if (!Py_UNICODE_ISSPACE(s))
                break;
            newline |= s == '\n';
        }
    }
    if (newline)
        *ends = 1;
    else if (j < n && Py_UNICODE_ISLOWER(PyUnicode_READ(kind, data, j)))
        *ends = 0;
    else if (c != '.' || more)
        *ends = 1;
    else {
        int abbreviation = is_abbreviation(scan, kind, data, i);
        if (abbreviation < 0)
            return -2;
        *ends = !abbreviation;
    }
    return j;
}

/* The first offset from ``i`` that may start a boundary (a terminal or a line break), or n. */
static Py_ssize_t next_candidate(int kind, const void *data, Py_ssize_t i, Py_ssize_t n) {
    if (kind == PyUnicode_1BYTE_KIND) { /* no terminal above U+00FF but the ASCII ones */
        static const uint8_t candidate[256] = {['.'] = 1, ['\n'] = 1, ['!'] = 1, ['?'] = 1};
        const Py_UCS1 *chars = data;
        while (i < n && !candidate[chars[i]])
            i++;
        return i;
    }
    for (; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '\n' || is_terminal(c))
            return i;
    }
    return n;
}

/* Every sentence (sentence_spans) and the sentence of every word's start. */
static int find_sentences(Scan *scan) {
    if (scan->sentenced)
        return 0;
    PyObject *text = scan->text;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), count = 0, previous = 0, word = 0;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyMem_Free(scan->sentence_start); /* left by a call that failed */
    PyMem_Free(scan->sentence_end);
    PyMem_Free(scan->sentence_of);
    scan->sentence_start = PyMem_Malloc(sizeof(Py_ssize_t) * (n / 2 + 2));
    scan->sentence_end = PyMem_Malloc(sizeof(Py_ssize_t) * (n / 2 + 2));
    scan->sentence_of = PyMem_Malloc(sizeof(Py_ssize_t) * (scan->words + 1));
    if (!scan->sentence_start || !scan->sentence_end || !scan->sentence_of) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i <= n;) {
        Py_ssize_t end = n;
        int ends = 1;
        if (i < n)
            i = next_candidate(kind, data, i, n);
        if (i < n) {
            end = boundary(scan, kind, data, n, i, &ends);
            if (end == -2)
                return -1;
            if (end == -1) {
                i++;
                continue;
            }
        }
        if (ends) { /* the sentence [previous, end), trimmed, if not only space */
            Py_ssize_t start = previous, stop = end;
            while (start < stop && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start)))
                start++;
            while (stop > start && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, stop - 1)))
                stop--;
            if (start < stop) {
                for (; word < scan->words && scan->starts[word] < end; word++)
                    scan->sentence_of[word] = count;
                scan->sentence_start[count] = start;
                scan->sentence_end[count++] = stop;
            }
            previous = end;
        }
        i = end > i ? end : i + 1;
    }
    for (; word < scan->words; word++) /* none: a word always stands in a sentence */
        scan->sentence_of[word] = count > 0 ? count - 1 : 0;
    scan->sentenced = 1;
    return 0;
}

/* ------------------------------------------------------------------ evidence */

typedef struct {
    Py_ssize_t first, last;
} Range;

static int outer_first(const void *a, const void *b) {
    const Range *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->last > y->last ? -1 : x->last < y->last;
}

static int in_order(const void *a, const void *b) {
    const Range *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return x->last < y->last ? -1 : x->last > y->last;
}

static Py_ssize_t read_ranges(Scan *scan, PyObject *items, Range **out) {
    PyObject *sequence = PySequence_Fast(items, "ranges: a sequence of (first, last + 1)");
    if (sequence == NULL)
        return -1;
    Py_ssize_t size = PySequence_Fast_GET_SIZE(sequence);
    Range *ranges = PyMem_Malloc(sizeof(Range) * (size + 1));
    if (ranges == NULL) {
        Py_DECREF(sequence);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(sequence, i);
        if (!PyArg_ParseTuple(item, "nn", &ranges[i].first, &ranges[i].last) ||
            ranges[i].first < 0 || ranges[i].last <= ranges[i].first ||
            ranges[i].last > scan->words) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_IndexError, "a word range outside the text");
            PyMem_Free(ranges);
            Py_DECREF(sequence);
            return -1;
        }
    }
    Py_DECREF(sequence);
    *out = ranges;
    return size;
}

/* Field.evidence: the sentence(s) holding ``ranges`` (not empty) with the outermost marked. */
static PyObject *quote(Scan *scan, Range *ranges, Py_ssize_t size) {
    qsort(ranges, size, sizeof(Range), outer_first);
    Py_ssize_t kept = 1, last_sentence = 0;
    for (Py_ssize_t i = 1; i < size; i++)
        if (ranges[i].last > ranges[kept - 1].last)
            ranges[kept++] = ranges[i];
    for (Py_ssize_t i = 0; i < kept; i++) {
        Py_ssize_t sentence = scan->sentence_of[ranges[i].last - 1];
        if (sentence > last_sentence)
            last_sentence = sentence;
    }
    Py_ssize_t start = scan->sentence_start[scan->sentence_of[ranges[0].first]];
    Py_ssize_t end = scan->sentence_end[last_sentence];
    PyObject *spans = PyTuple_New(kept);
    if (spans == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < kept; i++) {
        PyObject *span = Py_BuildValue("(nn)", scan->starts[ranges[i].first] - start,
                                       scan->ends[ranges[i].last - 1] - start);
        if (span == NULL) {
            Py_DECREF(spans);
            return NULL;
        }
        PyTuple_SET_ITEM(spans, i, span);
    }
    PyObject *sentence = PyUnicode_Substring(scan->text, start, end);
    if (sentence == NULL) {
        Py_DECREF(spans);
        return NULL;
    }
    return Py_BuildValue("(NN)", sentence, spans);
}

static PyObject *Scan_evidence(Scan *scan, PyObject *items) {
    Range *ranges;
    Py_ssize_t size = read_ranges(scan, items, &ranges);
    if (size < 0)
        return NULL;
    PyObject *result = NULL;
    if (size == 0)
        PyErr_SetString(PyExc_ValueError, "evidence of no words");
    else if (find_sentences(scan) == 0)
        result = quote(scan, ranges, size);
    PyMem_Free(ranges);
    return result;
}

/* Field.per_sentence: one quote per sentence holding ``ranges``, in text order, at most
 * MAX_EVIDENCE. */
static PyObject *Scan_per_sentence(Scan *scan, PyObject *items) {
    Range *ranges;
    Py_ssize_t size = read_ranges(scan, items, &ranges);
    if (size < 0)
        return NULL;
    PyObject *quotes = find_sentences(scan) == 0 ? PyList_New(0) : NULL;
    qsort(ranges, size, sizeof(Range), in_order);
    for (Py_ssize_t i = 0, groups = 0; quotes != NULL && i < size && groups < MAX_EVIDENCE;
         groups++) {
        Py_ssize_t sentence = scan->sentence_of[ranges[i].first], j = i + 1;
        while (j < size && scan->sentence_of[ranges[j].first] == sentence)
            j++;
        PyObject *found = quote(scan, ranges + i, j - i);
        if (found == NULL || PyList_Append(quotes, found) < 0)
            Py_CLEAR(quotes);
        Py_XDECREF(found);
        i = j;
    }
    PyMem_Free(ranges);
    return quotes;
}

static PyObject *Scan_span(Scan *scan, PyObject *arg) {
    Py_ssize_t word = PyLong_AsSsize_t(arg);
    if (word == -1 && PyErr_Occurred())
        return NULL;
    if (word < 0 || word >= scan->words) {
        PyErr_SetString(PyExc_IndexError, "no such word");
        return NULL;
    }
    return Py_BuildValue("(nn)", scan->starts[word], scan->ends[word]);
}

static PyObject *Scan_sentence(Scan *scan, PyObject *arg) {
    Py_ssize_t word = PyLong_AsSsize_t(arg);
    if (word == -1 && PyErr_Occurred())
        return NULL;
    if (word < 0 || word >= scan->words) {
        PyErr_SetString(PyExc_IndexError, "no such word");
        return NULL;
    }
    if (find_sentences(scan) < 0)
        return NULL;
    Py_ssize_t sentence = scan->sentence_of[word];
    return Py_BuildValue("(nn)", scan->sentence_start[sentence], scan->sentence_end[sentence]);
}

static PyObject *Scan_get_hits(Scan *scan, void *closure) {
    Py_INCREF(scan->topic_hits);
    return scan->topic_hits;
}

static PyObject *Scan_get_joined(Scan *scan, void *closure) {
    return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, scan->joined, scan->joined_size);
}

static PyObject *Scan_get_words(Scan *scan, void *closure) {
    return PyLong_FromSsize_t(scan->words);
}

static PyMethodDef Scan_methods[] = {
    {"evidence", (PyCFunction)Scan_evidence, METH_O,
     "The sentence(s) holding the word ranges, and the outermost ranges as offsets in it."},
    {"per_sentence", (PyCFunction)Scan_per_sentence, METH_O,
     "evidence() of the ranges of each sentence holding some, in order, at most three."},
    {"span", (PyCFunction)Scan_span, METH_O, "The offsets of word number n in the text."},
    {"sentence", (PyCFunction)Scan_sentence, METH_O,
     "The offsets of the sentence holding the start of word number n."},
    {NULL},
};

static PyGetSetDef Scan_getset[] = {
    {"hits", (getter)Scan_get_hits, NULL, "Each topic term found: its word ranges, in order.",
     NULL},
    {"words", (getter)Scan_get_words, NULL, "How many words the text has.", NULL},
    {"joined", (getter)Scan_get_joined, NULL,
     "The normalised words between single spaces, a space at both ends: what was searched.",
     NULL},
    {NULL},
};

static PyTypeObject ScanType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "service.matching._core.Scan",
    .tp_doc = PyDoc_STR("One text folded and searched: its words, hits and sentences."),
    .tp_basicsize = sizeof(Scan),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Scan_dealloc,
    .tp_methods = Scan_methods,
    .tp_getset = Scan_getset,
};

/* ------------------------------------------------------------------ roles and deciding */

typedef struct {
    Py_ssize_t *offsets; /* per term number: owners[offsets[t]:offsets[t + 1]] */
    int32_t *owners;
} Owners;

typedef struct {
    PyObject_HEAD
    Py_ssize_t terms, entities, events;
    Owners names, excludes, triggers;
    Py_ssize_t *windows; /* per event: its window, or -1 for the same sentence */
} Roles;

static void owners_free(Owners *owners) {
    PyMem_Free(owners->offsets);
    PyMem_Free(owners->owners);
}

static void Roles_dealloc(Roles *self) {
    owners_free(&self->names);
    owners_free(&self->excludes);
    owners_free(&self->triggers);
    PyMem_Free(self->windows);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ``table``: per term number, a tuple of owner numbers below ``limit``. */
static int read_owners(PyObject *table, Py_ssize_t terms, Py_ssize_t limit, Owners *owners) {
    if (!PyList_Check(table) || PyList_GET_SIZE(table) != terms) {
        PyErr_SetString(PyExc_ValueError, "owners: a list with a tuple per term");
        return -1;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t t = 0; t < terms; t++) {
        PyObject *row = PyList_GET_ITEM(table, t);
        if (!PyTuple_Check(row)) {
            PyErr_SetString(PyExc_ValueError, "owners: a tuple per term");
            return -1;
        }
        total += PyTuple_GET_SIZE(row);
    }
    owners->offsets = PyMem_Malloc(sizeof(Py_ssize_t) * (terms + 1));
    owners->owners = PyMem_Malloc(sizeof(int32_t) * (total + 1));
    if (!owners->offsets || !owners->owners) {
        PyErr_NoMemory();
        return -1;
    }
    owners->offsets[0] = 0;
    for (Py_ssize_t t = 0, at = 0; t < terms; t++) {
        PyObject *row = PyList_GET_ITEM(table, t);
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(row); i++) {
            Py_ssize_t owner = PyLong_AsSsize_t(PyTuple_GET_ITEM(row, i));
            if (owner < 0 || owner >= limit) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "owners: a number out of range");
                return -1;
            }
            owners->owners[at++] = (int32_t)owner;
        }
        owners->offsets[t + 1] = at;
    }
    return 0;
}

static PyObject *Roles_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"entities", "names", "excludes", "triggers", "windows", NULL};
    Py_ssize_t entities;
    PyObject *names, *excludes, *triggers, *windows;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nO!O!O!O!", kwlist, &entities, &PyList_Type,
                                     &names, &PyList_Type, &excludes, &PyList_Type, &triggers,
                                     &PyTuple_Type, &windows))
        return NULL;
    Roles *self = (Roles *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->terms = PyList_GET_SIZE(names);
    self->entities = entities;
    self->events = PyTuple_GET_SIZE(windows);
    self->windows = PyMem_Malloc(sizeof(Py_ssize_t) * (self->events + 1));
    if (self->windows == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t e = 0; e < self->events; e++) {
        PyObject *window = PyTuple_GET_ITEM(windows, e);
        self->windows[e] = window == Py_None ? -1 : PyLong_AsSsize_t(window);
        if (self->windows[e] == -1 && PyErr_Occurred()) {
            Py_DECREF(self);
            return NULL;
        }
    }
    if (read_owners(names, self->terms, entities, &self->names) < 0 ||
        read_owners(excludes, self->terms, entities, &self->excludes) < 0 ||
        read_owners(triggers, self->terms, self->events, &self->triggers) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyTypeObject RolesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "service.matching._core.Roles",
    .tp_doc = PyDoc_STR("Roles(entities, names, excludes, triggers, windows): per term number, "
                        "the entities it names or excludes and the events it triggers."),
    .tp_basicsize = sizeof(Roles),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Roles_new,
    .tp_dealloc = (destructor)Roles_dealloc,
};

typedef struct {
    Triples mentions; /* (entity, first, last), by range */
    Triples triggers; /* (event, first, last), by event then range */
} Found;

static int collect(const Owners *owners, const Triples *hits, Triples *out) {
    for (Py_ssize_t i = 0; i < hits->size; i++) {
        const Triple *hit = &hits->items[i];
        for (Py_ssize_t k = owners->offsets[hit->key]; k < owners->offsets[hit->key + 1]; k++)
            if (triples_add(out, owners->owners[k], hit->first, hit->last) < 0)
                return -1;
    }
    sort_unique(out);
    return 0;
}

/* The mentions of one field: occurrences of each entity's names not covered by one of its
 * excludes, by entity then range. */
static int find_mentions(const Roles *roles, const Scan *scan, Triples *mentions) {
    Triples names = {NULL, 0, 0}, excludes = {NULL, 0, 0};
    int result = -1;
    if (collect(&roles->names, &scan->hits, &names) < 0 ||
        collect(&roles->excludes, &scan->hits, &excludes) < 0)
        goto done;
    for (Py_ssize_t i = 0, x = 0; i < names.size; i++) {
        const Triple *m = &names.items[i];
        while (x < excludes.size && excludes.items[x].key < m->key)
            x++;
        int blocked = 0;
        for (Py_ssize_t k = x; k < excludes.size && excludes.items[k].key == m->key; k++)
            if (excludes.items[k].first <= m->first && m->last <= excludes.items[k].last)
                blocked = 1;
        if (!blocked && triples_add(mentions, m->key, m->first, m->last) < 0)
            goto done;
    }
    result = 0;
done:
    PyMem_Free(names.items);
    PyMem_Free(excludes.items);
    return result;
}

static PyObject *range_tuple(const Triple *t) { return Py_BuildValue("(ii)", t->first, t->last); }

/* {entity number: [ranges in text order]} of one field's mentions (sorted by entity). */
static PyObject *mentions_dict(const Triples *mentions) {
    PyObject *result = PyDict_New();
    for (Py_ssize_t i = 0; result != NULL && i < mentions->size;) {
        int32_t entity = mentions->items[i].key;
        Py_ssize_t j = i;
        while (j < mentions->size && mentions->items[j].key == entity)
            j++;
        PyObject *ranges = PyList_New(j - i), *key = PyLong_FromLong(entity);
        for (Py_ssize_t k = i; ranges != NULL && k < j; k++) {
            PyObject *range = range_tuple(&mentions->items[k]);
            if (range == NULL)
                Py_CLEAR(ranges);
            else
                PyList_SET_ITEM(ranges, k - i, range);
        }
        if (ranges == NULL || key == NULL || PyDict_SetItem(result, key, ranges) < 0)
            Py_CLEAR(result);
        Py_XDECREF(ranges);
        Py_XDECREF(key);
        i = j;
    }
    return result;
}

/* Whether mention ``m`` takes part in the trigger occurrence ``t`` (events.MentionIndex.near). */
static int near(Scan *scan, Py_ssize_t window, const Triple *t, const Triple *m) {
    if (t->first < m->last && m->first < t->last)
        return 0; /* overlapping the trigger itself */
    if (window < 0)
        return scan->sentence_of[t->first] == scan->sentence_of[m->first];
    Py_ssize_t after = m->first - t->last, before = t->first - m->last;
    return (after > before ? after : before) < window;
}

typedef struct {
    int32_t *items;
    Py_ssize_t size, capacity;
} Numbers;

static int numbers_add(Numbers *list, int32_t number) {
    for (Py_ssize_t i = 0; i < list->size; i++)
        if (list->items[i] == number)
            return 0;
    if (list->size == list->capacity) {
        Py_ssize_t capacity = list->capacity ? list->capacity * 2 : 16;
        int32_t *items = PyMem_Realloc(list->items, sizeof(int32_t) * capacity);
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->size++] = number;
    return 0;
}

static int by_number(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* One quote of an event: (field number, trigger range, (ranges of the mentions near it)). */
static PyObject *event_quote(Py_ssize_t field, const Triple *trigger, const Triples *mentions,
                             Scan *scan, Py_ssize_t window) {
    PyObject *near_ranges = PyList_New(0);
    for (Py_ssize_t k = 0; near_ranges != NULL && k < mentions->size; k++) {
        if (!near(scan, window, trigger, &mentions->items[k]))
            continue;
        PyObject *range = range_tuple(&mentions->items[k]);
        if (range == NULL || PyList_Append(near_ranges, range) < 0)
            Py_CLEAR(near_ranges);
        Py_XDECREF(range);
    }
    if (near_ranges == NULL)
        return NULL;
    PyObject *ranges = PyList_AsTuple(near_ranges);
    Py_DECREF(near_ranges);
    if (ranges == NULL)
        return NULL;
    return Py_BuildValue("(n(ii)N)", field, trigger->first, trigger->last, ranges);
}

/* One event over every field: (event, (participants...), (quotes...)) or Py_None. */
static PyObject *find_event(const Roles *roles, int32_t event, Scan **scans, Found *found,
                            Py_ssize_t fields, Py_ssize_t *cursor) {
    Py_ssize_t window = roles->windows[event];
    Numbers participants = {NULL, 0, 0};
    PyObject *quotes = PyList_New(0), *result = NULL;
    if (quotes == NULL)
        return NULL;
    for (Py_ssize_t f = 0; f < fields; f++) {
        Triples *triggers = &found[f].triggers, *mentions = &found[f].mentions;
        Py_ssize_t i = cursor[f];
        for (; i < triggers->size && triggers->items[i].key == event; i++) {
            const Triple *trigger = &triggers->items[i];
            int any = 0;
            for (Py_ssize_t k = 0; k < mentions->size; k++) {
                if (!near(scans[f], window, trigger, &mentions->items[k]))
                    continue;
                any = 1;
                if (numbers_add(&participants, mentions->items[k].key) < 0)
                    goto done;
            }
            if (any && PyList_GET_SIZE(quotes) < MAX_EVIDENCE) {
                PyObject *q = event_quote(f, trigger, mentions, scans[f], window);
                if (q == NULL || PyList_Append(quotes, q) < 0) {
                    Py_XDECREF(q);
                    goto done;
                }
                Py_DECREF(q);
            }
        }
        cursor[f] = i;
    }
    if (participants.size == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    qsort(participants.items, participants.size, sizeof(int32_t), by_number);
    PyObject *who = PyTuple_New(participants.size), *why = PyList_AsTuple(quotes);
    for (Py_ssize_t k = 0; who != NULL && k < participants.size; k++) {
        PyObject *number = PyLong_FromLong(participants.items[k]);
        if (number == NULL)
            Py_CLEAR(who);
        else
            PyTuple_SET_ITEM(who, k, number);
    }
    if (who != NULL && why != NULL)
        result = Py_BuildValue("(iNN)", event, who, why);
    else {
        Py_XDECREF(who);
        Py_XDECREF(why);
    }
done:
    PyMem_Free(participants.items);
    Py_DECREF(quotes);
    return result;
}

/* Every event with a participant, in event order. */
static PyObject *find_events(const Roles *roles, Scan **scans, Found *found, Py_ssize_t fields) {
    PyObject *events = PyList_New(0);
    Py_ssize_t cursor[8] = {0};
    int32_t event = -1;
    while (events != NULL) {
        int32_t next = INT32_MAX; /* the next event with a trigger in some field */
        for (Py_ssize_t f = 0; f < fields; f++) {
            Triples *triggers = &found[f].triggers;
            while (cursor[f] < triggers->size && triggers->items[cursor[f]].key <= event)
                cursor[f]++;
            if (cursor[f] < triggers->size && triggers->items[cursor[f]].key < next)
                next = triggers->items[cursor[f]].key;
        }
        if (next == INT32_MAX)
            break;
        event = next;
        PyObject *one = find_event(roles, event, scans, found, fields, cursor);
        if (one == NULL || (one != Py_None && PyList_Append(events, one) < 0))
            Py_CLEAR(events);
        Py_XDECREF(one);
    }
    return events;
}

static PyObject *decide(PyObject *module, PyObject *args) {
    Roles *roles;
    PyObject *sequence;
    if (!PyArg_ParseTuple(args, "O!O!", &RolesType, &roles, &PyTuple_Type, &sequence))
        return NULL;
    Py_ssize_t fields = PyTuple_GET_SIZE(sequence);
    if (fields > 8) {
        PyErr_SetString(PyExc_ValueError, "at most 8 fields");
        return NULL;
    }
    Scan *scans[8];
    Found found[8];
    memset(found, 0, sizeof(found));
    PyObject *mentions = PyTuple_New(fields), *events = NULL, *result = NULL;
    if (mentions == NULL)
        return NULL;
    int any = 0;
    for (Py_ssize_t f = 0; f < fields; f++) {
        PyObject *item = PyTuple_GET_ITEM(sequence, f);
        if (!PyObject_TypeCheck(item, &ScanType)) {
            PyErr_SetString(PyExc_TypeError, "decide: a tuple of Scan");
            goto done;
        }
        scans[f] = (Scan *)item;
        for (Py_ssize_t i = 0; i < scans[f]->hits.size; i++)
            if (scans[f]->hits.items[i].key >= roles->terms) {
                PyErr_SetString(PyExc_ValueError, "decide: a term the roles do not know");
                goto done;
            }
        if (find_mentions(roles, scans[f], &found[f].mentions) < 0)
            goto done;
        PyObject *by_entity = mentions_dict(&found[f].mentions);
        if (by_entity == NULL)
            goto done;
        PyTuple_SET_ITEM(mentions, f, by_entity);
        any |= found[f].mentions.size > 0;
    }
    for (Py_ssize_t f = 0; any && f < fields; f++) {
        if (collect(&roles->triggers, &scans[f]->hits, &found[f].triggers) < 0)
            goto done;
        if (found[f].triggers.size && found[f].mentions.size && find_sentences(scans[f]) < 0)
            goto done;
        if (found[f].mentions.size > 1)
            qsort(found[f].mentions.items, found[f].mentions.size, sizeof(Triple), by_range);
    }
    events = any ? find_events(roles, scans, found, fields) : PyList_New(0);
    if (events != NULL)
        result = Py_BuildValue("(OO)", mentions, events);
done:
    for (Py_ssize_t f = 0; f < fields; f++) {
        PyMem_Free(found[f].mentions.items);
        PyMem_Free(found[f].triggers.items);
    }
    Py_DECREF(mentions);
    Py_XDECREF(events);
    return result;
}

/* ------------------------------------------------------------------ records */

/* Record(cls, names): makes instances of a slotted dataclass without its generated
 * __init__, for the ~30 Evidence and Match values an article at 10,000 terms yields (a
 * frozen dataclass's __init__ sets each field through object.__setattr__, ~4,000
 * instructions a value). Only for classes whose __init__ does nothing else: every name
 * must be a writable object slot of ``cls``, and record(*values) sets each in turn. */
#define RECORD_FIELDS 8

typedef struct {
    PyObject_HEAD
    PyTypeObject *type;
    Py_ssize_t count;
    Py_ssize_t offsets[RECORD_FIELDS];
    vectorcallfunc vectorcall;
} Record;

static PyObject *Record_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames) {
    Record *record = (Record *)self;
    Py_ssize_t count = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL || count != record->count) {
        PyErr_Format(PyExc_TypeError, "%s record: %zd positional values", record->type->tp_name,
                     record->count);
        return NULL;
    }
    PyObject *made = record->type->tp_alloc(record->type, 0);
    if (made == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_INCREF(args[i]);
        *(PyObject **)((char *)made + record->offsets[i]) = args[i];
    }
    return made;
}

static void Record_dealloc(Record *self) {
    Py_XDECREF(self->type);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Record_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *cls, *names;
    if (kwds != NULL || !PyArg_ParseTuple(args, "O!O!", &PyType_Type, &cls, &PyTuple_Type, &names))
        return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(names);
    if (count > RECORD_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "Record: too many fields");
        return NULL;
    }
    Record *self = (Record *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    Py_INCREF(cls);
    self->type = (PyTypeObject *)cls;
    self->count = count;
    self->vectorcall = Record_vectorcall;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *descriptor = PyObject_GetAttr(cls, PyTuple_GET_ITEM(names, i));
        if (descriptor == NULL) {
            Py_DECREF(self);
            return NULL;
        }
        PyMemberDef *member = PyObject_TypeCheck(descriptor, &PyMemberDescr_Type)
                                  ? ((PyMemberDescrObject *)descriptor)->d_member : NULL;
        if (member == NULL || member->type != T_OBJECT_EX || (member->flags & READONLY)) {
            Py_DECREF(descriptor);
            Py_DECREF(self);
            PyErr_SetString(PyExc_TypeError, "Record: every name an object slot of the class");
            return NULL;
        }
        self->offsets[i] = member->offset;
        Py_DECREF(descriptor);
    }
    return (PyObject *)self;
}

static PyTypeObject RecordType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "service.matching._core.Record",
    .tp_doc = PyDoc_STR("Record(cls, names): record(*values) is a cls with those slots set."),
    .tp_basicsize = sizeof(Record),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = Record_new,
    .tp_dealloc = (destructor)Record_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Record, vectorcall),
};

/* ------------------------------------------------------------------ module */

static PyMethodDef module_methods[] = {
    {"scan", scan_text, METH_VARARGS,
     "scan(rules, text, automaton or None) -> Scan: fold text, search it once."},
    {"find", find_terms, METH_VARARGS,
     "find(automaton, joined) -> {term: [(first, last + 1), ...]} of every term found."},
    {"decide", decide, METH_VARARGS,
     "decide(roles, (scan, ...)) -> (per field {entity: [ranges]}, "
     "[(event, (entities...), ((field, trigger, (mention ranges...)), ...)), ...])."},
    {NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service.matching._core",
    "The classifier's per-article work in C (see service/matching/_core.c).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&RulesType) < 0 || PyType_Ready(&ScanType) < 0 ||
        PyType_Ready(&AutomatonType) < 0 || PyType_Ready(&RecordType) < 0 ||
        PyType_Ready(&RolesType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Rules", (PyObject *)&RulesType) < 0 ||
        PyModule_AddObjectRef(m, "Scan", (PyObject *)&ScanType) < 0 ||
        PyModule_AddObjectRef(m, "Automaton", (PyObject *)&AutomatonType) < 0 ||
        PyModule_AddObjectRef(m, "Record", (PyObject *)&RecordType) < 0 ||
        PyModule_AddObjectRef(m, "Roles", (PyObject *)&RolesType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
