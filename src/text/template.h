/*
 * template.h - Hugging Face chat templates: the Jinja2 subset that the
 * `chat_template` of tokenizer_config.json is written in, rendered the way
 * transformers' apply_chat_template does (Jinja environment with
 * trim_blocks and lstrip_blocks, loop controls, sandboxed: no mutation of
 * lists or dicts other than namespace() attributes).
 *
 * Supported
 *   tags         {{ expr }}, {% if / elif / else / endif %},
 *                {% for x in xs [if cond] %} ... [{% else %}] {% endfor %}
 *                (targets may be unpacked: for k, v in d | items),
 *                {% set x = expr %}, {% set a, b = expr %}, {% set ns.attr = expr %},
 *                {% set x %}...{% endset %}, {% macro m(a, b=1) %}...{% endmacro %},
 *                {% break %}, {% continue %}, {% generation %}...{% endgeneration %},
 *                {# comments #}; whitespace control {%- -%} {{- -}} {#- -#} and
 *                {%+ (no lstrip) / +%} (no trim).
 *   expressions  string / int / float / true / false / none literals, lists,
 *                tuples, dicts; + - * / // % ** ~, == != < <= > >= (chained),
 *                in, not in, and, or, not, `a if c else b`, x.attr, x[i],
 *                x[a:b:c], calls with keyword arguments, filters x | f(args),
 *                tests x is [not] t(args).
 *   loop         loop.index0 index revindex revindex0 first last length
 *                previtem nextitem depth depth0.
 *   filters      trim length count upper lower capitalize title default d
 *                tojson string int float list first last join items replace
 *                safe abs reverse map select reject selectattr rejectattr
 *                unique min max sum
 *   tests        defined undefined none string number integer float boolean
 *                true false mapping iterable sequence callable odd even
 *                divisibleby eq equalto ne lt le gt ge in sameas lower upper
 *   methods      str: strip lstrip rstrip upper lower capitalize title
 *                startswith endswith split replace find join count;
 *                dict: items keys values get
 *   functions    namespace(k=v, ...), range(), raise_exception(msg) (renders
 *                fail with that message), strftime_now(fmt) (strftime of the
 *                time in tpl_render_params.now, UTC; or of the current local
 *                time when now is 0, as transformers does), dict(k=v, ...).
 *
 * Differences from Python Jinja2 (documented, deliberate)
 *   - Strings are UTF-8 bytes; length, indexing and slicing count code
 *     points; upper/lower/capitalize/title change ASCII letters only; trim
 *     and strip remove the characters Python's str.isspace() accepts.
 *   - Integers are 64-bit: an overflow is an error, not a big integer.
 *   - range() gives a list (printed as one); '%' string formatting is an
 *     error (write the text with ~ or +).
 *   - Anything not listed above (include, extends, blocks, call, filter
 *     blocks, recursive loops, raw, unknown filters / tests / tags) is a
 *     parse error that names the construct and the line.
 *   - Renders are bounded: 32 MiB of output, 256 MiB of values, 10 million
 *     steps and 200 levels of nesting; beyond them the render fails with
 *     an error instead of running away.
 *
 * Source handling follows Jinja: \r\n and \r become \n, one trailing
 * newline of the template is dropped (keep_trailing_newline=False).
 *
 * A parsed template is immutable; tpl_render may run on several threads.
 */
#ifndef TRIT_TEMPLATE_H
#define TRIT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>
#include "trit.h"
#include "io/json.h"

typedef struct tpl_template tpl_template;

/* Parses src[0..len). `name` (e.g. "model/tokenizer_config.json
 * chat_template") prefixes every parse and render error, followed by the
 * template line. On failure *out is NULL and err says what and where. */
trit_status tpl_parse(const char *name, const char *src, size_t len,
                      tpl_template **out, trit_error *err);
void tpl_free(tpl_template *t);

/* One chat message. */
typedef struct {
    const char *role;
    const char *content;
} tpl_message;

typedef struct {
    /* the conversation: messages[0..n_messages), or, when messages_json is
     * not NULL, that JSON array of message objects (any fields) instead */
    const tpl_message *messages;
    size_t n_messages;
    const json_value *messages_json;
    int add_generation_prompt;
    /* tokenizer_config.json root or NULL: its string fields become
     * variables (bos_token, eos_token, ...; a special token written as an
     * object becomes its "content"), and so does additional_special_tokens */
    const json_value *config;
    /* more variables (a JSON object, e.g. {"tools": [...]}) or NULL; they
     * take precedence over config */
    const json_value *extra;
    /* when not NULL: bos_token / eos_token, over config and extra */
    const char *bos_token, *eos_token;
    /* time for strftime_now, seconds since the epoch, formatted in UTC;
     * 0: the current local time */
    int64_t now;
} tpl_render_params;

tpl_render_params tpl_default_render_params(void);

/* Renders t. On success *out is a malloc'ed NUL-terminated string of
 * *out_len bytes (caller frees). On failure *out is NULL and err holds the
 * message: the template's raise_exception text, or what went wrong and on
 * which line. */
trit_status tpl_render(const tpl_template *t, const tpl_render_params *p,
                       char **out, size_t *out_len, trit_error *err);

/* The chat template text of a tokenizer_config.json root: the string
 * "chat_template", or from a list of {"name", "template"} the one named
 * "default" (else the first). NULL when there is none. */
const char *tpl_config_template(const json_value *config, size_t *len);

#endif /* TRIT_TEMPLATE_H */
