// `npm run bench`: runs every bench script in this directory (each *.mjs but
// this one, in name order), prints one table of all their results, and saves
// each bench's full record as bench/out/<name>.json.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { describeBuild } from './lib/build-info.mjs';
import { describeCommand, describeMachine } from './lib/machine.mjs';
import { formatTable } from './lib/table.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(benchDir, 'out');

function benchScripts() {
  return fs
    .readdirSync(benchDir)
    .filter((file) => file.endsWith('.mjs') && file !== path.basename(fileURLToPath(import.meta.url)))
    .sort();
}

/** The bench column, then every bench's own columns, each key once. */
function unionOfColumns(reports) {
  const columns = [{ key: 'bench', title: 'bench' }];
  for (const report of reports) {
    for (const column of report.columns) {
      if (!columns.some((known) => known.key === column.key)) columns.push(column);
    }
  }
  return columns;
}

function saveRecord(benchName, record) {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${benchName}.json`);
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return path.relative(process.cwd(), file);
}

async function main() {
  const machine = describeMachine();
  const command = describeCommand();
  const build = describeBuild();
  const reports = [];
  for (const script of benchScripts()) {
    const bench = await import(pathToFileURL(path.join(benchDir, script)).href);
    // Progress goes to stderr so that stdout is just the report.
    const report = await bench.run({ log: (line) => console.error(line) });
    const saved = saveRecord(bench.name, { bench: bench.name, date: new Date().toISOString(), machine, build, command, ...report.json });
    reports.push({ name: bench.name, saved, ...report });
  }

  console.log(`machine: ${machine.cpu}, nproc ${machine.nproc}, node ${machine.node}, ${machine.kernel}, load average ${machine.loadAverage} at start`);
  console.log(machine.aplay);
  const modified = build.engineSourcesModified === true ? ' + uncommitted engine changes' : '';
  console.log(`engine: commit ${build.commit}${modified}, addon sha256 ${build.addonSha256} built ${build.addonBuilt}`);
  console.log(`command: ${command}`);
  console.log('');
  const rows = reports.flatMap((report) => report.rows.map((row) => ({ bench: report.name, ...row })));
  console.log(formatTable(unionOfColumns(reports), rows));
  for (const report of reports) {
    console.log('');
    for (const note of report.notes) console.log(`${report.name}: ${note}`);
    console.log(`${report.name}: results saved to ${report.saved}`);
  }
}

main().catch((error) => {
  // A setup problem (aplay missing, a bad setting) is the user's to fix: the message says how.
  console.error(error.code === 'E_BENCH_SETUP' ? error.message : error);
  process.exitCode = 1;
});
