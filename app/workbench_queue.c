/* workbench_queue.c: see workbench_queue.h. */
#include "workbench_queue.h"

#include <string.h>

void wb_queue_init(wb_queue *q) { memset(q, 0, sizeof *q); }

/* The waiting kinds a new command of kind k makes pointless. */
static unsigned replaces(wb_cmd_kind k)
{
    switch (k) {
    case WB_CMD_PROMPT: return WB_BIT(WB_CMD_PROMPT) | WB_BIT(WB_CMD_SELECT) | WB_BIT(WB_CMD_ITER);
    case WB_CMD_SELECT: return WB_BIT(WB_CMD_SELECT) | WB_BIT(WB_CMD_ITER);
    case WB_CMD_ITER: return WB_BIT(WB_CMD_ITER);
    default: return 0;
    }
}

int wb_queue_push(wb_queue *q, const wb_cmd *c)
{
    unsigned drop = replaces(c->kind);
    if (drop) { /* compact the ring, leaving out what c replaces */
        int n = 0;
        for (int i = 0; i < q->n; i++) {
            const wb_cmd *it = &q->items[(q->head + i) % WB_QUEUE_CAP];
            if (drop & WB_BIT(it->kind)) continue;
            if (n != i) q->items[(q->head + n) % WB_QUEUE_CAP] = *it;
            n++;
        }
        q->n = n;
    }
    if (q->n == WB_QUEUE_CAP) {
        q->dropped++;
        return -1;
    }
    q->items[(q->head + q->n) % WB_QUEUE_CAP] = *c;
    q->n++;
    return 0;
}

int wb_queue_pop(wb_queue *q, wb_cmd *out)
{
    if (q->n == 0) return 0;
    *out = q->items[q->head];
    q->head = (q->head + 1) % WB_QUEUE_CAP;
    q->n--;
    return 1;
}

int wb_queue_has(const wb_queue *q, unsigned kinds)
{
    for (int i = 0; i < q->n; i++)
        if (kinds & WB_BIT(q->items[(q->head + i) % WB_QUEUE_CAP].kind)) return 1;
    return 0;
}
