// Runs a TypeScript entry point (`node tools/run.mjs <file.ts> [args]`) after
// checking that this Node can: Lectern runs .ts files directly, which needs
// Node 24, and an older Node only says ERR_UNKNOWN_FILE_EXTENSION. Plain
// JavaScript that any Node parses, so the check itself cannot be the crash.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `Lectern needs Node.js 24 or newer; this is Node ${process.versions.node} (${process.execPath}).\n` +
      '  ./dev start         installs Node 24 for this project (under ~/.cache/lectern) and starts it\n' +
      '  or put Node 24 first on PATH: export PATH="$(infra/local/node.sh):$PATH"\n',
  );
  process.exit(1);
}
const entry = process.argv[2];
if (!entry) {
  process.stderr.write('usage: node tools/run.mjs <file.ts> [args]\n');
  process.exit(2);
}
// The entry sees its own arguments as if started directly: argv[1] is the file.
process.argv.splice(1, 2, resolve(entry));
await import(pathToFileURL(resolve(entry)).href);
