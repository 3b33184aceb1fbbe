import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const cli = path.resolve(__dirname, '../../dist/cli.js');

function serveWith(env: Record<string, string>) {
  return spawnSync(process.execPath, [cli, 'serve'], { encoding: 'utf8', timeout: 10_000, env: { PATH: process.env.PATH ?? '', PORT: '0', ...env } });
}

t.test('every invalid variable exits 2 and names the variable', async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: 'http' }, 'PORT="http": must be a whole number from 0 to 65535'],
    [{ PORT: '70000' }, 'PORT="70000": must be a whole number from 0 to 65535'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ AUDIO_MODE: 'speaker' }, 'AUDIO_MODE="speaker": must be one of auto, device, headless'],
    [{ AUDIO_RATE: '44.1k' }, 'AUDIO_RATE="44.1k": must be a whole number from 8000 to 384000'],
    [{ AUDIO_CHANNELS: '0' }, 'AUDIO_CHANNELS="0": must be a whole number from 1 to 32'],
    [{ AUDIO_FORMAT: 'S8' }, 'AUDIO_FORMAT="S8": must be one of S16_LE, S24_LE, S24_3LE, S32_LE, FLOAT_LE'],
    [{ AUDIO_PERIOD_FRAMES: '8' }, 'AUDIO_PERIOD_FRAMES="8": must be a whole number from 16 to 1048576'],
    [{ AUDIO_PERIODS: '1' }, 'AUDIO_PERIODS="1": must be a whole number from 2 to 64'],
    [{ AUDIO_UNDERRUN: 'drop' }, 'AUDIO_UNDERRUN="drop": must be one of silence, wait'],
    [{ AUDIO_IDLE_MS: '-1' }, 'AUDIO_IDLE_MS="-1": must be a whole number from 0 to 86400000'],
    [{ AUDIO_OPEN_TIMEOUT_MS: '50' }, 'AUDIO_OPEN_TIMEOUT_MS="50": must be a whole number from 100 to 600000'],
    [{ AUDIO_REOPEN_MIN_MS: 'soon' }, 'AUDIO_REOPEN_MIN_MS="soon": must be a whole number from 10 to 600000'],
    [{ AUDIO_REOPEN_MAX_MS: '0' }, 'AUDIO_REOPEN_MAX_MS="0": must be a whole number from 10 to 3600000'],
    [{ AUDIO_REOPEN_MIN_MS: '5000', AUDIO_REOPEN_MAX_MS: '1000' }, 'AUDIO_REOPEN_MAX_MS="1000": must not be below AUDIO_REOPEN_MIN_MS=5000'],
    [{ AUDIO_ALSA_CONFIG: '/nonexistent/asound.conf' }, "AUDIO_ALSA_CONFIG=\"/nonexistent/asound.conf\": cannot read the file: ENOENT: no such file or directory, open '/nonexistent/asound.conf'"],
    [{ AUDIO_LOST_RESTART_S: '-1' }, 'AUDIO_LOST_RESTART_S="-1": must be a whole number from 0 to 86400'],
    [{ MAX_STREAMS: '0' }, 'MAX_STREAMS="0": must be a whole number from 1 to 64'],
    [{ MAX_STREAM_SECONDS: 'forever' }, 'MAX_STREAM_SECONDS="forever": must be a whole number from 1 to 604800'],
    [{ STREAM_IDLE_TIMEOUT_MS: '5' }, 'STREAM_IDLE_TIMEOUT_MS="5": must be a whole number from 100 to 3600000'],
    [{ SHUTDOWN_GRACE_MS: '1e4' }, 'SHUTDOWN_GRACE_MS="1e4": must be a whole number from 0 to 3600000'],
  ];
  for (const [env, message] of cases) {
    const result = serveWith(env);
    t.equal(result.status, 2, `${Object.keys(env)[0]} exits 2`);
    t.equal(result.stderr, `speakerd: invalid configuration: ${message}\n`);
  }
});

t.test('speakerd --help describes the commands and the variables', async (t) => {
  const result = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
  t.equal(result.status, 0);
  t.match(result.stdout, /^Usage: speakerd \[serve\|tone\] \[options\]/);
  for (const variable of ['AUDIO_MODE', 'AUDIO_ALSA_CONFIG', 'MAX_STREAMS', 'AUTH_TOKEN', 'SHUTDOWN_GRACE_MS']) t.match(result.stdout, variable);
});

t.test('an unknown command exits 2 with the usage', async (t) => {
  const result = spawnSync(process.execPath, [cli, 'dance'], { encoding: 'utf8' });
  t.equal(result.status, 2);
  t.match(result.stderr, /^speakerd: unknown command "dance"\n\nUsage:/);
});
