/* The language detector's feature count in C: py3langid's automaton walk.
 *
 * Why: the detector ran for every article, and counting its byte n-gram
 * features with numpy (six vectorised lookups over the text, then a stable
 * sort to list the features in order of first occurrence) was ~0.04 ms of the
 * ~0.06 ms an article's language cost. Here it is one pass over the bytes.
 *
 * The walk is py3langid's ``visit_counts``, step for step:
 *
 *     state = 0
 *     for byte in text:
 *         state = moves[rowbase[state] + byte]
 *         if outputs[state] >= 0: count outputs[state]
 *
 * and the features come out in the order of their first occurrence (the order
 * of its Counter), so the scores are the same floats
 * (tests/test_language.py holds it to py3langid on real news).
 *
 * ``slots`` is the caller's scratch, one int32 per feature, all -1 between
 * calls: a feature's place in the output while a text is counted. Every slot
 * this call sets is reset before it returns, and the GIL is held throughout,
 * so one scratch serves every call of a process.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static int int_buffer(PyObject *object, Py_buffer *view, Py_ssize_t itemsize, int writable,
                      const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) < 0) {
        return -1;
    }
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: items of %zd bytes expected, got %zd", name,
                     itemsize, view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *count_features(PyObject *module, PyObject *args) {
    PyObject *moves_object, *rowbase_object, *outputs_object, *slots_object, *text_object;
    PyObject *features_object, *counts_object;
    if (!PyArg_ParseTuple(args, "OOOOOOO:count_features", &moves_object, &rowbase_object,
                          &outputs_object, &slots_object, &text_object, &features_object,
                          &counts_object)) {
        return NULL;
    }
    Py_buffer views[7];
    PyObject *objects[7] = {moves_object, rowbase_object, outputs_object, slots_object,
                            text_object, features_object, counts_object};
    const Py_ssize_t sizes[7] = {4, 4, 4, 4, 1, sizeof(Py_ssize_t), sizeof(Py_ssize_t)};
    const int writable[7] = {0, 0, 0, 1, 0, 1, 1};
    const char *names[7] = {"moves", "rowbase", "outputs", "slots", "text", "features",
                            "counts"};
    int taken = 0;
    for (; taken < 7; taken++) {
        if (int_buffer(objects[taken], &views[taken], sizes[taken], writable[taken],
                       names[taken]) < 0) {
            for (int i = 0; i < taken; i++) {
                PyBuffer_Release(&views[i]);
            }
            return NULL;
        }
    }
    const uint32_t *moves = views[0].buf, *rowbase = views[1].buf;
    const int32_t *outputs = views[2].buf;
    int32_t *slots = views[3].buf;
    const unsigned char *text = views[4].buf;
    Py_ssize_t *features = views[5].buf, *counts = views[6].buf;
    const Py_ssize_t n_moves = views[0].len / 4, n_states = views[1].len / 4;
    const Py_ssize_t n_outputs = views[2].len / 4, n_slots = views[3].len / 4;
    const Py_ssize_t length = views[4].len;
    Py_ssize_t found = 0;
    const char *problem = NULL;
    if (views[5].len / (Py_ssize_t)sizeof(Py_ssize_t) < length ||
        views[6].len / (Py_ssize_t)sizeof(Py_ssize_t) < length) {
        problem = "features and counts need room for one entry per byte";
    }
    uint32_t state = 0;
    for (Py_ssize_t i = 0; problem == NULL && i < length; i++) {
        if (state >= (uint64_t)n_states) {
            problem = "the automaton names a state it does not have";
            break;
        }
        uint64_t move = (uint64_t)rowbase[state] + text[i];
        if (move >= (uint64_t)n_moves) {
            problem = "the automaton moves outside its table";
            break;
        }
        state = moves[move];
        if (state >= (uint64_t)n_outputs) {
            problem = "the automaton names a state without an output";
            break;
        }
        int32_t feature = outputs[state];
        if (feature < 0) {
            continue;
        }
        if (feature >= n_slots) {
            problem = "a feature outside the scratch";
            break;
        }
        int32_t slot = slots[feature];
        if (slot < 0) {
            slot = slots[feature] = (int32_t)found;
            features[found] = feature;
            counts[found++] = 0;
        }
        counts[slot]++;
    }
    for (Py_ssize_t i = 0; i < found; i++) { /* the scratch is all -1 again */
        slots[features[i]] = -1;
    }
    for (int i = 0; i < 7; i++) {
        PyBuffer_Release(&views[i]);
    }
    if (problem != NULL) {
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    return PyLong_FromSsize_t(found);
}

static PyMethodDef methods[] = {
    {"count_features", count_features, METH_VARARGS,
     "count_features(moves, rowbase, outputs, slots, text, features, counts) -> n\n\n"
     "Walk py3langid's automaton over the bytes of text; features[:n] are the features\n"
     "seen in order of first occurrence and counts[:n] how often each was."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_language",
    "py3langid's feature count (automaton walk) in C: see service/language.py.", -1, methods,
};

PyMODINIT_FUNC PyInit__language(void) { return PyModule_Create(&module); }
