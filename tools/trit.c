/*
 * trit.c - the `trit` command line: dispatches to subcommands.
 */
#include <stdio.h>
#include <string.h>
#include "cli.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} subcommand;

static const subcommand cmds[] = {
    {"generate", cmd_generate, "generate text from a prompt (-m DIR -p TEXT | --ids \"1 2 3\")"},
    {"chat", cmd_chat, "chat interactively with the model's chat template (-m DIR [--system TEXT] [-n N])"},
    {"logits", cmd_logits, "write float32 logits of every position to a file (-m DIR --ids ... -o FILE)"},
    {"tokenize", cmd_tokenize, "print the token ids of stdin (-m PATH [--bos] [--special])"},
    {"detokenize", cmd_detokenize, "print the text of token ids (-m PATH --ids \"1 2 3\" [--special])"},
    {"perplexity", cmd_perplexity, "perplexity on a text file, as llama-perplexity (-m DIR -f FILE [-c 512] [--chunks N])"},
    {"info", cmd_info, "describe a model: architecture, sizes, formats, memory (-m DIR)"},
    {"bench", cmd_bench, "prompt and generation speed, like llama-bench (-m DIR [-p 128 -n 64 -r 3 --json])"},
    {"tokenizer", cmd_tokenizer, "train a byte-level BPE tokenizer (train --vocab-size N -o DIR FILES...)"},
    {"train", cmd_train, "train a ternary model on text (-o RUN_DIR --tokenizer PATH --data FILES [--resume])"},
    {"export", cmd_export, "write a trained model as a Hugging Face folder (--checkpoint RUN_DIR -o DIR)"},
    {"synth", cmd_synth, "write a random-weight checkpoint of a known shape (--shape 2b4t -o DIR)"},
};

static void usage(FILE *f) {
    fprintf(f, "trit %s - ternary and binary neural networks\n\nusage: trit <command> [options]\n\ncommands:\n",
            TRIT_VERSION);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\n`trit <command> -h` shows the options of a command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("trit %s (kernels: %s)\n", TRIT_VERSION, trit_isa_name());
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "trit: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 1;
}
