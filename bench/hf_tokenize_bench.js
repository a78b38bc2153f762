// hf_tokenize_bench.js - encode throughput of Hugging Face `tokenizers` (the
// npm package: Node bindings over the Rust library) on a text file, to set
// beside bench/bench_tokenize.c. MB/s = 10^6 bytes of input per second, the
// median of N runs after one warm-up:
//   file   - encode(text): the whole file in one call
//   lines  - encodeBatch(lines): one batch of every line (each keeps its '\n')
//   lines1 - encode(line) one call after another
// Single thread: run it with RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
// (the script sets them too, before loading the module).
//
//   node bench/hf_tokenize_bench.js MODULE TOKENIZER FILE [-r RUNS] [--ids-out PREFIX]
//
// MODULE: path of the installed package (e.g. build/npm/hf/node_modules/tokenizers).
// TOKENIZER: a tokenizer.json, or a directory holding one, or a directory
// with GPT-2's encoder.json + vocab.bpe (then the standard GPT-2 tokenizer is
// built: BPE + ByteLevel pre-tokenizer without prefix space).
// Beside the wall-clock median, the median CPU time of the process (all its
// threads: the work runs on one libuv worker while the main thread waits)
// is given as "cpu MB/s", the steadier figure on a shared machine.
// --ids-out writes PREFIX.file.ids and PREFIX.lines.ids (space-separated ids
// on one line), as bench_tokenize does, to check that both give the same ids.
'use strict';
process.env.RAYON_NUM_THREADS = process.env.RAYON_NUM_THREADS || '1';
process.env.RAYON_RS_NUM_CPUS = process.env.RAYON_RS_NUM_CPUS || '1';
process.env.TOKENIZERS_PARALLELISM = process.env.TOKENIZERS_PARALLELISM || 'false';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
let runs = 5, idsOut = null;
const pos = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '-r') runs = +args[++i];
  else if (args[i] === '--ids-out') idsOut = args[++i];
  else pos.push(args[i]);
}
if (pos.length !== 3 || !(runs >= 1)) {
  console.error('usage: node hf_tokenize_bench.js MODULE TOKENIZER FILE [-r RUNS] [--ids-out PREFIX]');
  process.exit(2);
}
const [moduleDir, tokPath, file] = pos;
const hf = require(path.resolve(moduleDir));

async function load(p) {
  if (fs.statSync(p).isFile()) return hf.Tokenizer.fromFile(p);
  if (fs.existsSync(path.join(p, 'tokenizer.json'))) return hf.Tokenizer.fromFile(path.join(p, 'tokenizer.json'));
  const model = await hf.BPE.fromFile(path.join(p, 'encoder.json'), path.join(p, 'vocab.bpe'));
  const tok = new hf.Tokenizer(model);
  tok.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
  tok.addSpecialTokens(['<|endoftext|>']);
  return tok;
}

const median = xs => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const t0 = process.hrtime.bigint();
  const tok = await load(tokPath);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const bytes = fs.readFileSync(file);
  const text = bytes.toString('utf8');
  const lines = text.split(/(?<=\n)/);
  console.log(`tokenizer ${tokPath} (${tok.getVocabSize(true)} ids), loaded in ${(loadMs / 1e3).toFixed(3)} s`);
  console.log(`file ${file}: ${bytes.length} bytes, ${lines.length} lines; HF tokenizers, ` +
              `RAYON_NUM_THREADS=${process.env.RAYON_NUM_THREADS}, median of ${runs} runs`);
  const opts = { addSpecialTokens: false };
  const modes = {
    file: async () => [(await tok.encode(text, null, opts)).getIds()],
    lines: async () => (await tok.encodeBatch(lines, opts)).map(e => e.getIds()),
    lines1: async () => {
      const out = [];
      for (const l of lines) out.push((await tok.encode(l, null, opts)).getIds());
      return out;
    },
  };
  for (const [name, fn] of Object.entries(modes)) {
    let ids = await fn(); // warm-up
    const ms = [], cpu = [];
    for (let r = 0; r < runs; r++) {
      const a = process.hrtime.bigint(), c = process.cpuUsage();
      ids = await fn();
      ms.push(Number(process.hrtime.bigint() - a) / 1e6);
      const d = process.cpuUsage(c);
      cpu.push((d.user + d.system) / 1e3);
    }
    const n = ids.reduce((s, x) => s + x.length, 0);
    const med = median(ms), cmed = median(cpu);
    console.log(`hf   ${name.padEnd(13)} ${String(n).padStart(9)} ids  ${med.toFixed(1).padStart(8)} ms  ` +
                `${(bytes.length / med / 1e3).toFixed(2).padStart(7)} MB/s  ` +
                `cpu ${(bytes.length / cmed / 1e3).toFixed(2).padStart(7)} MB/s  ` +
                `(wall min ${Math.min(...ms).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms)`);
    if (idsOut && name !== 'lines1') fs.writeFileSync(`${idsOut}.${name}.ids`, ids.flat().join(' ') + '\n');
  }
}
main().catch(e => { console.error(e.stack || String(e)); process.exit(1); });
