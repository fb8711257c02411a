/* gguf_mmap.c: read-only mapping of a whole model file (GGUF, llama2.c),
 * so that the parsers check offsets against the real size and read only
 * what they validated. */
#define _GNU_SOURCE
#include "io/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

rb_status rb_map_file(rb_mapped_file *m, const char *path, rb_error *err)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rb_fail(err, RB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rb_fail(err, RB_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rb_fail(err, RB_EIO, "%s: not a regular file", path);
    }
    if (st.st_size <= 0) {
        close(fd);
        return rb_fail(err, RB_EFORMAT, "%s: the file is empty", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return rb_fail(err, RB_EUNSUPPORTED, "%s: the file is too large to map", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (p == MAP_FAILED)
        return rb_fail(err, RB_EIO, "%s: cannot map %lld bytes: %s", path,
                       (long long)st.st_size, strerror(e));
    m->map = p;
    m->map_size = (size_t)st.st_size;
    m->data = p;
    m->size = (size_t)st.st_size;
    return RB_OK;
}

void rb_unmap_file(rb_mapped_file *m)
{
    if (m && m->map) munmap(m->map, m->map_size);
    if (m) memset(m, 0, sizeof *m);
}
