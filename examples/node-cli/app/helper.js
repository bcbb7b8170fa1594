// Run by main.js with the bundled runtime: proves a packed app can spawn files of its own tree.
'use strict';
process.stdout.write(`helper: ${require('node:path').basename(__filename)} says hi to ${process.argv[2]}\n`);
