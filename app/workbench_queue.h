/* workbench_queue.h: the commands the UI thread posts to the worker, and
 * the fixed-size queue that holds them (no locking here: the workbench
 * guards it with its queue mutex).
 *
 * Commands that only matter in their latest form replace a waiting one:
 * a new prompt drops a waiting prompt and the selections made for the old
 * answers; a selection drops a waiting selection and iteration; an
 * iteration drops a waiting iteration. So holding an arrow key down never
 * piles up engine work, and the worker always answers the newest request. */
#ifndef RB_WORKBENCH_QUEUE_H
#define RB_WORKBENCH_QUEUE_H

#include "vw_snapshot.h"

typedef enum {
    WB_CMD_NONE = 0,
    WB_CMD_PROMPT,      /* text: answer at every depth; row/token: the selection to trace */
    WB_CMD_SELECT,      /* row, token: trace this token; iter: the iteration shown */
    WB_CMD_ITER,        /* row, token, iter: the top tokens at this iteration first */
    WB_CMD_PAUSE,       /* pause or resume training (handled by the workbench itself) */
    WB_CMD_SAVE,        /* save a checkpoint now */
    WB_CMD_RELOAD,      /* load the run's newest checkpoint */
    WB_CMD_AUTO_RELOAD, /* toggle loading new checkpoints as they appear */
    WB_CMD_LUA,         /* text: a Lua line for the experiment */
    WB_CMD_KIND_COUNT
} wb_cmd_kind;
#define WB_BIT(k) (1u << (k))

typedef struct {
    wb_cmd_kind kind;
    int row, token, iter;
    char text[VW_PROMPT_BYTES];
} wb_cmd;

#define WB_QUEUE_CAP 32

typedef struct {
    wb_cmd items[WB_QUEUE_CAP]; /* ring */
    int head, n;
    long long dropped;          /* commands refused because the queue was full */
} wb_queue;

void wb_queue_init(wb_queue *q);
/* Add c (after dropping the waiting commands it replaces). Returns 0, or
 * -1 when the queue is full (c is dropped and counted). */
int wb_queue_push(wb_queue *q, const wb_cmd *c);
/* Take the oldest command; returns 0 when the queue is empty. */
int wb_queue_pop(wb_queue *q, wb_cmd *out);
/* Whether a command of one of these kinds (WB_BIT mask) is waiting. */
int wb_queue_has(const wb_queue *q, unsigned kinds);

#endif
