#!/usr/bin/env node
// node-cli: a small Node app packed with its own Node runtime (see ../README.md).
//
// Everything it needs is found relative to this file (__dirname), never the working directory:
// a data file, and a helper script it runs with the very runtime that runs it (process.execPath,
// i.e. runtime/bin/node inside the tree).
//
//   node-cli greet [NAME]   read data/greeting.txt, ask the helper, print both
//   node-cli wait DIR       write DIR/ready (the pid) and wait; log each SIGHUP/SIGINT/SIGTERM
//                           to DIR/log and exit with 128+n half a second after the first one
//                           (so a duplicate would be logged)
//   node-cli idle DIR       write DIR/ready and wait with the default signal actions (a hang-up
//                           ends it)
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

function greet(name) {
  const greeting = fs.readFileSync(path.join(__dirname, 'data', 'greeting.txt'), 'utf8').trim();
  const helper = spawnSync(process.execPath, [path.join(__dirname, 'helper.js'), name], { encoding: 'utf8' });
  if (helper.error || helper.status !== 0) {
    process.stderr.write(`node-cli: the helper failed: ${helper.error || helper.stderr}\n`);
    return 1;
  }
  process.stdout.write(`${greeting}, ${name}!\n`);
  process.stdout.write(helper.stdout);
  process.stdout.write(`runtime: node ${process.version} at ${process.execPath}\n`);
  return 0;
}

function wait(dir, handle) {
  if (!dir) {
    process.stderr.write('usage: node-cli wait DIR | node-cli idle DIR\n');
    return 64;
  }
  const numbers = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
  if (handle) {
    for (const [signal, n] of Object.entries(numbers)) {
      process.on(signal, () => {
        fs.appendFileSync(path.join(dir, 'log'), `${signal}\n`);
        setTimeout(() => process.exit(128 + n), 500);
      });
    }
  }
  fs.writeFileSync(path.join(dir, 'ready.tmp'), `${process.pid}\n`);
  fs.renameSync(path.join(dir, 'ready.tmp'), path.join(dir, 'ready'));
  setInterval(() => {}, 1 << 30);
  return null;
}

function main(args) {
  switch (args[0]) {
    case 'greet':
      return greet(args[1] || 'world');
    case 'wait':
      return wait(args[1], true);
    case 'idle':
      return wait(args[1], false);
    default:
      process.stderr.write('usage: node-cli greet [NAME] | node-cli wait DIR | node-cli idle DIR\n');
      return 64;
  }
}

const code = main(process.argv.slice(2));
if (code !== null) process.exitCode = code;
