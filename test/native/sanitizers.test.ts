// Runs scripts/check-native.sh, which builds the native engine's stress test
// and harness with AddressSanitizer, UndefinedBehaviorSanitizer,
// LeakSanitizer and ThreadSanitizer (and runs the harness under valgrind)
// and fuzzes each compressed-audio decoder with corrupted files under
// AddressSanitizer and valgrind; checks that every check reported zero
// errors, and that the fuzz met the bar.
import t from 'tap';
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

// The decoder fuzz took the script past tap's default 120 s (2-3 minutes on
// two cores); the stage's own limit in scripts/test-stages.sh is 900 s.
t.setTimeout(900_000);

interface CheckLine {
  verdict: 'PASS' | 'FAIL' | 'SKIP';
  name: string;
  errors: number;
  line: string;
}

function runScript(): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(root, 'scripts', 'check-native.sh')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, output }));
  });
}

function parseChecks(output: string): CheckLine[] {
  const checks: CheckLine[] = [];
  for (const line of output.split('\n')) {
    const m = /^check-native: (PASS|FAIL|SKIP) (\S+) errors=(\d+)/.exec(line);
    if (m) checks.push({ verdict: m[1] as CheckLine['verdict'], name: m[2]!, errors: Number(m[3]), line });
  }
  return checks;
}

t.test('native engine passes every sanitizer check', async (t) => {
  const { code, signal, output } = await runScript();
  const checks = parseChecks(output);
  for (const check of checks) t.comment(check.line);

  t.equal(signal, null, 'check-native.sh was not killed');
  t.equal(code, 0, 'check-native.sh exits 0', { output });

  // Each check must have run (the ring stress with several seeds), passed,
  // and reported no sanitizer errors. scripts/setup.sh installs valgrind.
  const required: Array<[name: string, minRuns: number]> = [
    ['build', 1],
    ['ring-stress-tsan', 3],
    ['ring-stress-asan', 1],
    ['decode-slots-tsan', 2],
    ['engine-asan-ubsan', 1],
    ['engine-tsan', 1],
    ['engine-valgrind', 1],
    ['fuzz-seeds', 1],
    ['decoder-fuzz-asan-ubsan', 5],
    ['decoder-fuzz-valgrind', 5],
  ];
  for (const [name, minRuns] of required) {
    const runs = checks.filter((c) => c.name === name);
    t.ok(runs.length >= minRuns, `${name}: ${runs.length} run(s), want at least ${minRuns}`);
    for (const run of runs) {
      t.equal(run.verdict, 'PASS', `${name}: ${run.verdict}`, { line: run.line });
      t.equal(run.errors, 0, `${name}: zero errors`, { line: run.line });
    }
  }

  // The bar for each decoder: at least 10,000 corrupted files, none
  // taking a second or more. valgrind's runs are smaller and slower by design.
  const codecs = ['flac', 'opus', 'vorbis', 'mp3', 'webm'];
  for (const codec of codecs) {
    const run = checks.find((c) => c.name === 'decoder-fuzz-asan-ubsan' && c.line.includes(` codec=${codec} `));
    const files = Number(/ files=(\d+)/.exec(run?.line ?? '')?.[1] ?? NaN);
    const maxMs = Number(/ max_ms=([\d.]+)/.exec(run?.line ?? '')?.[1] ?? NaN);
    t.ok(files >= 10000, `${codec}: ${files} corrupted files decoded, want at least 10000`, { line: run?.line });
    t.ok(maxMs < 1000, `${codec}: the slowest file took ${maxMs} ms, want under 1000`, { line: run?.line });
  }

  const failing = checks.filter((c) => c.verdict === 'FAIL' || c.errors !== 0).map((c) => c.line);
  t.same(failing, [], 'no check failed');
  t.match(output, /^check-native: total: \d+ passed, 0 failed, 0 skipped/m, 'the total shows no failure');
});
