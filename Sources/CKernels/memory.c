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
