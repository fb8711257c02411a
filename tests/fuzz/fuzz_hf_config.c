/* fuzz_hf_config.c: libFuzzer target for the JSON configuration readers:
 * Hugging Face config.json (rb_hf_config_parse) and the retrobench
 * checkpoint config (rb_config_from_json). Any input is either refused
 * with a message or accepted; an accepted configuration must be written
 * back (rb_hf_config_to_json / rb_config_to_json) and read again to the
 * identical rb_config. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rb_io.h"
#include "rb_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rb_error err = {0};
    rb_hf_config hc, back;
    if (rb_hf_config_parse((const char *)data, size, "config.json", &hc, &err) == RB_OK) {
        char *j = rb_hf_config_to_json(&hc.cfg, hc.bos_id, hc.n_eos ? hc.eos_ids[0] : -1, &err);
        if (!j) abort();
        if (rb_hf_config_parse(j, strlen(j), "again", &back, &err) != RB_OK) abort();
        if (memcmp(&hc.cfg, &back.cfg, sizeof hc.cfg) != 0) abort();
        if (back.bos_id != hc.bos_id) abort();
        free(j);
    } else if (!err.msg[0]) {
        abort();
    }

    /* The same bytes as a checkpoint config (a NUL-terminated string). */
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    rb_config c, c2;
    if (rb_config_from_json(s, &c, "config", &err) == RB_OK) {
        char *j = rb_config_to_json(&c);
        if (!j) abort();
        if (rb_config_from_json(j, &c2, "again", &err) != RB_OK) abort();
        if (memcmp(&c, &c2, sizeof c) != 0) abort();
        free(j);
    }
    free(s);
    return 0;
}
