// malloc policy for large activation blocks (glibc).
#include "CKernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int ck_malloc_keep_large_blocks(int bytes) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, bytes) == 1 && mallopt(M_TRIM_THRESHOLD, bytes) == 1;
#else
    (void)bytes;
    return 0;
#endif
}

void ck_malloc_release_large_blocks(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);   // where glibc's dynamic threshold ends up (DEFAULT_MMAP_THRESHOLD_MAX)
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    malloc_trim(0);
#endif
}
