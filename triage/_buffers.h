/* Argument buffers for the compiled kernels (triage/_kernels.c, triage/_segment.c): C-contiguous arrays of 8-byte
 * items whose dtype is checked, so a wrong array raises TypeError instead of being read as something else. */
#ifndef TRIAGE_BUFFERS_H
#define TRIAGE_BUFFERS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The C-contiguous buffer of `obj`, of 8-byte items whose format is one of `kinds` ("d": float64; "lq": int64). */
static int
get_buffer(PyObject *obj, Py_buffer *view, const char *name, const char *kinds, int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    const char *fmt = view->format ? view->format : "B";
    if (fmt[0] == '<' || fmt[0] == '=' || fmt[0] == '@')
        fmt++;
    if (view->itemsize != 8 || fmt[0] == '\0' || fmt[1] != '\0' || !strchr(kinds, fmt[0])) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous array of %s", name,
                     kinds[0] == 'd' ? "float64" : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* The buffers of several arguments, as get_buffer takes them; *got counts those obtained (release them all). */
typedef struct {
    PyObject *obj;
    const char *name, *kinds;
    int writable;
} BufferSpec;

static int
get_buffers(const BufferSpec *specs, int n, Py_buffer *views, int *got)
{
    for (*got = 0; *got < n; (*got)++)
        if (get_buffer(specs[*got].obj, &views[*got], specs[*got].name, specs[*got].kinds, specs[*got].writable) < 0)
            return -1;
    return 0;
}

static void
release_buffers(Py_buffer *views, int got)
{
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
}

#endif
