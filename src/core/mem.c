#include "core/mem.h"

#include <pthread.h>
#include <stdlib.h>

void *gcomp_aligned_alloc(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, GCOMP_ALIGNMENT, size ? GCOMP_ALIGN_UP(size, GCOMP_ALIGNMENT) : GCOMP_ALIGNMENT) != 0)
        return NULL;
    return p;
}

void gcomp_aligned_free(void *ptr)
{
    free(ptr);
}

gcomp_status_t gcomp_scratch_reserve(gcomp_scratch_t *s, size_t size)
{
    if (s->size >= size && s->ptr != NULL) return GCOMP_OK;
    size_t grown = s->size + s->size / 2;
    size_t want = size > grown ? size : grown;
    void *p = s->alloc != NULL ? s->alloc(want) : gcomp_aligned_alloc(want);
    if (p == NULL) return GCOMP_ERR_NOMEM;
    if (s->release != NULL) s->release(s->ptr);
    else gcomp_aligned_free(s->ptr);
    s->ptr = p;
    s->size = want;
    return GCOMP_OK;
}

void gcomp_scratch_free(gcomp_scratch_t *s)
{
    if (s->release != NULL) s->release(s->ptr);
    else gcomp_aligned_free(s->ptr);
    s->ptr = NULL;
    s->size = 0;
}

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    gcomp_scratch_free(p);
    free(p);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_destroy);
}

gcomp_scratch_t *gcomp_thread_scratch(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    gcomp_scratch_t *s = pthread_getspecific(scratch_key);
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) return NULL;
        pthread_setspecific(scratch_key, s);
    }
    return s;
}
