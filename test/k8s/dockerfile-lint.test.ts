// The Dockerfile lints clean with dockerfile-utils (hadolint is not packaged
// for this machine), offline and in milliseconds, before the slow image test.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { scratchDir } from '../pcm-fixtures';
import { root } from './fixtures/oci-bundle';

const lint = (file: string) =>
  spawnSync(process.execPath, [require.resolve('dockerfile-utils/bin/dockerfile-utils'), 'lint', '--json', file], { encoding: 'utf8' });

t.test('the Dockerfile has no lint problem', async (t) => {
  const result = lint(path.join(root, 'Dockerfile'));
  t.equal(result.status, 0, result.stdout);
  t.same(JSON.parse(result.stdout || '[]'), []);
});

t.test('the linter does catch a broken Dockerfile', async (t) => {
  const file = path.join(scratchDir(t), 'Dockerfile');
  writeFileSync(file, 'FROM node:24-bookworm-slim\nRUNN npm ci\nHEALTHCHECK --interval=10x CMD true\n');
  const result = lint(file);
  t.equal(result.status, 1);
  const problems = JSON.parse(result.stdout) as { message: string }[];
  t.match(problems.map((p) => p.message), ['Unknown instruction: RUNN', 'time: unknown unit x in duration 10x']);
});
