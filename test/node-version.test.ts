// The suite runs on the Node found on PATH: the machine's Node 20 under
// `npm test`, the image's Node 24 under `npm run test:node24`, which puts it
// first on PATH. This proves the second run really used Node 24.
import t from 'tap';
import { execFileSync } from 'node:child_process';

t.test('test files run on the node found on PATH', async (t) => {
  t.comment(`node ${process.version}, Node-API ${process.versions.napi}`);
  t.equal(process.version, execFileSync('node', ['--version'], { encoding: 'utf8' }).trim());
  if (process.env.SPEAKERD_TEST_NODE) t.equal(process.version, process.env.SPEAKERD_TEST_NODE, 'the version scripts/test-node24.sh asked for');
});
