#!/usr/bin/env node
// Turns one model folder of the npm package nsfwjs (dist/models/<model>/: model.min.js + group1-shard*.min.js, all
// browserify/UMD JavaScript modules) into a standard TensorFlow.js "layers-model" folder that doppel's Keras
// importer reads:
//
//   node scripts/nsfwjs-to-layers-model.js SRC_DIR DEST_DIR
//
//   DEST_DIR/model.json             {format, generatedBy, convertedBy, modelTopology, weightsManifest}
//   DEST_DIR/group1-shardNofM.bin   the decoded weight bytes (uint8-quantised, as the package stores them)
//
// Why Node: model.min.js holds the topology as a JavaScript object literal (unquoted keys, `!0`/`!1` booleans), not
// JSON, and each shard module returns a base64 string. require() evaluates both exactly as the browser would.
// Invariants checked before anything is written:
//   - each shard's base64 is decoded on its own (each carries its own `=` padding), then the bytes are concatenated
//     in the order of weightsManifest[g].paths;
//   - the weights of a group, back to back in manifest order, fill its bytes exactly (sum of prod(shape) times the
//     (quantised) dtype size == decoded byte count).
// The output is written to a temporary folder and renamed into place, so DEST_DIR is either complete or absent.
'use strict';

const fs = require('fs');
const path = require('path');

function die(msg) {
  process.stderr.write(`nsfwjs-to-layers-model: ${msg}\n`);
  process.exit(1);
}

const BYTES = {float32: 4, int32: 4, uint16: 2, uint8: 1, bool: 1};

function main() {
  const [src, dest] = process.argv.slice(2);
  if (!src || !dest) die('usage: node nsfwjs-to-layers-model.js SRC_DIR DEST_DIR');
  const srcAbs = path.resolve(src);
  const modelJs = path.join(srcAbs, 'model.min.js');
  if (!fs.existsSync(modelJs)) die(`${modelJs}: not found`);

  let model;
  try {
    model = require(modelJs);
  } catch (e) {
    die(`${modelJs}: require() failed: ${e.message}`);
  }
  if (!model || typeof model !== 'object' || !model.modelTopology || !Array.isArray(model.weightsManifest))
    die(`${modelJs}: the module does not export {modelTopology, weightsManifest}`);

  const manifest = [];
  const shards = [];  // [{name, bytes}]
  model.weightsManifest.forEach((group, g) => {
    const paths = group.paths || [];
    if (paths.length === 0) die(`${modelJs}: weightsManifest[${g}] has no paths`);
    const buffers = paths.map((p) => {
      // The manifest names a shard "group1-shard1of1"; the package ships it as "group1-shard1of1.min.js".
      const base = path.join(srcAbs, path.basename(p));
      const file = [`${base}.min.js`, `${base}.js`, base].find((f) => fs.existsSync(f));
      if (!file) die(`${base}.min.js: shard listed in weightsManifest[${g}].paths is missing`);
      let b64;
      try {
        b64 = require(file);
      } catch (e) {
        die(`${file}: require() failed: ${e.message}`);
      }
      if (typeof b64 !== 'string') die(`${file}: the module does not export a string`);
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
        die(`${file}: the exported string is not standard base64`);
      return Buffer.from(b64, 'base64');
    });
    const total = buffers.reduce((n, b) => n + b.length, 0);
    let need = 0;
    for (const w of group.weights) {
      const dtype = w.quantization ? w.quantization.dtype : w.dtype;
      if (!(dtype in BYTES)) die(`${modelJs}: weight ${w.name}: unknown dtype ${dtype}`);
      need += w.shape.reduce((n, d) => n * d, 1) * BYTES[dtype];
    }
    if (need !== total)
      die(`${modelJs}: weightsManifest[${g}] needs ${need} bytes but its ${paths.length} shard(s) decode to ${total}`);
    const names = buffers.map((b, i) => `group${g + 1}-shard${i + 1}of${buffers.length}.bin`);
    buffers.forEach((b, i) => shards.push({name: names[i], bytes: b}));
    manifest.push({paths: names, weights: group.weights});
  });

  const out = {
    format: 'layers-model',
    generatedBy: model.modelTopology.keras_version ? `keras v${model.modelTopology.keras_version}` : 'keras',
    convertedBy: 'doppel scripts/nsfwjs-to-layers-model.js from the npm package nsfwjs',
    modelTopology: model.modelTopology,
    weightsManifest: manifest,
  };

  const destAbs = path.resolve(dest);
  const tmp = `${destAbs}.tmp-${process.pid}`;
  fs.rmSync(tmp, {recursive: true, force: true});
  fs.mkdirSync(tmp, {recursive: true});
  fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(out));
  for (const s of shards) fs.writeFileSync(path.join(tmp, s.name), s.bytes);
  fs.rmSync(destAbs, {recursive: true, force: true});
  fs.renameSync(tmp, destAbs);
  const bytes = shards.reduce((n, s) => n + s.bytes.length, 0);
  process.stderr.write(`nsfwjs-to-layers-model: ${destAbs}: model.json + ${shards.length} shard(s), ${bytes} bytes\n`);
}

main();
