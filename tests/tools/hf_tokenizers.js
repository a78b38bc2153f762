// hf_tokenizers.js - Hugging Face `tokenizers` (npm package, the Rust library)
// as the reference for the tokenizer training tests (tests/cli_tokenizer_train.sh).
//
//   node hf_tokenizers.js MODULE encode TOKENIZER_JSON CORPUS_JSON TEXT_FILE SEP OUT
//       writes OUT.txt: every corpus case's bytes (raw cases too) and
//       TEXT_FILE's, joined by the special token SEP (which cuts the text, so
//       each case is encoded on its own), and OUT.ids: the ids HF gives it
//   node hf_tokenizers.js MODULE train TEXT_FILE gpt2|llama3 OUT_JSON
//       trains with HF's BpeTrainer (the defaults the Node binding uses:
//       vocab 30000, min_frequency 0, no initial alphabet, no specials) under
//       pre-tokenizer Sequence[Split(regex, Isolated), ByteLevel]
//   node hf_tokenizers.js MODULE compare HF_JSON OURS_JSON
//       compares the merges (as strings) over the shorter list, the merge
//       counts, and the vocabulary order (ours without the byte tokens the text
//       never uses, which HF leaves out without an initial alphabet); prints
//       one line, exits 1 on a difference
// MODULE is the path of the installed `tokenizers` package.
'use strict';
const fs = require('fs');
const [moduleDir, cmd, ...args] = process.argv.slice(2);

const PATTERNS = {
  gpt2: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  llama3: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

async function encode([tokJson, corpusJson, textFile, sep, out]) {
  const hf = require(moduleDir);
  const tok = hf.Tokenizer.fromFile(tokJson);
  const corpus = JSON.parse(fs.readFileSync(corpusJson, 'utf8'));
  const texts = corpus.cases.map(c => Buffer.from(c.text, 'utf8'));
  for (const c of corpus.raw_cases || []) texts.push(Buffer.from(c.hex, 'hex'));
  texts.push(fs.readFileSync(textFile));
  const sepBuf = Buffer.from(sep, 'utf8');
  const all = Buffer.concat(texts.flatMap((t, i) => (i ? [sepBuf, t] : [t])));
  fs.writeFileSync(out + '.txt', all);
  // invalid UTF-8 becomes U+FFFD per maximal subpart, as trit reads it
  const enc = await tok.encode(all.toString('utf8'), null, { addSpecialTokens: false });
  fs.writeFileSync(out + '.ids', enc.getIds().join(' ') + '\n');
  console.log(`${texts.length} texts, ${all.length} bytes, ${enc.getIds().length} ids`);
}

function train([textFile, patName, outJson]) {
  const hf = require(moduleDir);
  const pat = PATTERNS[patName];
  if (!pat) throw new Error('unknown pattern ' + patName);
  const cfg = {
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: pat }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: null, decoder: null,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
             end_of_word_suffix: null, fuse_unk: false, byte_fallback: false,
             ignore_merges: false, vocab: {}, merges: [] },
  };
  const tok = hf.Tokenizer.fromString(JSON.stringify(cfg));
  tok.train([textFile]);
  tok.save(outJson, false);
}

function compare([hfJson, oursJson]) {
  const a = JSON.parse(fs.readFileSync(hfJson, 'utf8'));
  const b = JSON.parse(fs.readFileSync(oursJson, 'utf8'));
  const str = m => (Array.isArray(m) ? m.join(' ') : m);
  const ma = a.model.merges.map(str), mb = b.model.merges.map(str);
  const n = Math.min(ma.length, mb.length);
  let diff = -1;
  for (let i = 0; i < n && diff < 0; i++) if (ma[i] !== mb[i]) diff = i;
  const byId = v => Object.entries(v).sort((x, y) => x[1] - y[1]).map(x => x[0]);
  const va = byId(a.model.vocab);
  const hfHas = new Set(va);
  const nBase = 256 + (b.added_tokens || []).length;
  const vb = byId(b.model.vocab).filter((t, i) => i >= nBase || hfHas.has(t));
  let vdiff = -1;
  for (let i = 0; i < Math.min(va.length, vb.length) && vdiff < 0; i++) if (va[i] !== vb[i]) vdiff = i;
  console.log(`merges: HF ${ma.length}, ours ${mb.length}, first difference ${diff}; ` +
              `vocab: first order difference ${vdiff}`);
  if (diff >= 0) console.log(`  merge ${diff}: HF [${ma[diff]}], ours [${mb[diff]}]`);
  if (vdiff >= 0) console.log(`  vocab ${vdiff}: HF [${va[vdiff]}], ours [${vb[vdiff]}]`);
  process.exit(diff < 0 && vdiff < 0 ? 0 : 1);
}

const cmds = { encode, train, compare };
if (!cmds[cmd]) {
  console.error('usage: node hf_tokenizers.js MODULE encode|train|compare ...');
  process.exit(2);
}
Promise.resolve(cmds[cmd](args)).catch(e => { console.error(e.stack || String(e)); process.exit(1); });
