// `npm run bench`: measures every performance target of the design (§8) and
// prints one table: what was measured, the figure, the target, met or
// MISSED. Each bench's full record is saved as bench/out/<name>.json.
//
//   npm run bench                      all benches (about 11.5 minutes on 2 cores: 5 of them hostile's, 2.5 compressed's)
//   npm run bench -- latency cpu       only those
//   BENCH_MB=256 npm run bench -- throughput   a bench's own settings: see its file
//
// Progress goes to stderr, so that stdout is just the report.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { describeBuild } from './lib/build-info.mjs';
import { describeCommand, describeMachine } from './lib/machine.mjs';
import { setupError } from './lib/settings.mjs';
import { formatTable } from './lib/table.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.join(benchDir, 'out');

// The design's order (§8), which is also the table's.
const BENCHES = ['throughput', 'latency', 'cpu', 'ducking', 'sync', 'memory', 'upload-memory', 'compressed', 'startup', 'xruns', 'overload', 'hostile'];

const COLUMNS = [
  { key: 'bench', title: 'bench' },
  { key: 'measure', title: 'measure' },
  { key: 'figure', title: 'figure' },
  { key: 'target', title: 'target' },
  { key: 'result', title: 'result' },
];

/** The bench names among the arguments; flags (--name=value, --name value) belong to the benches. */
function selectedBenches(argv = process.argv.slice(2)) {
  const names = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) {
      if (!argv[i].includes('=')) i++;
      continue;
    }
    if (!BENCHES.includes(argv[i])) throw setupError(`unknown bench "${argv[i]}"; the benches are: ${BENCHES.join(', ')}`);
    names.push(argv[i]);
  }
  return names.length === 0 ? BENCHES : BENCHES.filter((name) => names.includes(name));
}

/** A bench file that is not in BENCHES would silently never run. */
function checkEveryBenchIsListed() {
  const self = path.basename(fileURLToPath(import.meta.url));
  const files = fs.readdirSync(benchDir).filter((file) => file.endsWith('.mjs') && file !== self);
  const unlisted = files.filter((file) => !BENCHES.includes(file.slice(0, -'.mjs'.length)));
  if (unlisted.length > 0) throw new Error(`bench/run.mjs does not list ${unlisted.join(', ')}: add to BENCHES`);
}

function saveRecord(benchName, record) {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${benchName}.json`);
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  return path.relative(process.cwd(), file);
}

const loadAverages = () => os.loadavg().map((load) => load.toFixed(2)).join(' ');

async function main() {
  checkEveryBenchIsListed();
  const selected = selectedBenches();
  const machine = describeMachine();
  const command = describeCommand();
  const build = describeBuild();
  const started = Date.now();
  const reports = [];
  for (const name of selected) {
    const bench = await import(pathToFileURL(path.join(benchDir, `${name}.mjs`)).href);
    const benchStarted = Date.now();
    console.error(`${name}: starting`);
    try {
      const report = await bench.run({ log: (line) => console.error(line) });
      const seconds = (Date.now() - benchStarted) / 1000;
      const saved = saveRecord(name, { bench: name, date: new Date().toISOString(), seconds, machine, build, command, loadAverageAfter: loadAverages(), ...report.json });
      reports.push({ name, saved, seconds, ...report });
    } catch (error) {
      // A setup problem (aplay missing, a bad setting) is the user's to fix: the message says how.
      if (error.code === 'E_BENCH_SETUP') throw error;
      console.error(error);
      process.exitCode = 1;
      reports.push({ name, seconds: (Date.now() - benchStarted) / 1000, rows: [{ measure: 'the bench failed', figure: error.message.split('\n')[0], result: 'FAILED' }], note: 'failed: see the error above the table' });
    }
    console.error(`${name}: done in ${((Date.now() - benchStarted) / 1000).toFixed(0)} s`);
  }

  const modified = build.engineSourcesModified === true ? ' + uncommitted changes in src/ or native/' : '';
  const stale = build.distStale ? '; WARNING: dist/ is older than src/ (npm run build)' : '';
  console.log(`machine: ${machine.cpu}, nproc ${machine.nproc}, node ${machine.node}, ${machine.kernel}`);
  console.log(`load average (1, 5, 15 min): ${machine.loadAverage} at start, ${loadAverages()} at end`);
  console.log(machine.aplay);
  console.log(`engine: commit ${build.commit}${modified}, addon sha256 ${build.addonSha256} built ${build.addonBuilt}${stale}`);
  console.log(`command: ${command}; ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log('');
  const rows = reports.flatMap((report) => report.rows.map((row) => ({ bench: report.name, ...row })));
  console.log(formatTable(COLUMNS, rows));
  console.log('');
  // One line per bench: how it measured.
  for (const report of reports) console.log(`${report.name}: ${report.note}`);
  const saved = reports.filter((report) => report.saved).map((report) => report.saved);
  if (saved.length > 0) console.log(`records: ${saved.join(', ')}`);
}

main().catch((error) => {
  console.error(error.code === 'E_BENCH_SETUP' ? error.message : error);
  process.exitCode = 1;
});
