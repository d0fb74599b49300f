#!/usr/bin/env node
// Runs an UpscalerJS ESRGAN layers model with pure-JS TF.js (cpu backend) and writes the output.
// Dev tool for Kintsugi's parity tests; not part of the shipped package.
//
// usage: node run.js MODEL_DIR INPUT.f32 HEIGHT WIDTH OUTPUT.f32
//   MODEL_DIR   folder holding model.json and its group1-shard* files (extracted from the npm tarball)
//   INPUT.f32   raw little-endian float32, HWC RGB, values in [0, 1] (the package's inputRange)
//   OUTPUT.f32  written as raw little-endian float32, (s*H, s*W, 3) HWC, unclamped
// Prints {"shape": [...]} as JSON on stdout.
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

// The two custom layers UpscalerJS registers for its ESRGAN models (see the package's
// packages/shared/src/esrgan/esrgan.js): a fixed 0.2 residual scale and a depthToSpace.
const BETA = 0.2;

class MultiplyBeta extends tf.layers.Layer {
  static className = 'MultiplyBeta';
  call(inputs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.mul(x, BETA);
  }
}

function pixelShuffleClass(scale) {
  return class extends tf.layers.Layer {
    static className = `PixelShuffle${scale}x`;
    computeOutputShape(inputShape) {
      return [inputShape[0], inputShape[1], inputShape[2], 3];
    }
    call(inputs) {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.depthToSpace(x, scale, 'NHWC');
    }
  };
}

// A minimal file IOHandler: tfjs-node's file:// handler is not available with pure tfjs.
function fileHandler(modelDir) {
  return {
    load: async () => {
      const modelJson = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
      const weightSpecs = [];
      const buffers = [];
      for (const group of modelJson.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const shard of group.paths) {
          buffers.push(fs.readFileSync(path.join(modelDir, shard)));
        }
      }
      const joined = Buffer.concat(buffers);
      const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
      return {
        modelTopology: modelJson.modelTopology,
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy,
        weightSpecs,
        weightData,
      };
    },
  };
}

async function main() {
  const [modelDir, inputPath, h, w, outputPath] = process.argv.slice(2);
  if (!outputPath) {
    process.stderr.write('usage: node run.js MODEL_DIR INPUT.f32 HEIGHT WIDTH OUTPUT.f32\n');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  for (const scale of [2, 3, 4, 8]) {
    tf.serialization.registerClass(pixelShuffleClass(scale));
  }
  tf.serialization.registerClass(MultiplyBeta);

  const model = await tf.loadLayersModel(fileHandler(modelDir));
  const raw = fs.readFileSync(inputPath);
  const pixels = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const input = tf.tensor4d(pixels, [1, Number(h), Number(w), 3]);
  const output = model.predict(input);
  const data = await output.data();
  fs.writeFileSync(outputPath, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  process.stdout.write(JSON.stringify({ shape: output.shape.slice(1), backend: tf.getBackend() }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
